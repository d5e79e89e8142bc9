package test

// min.insync.replicas with two of three replicas down, against three real
// samsa server processes.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/test/harness"
)

// minInsyncResumeBudget bounds how long after the two replicas are back
// acks=all writes may take to be acknowledged again.
const minInsyncResumeBudget = 30 * time.Second

// TestMinInsyncTwoOfThreeReplicasDown: a topic with three replicas and
// min.insync.replicas=2 on three nodes; with both followers of its leader
// down (one killed with kill -9, one stopped with SIGSTOP), an acks=all
// Produce times out (REQUEST_TIMED_OUT: two of three combined nodes down
// take the controller quorum with them, so the ISR cannot shrink) and no
// write is acknowledged; the records an idempotent producer sends
// meanwhile are acknowledged only after the replicas are back, writes
// resume, and every acknowledged record is readable, once.
func TestMinInsyncTwoOfThreeReplicasDown(t *testing.T) {
	testMinInsyncTwoReplicasDown(t, 3)
}

// TestMinInsyncTwoOfThreeReplicasDownFiveNodes is the same on five nodes:
// the controller quorum survives the two replicas, fences them and
// shrinks the ISR to the leader alone, so acks=all is refused at once
// with NOT_ENOUGH_REPLICAS.
func TestMinInsyncTwoOfThreeReplicasDownFiveNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("five server processes; skipped with -short")
	}
	testMinInsyncTwoReplicasDown(t, 5)
}

func testMinInsyncTwoReplicasDown(t *testing.T, nodes int) {
	c := harness.StartCluster(t, nodes)
	adm := newAdmin(t, c.Node(1).Bootstrap())
	const topic = "min-insync"
	createReplicatedTopic(t, adm, topic, 1, map[string]*string{"min.insync.replicas": strp("2")})
	var replicas []int32
	eventually(t, 30*time.Second, "three replicas in the ISR of "+topic, func() error {
		td, err := topicOn(t, c.Node(1), topic)
		if err != nil {
			return err
		}
		p := td.Partitions[0]
		if p.Leader < 0 || len(p.ISR) != 3 {
			return fmt.Errorf("leader %d, ISR %v", p.Leader, p.ISR)
		}
		replicas = slices.Clone(p.Replicas)
		return nil
	})
	leader := leaderOf(t, c.Node(1), topic, 0)
	var followers []*harness.ClusterNode
	for _, r := range replicas {
		if r != leader {
			followers = append(followers, c.Node(r))
		}
	}
	var seeds []string
	for _, n := range c.Nodes() {
		seeds = append(seeds, n.Bootstrap())
	}
	prod := newKgo(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(90*time.Second), kgo.RetryTimeout(90*time.Second))

	var mu sync.Mutex
	acked := map[string]time.Time{} // value -> when acknowledged
	var failed []string
	var wg sync.WaitGroup
	produce := func(v string) {
		wg.Add(1)
		prod.Produce(context.Background(), kgo.StringRecord(v), func(_ *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", v, err))
				return
			}
			acked[v] = time.Now()
		})
	}
	for i := range 50 {
		v := "before-" + strconv.Itoa(i)
		if err := prod.ProduceSync(testCtx(t), kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %s with every replica up: %v", v, err)
		}
		acked[v] = time.Now()
	}

	// Two of three replicas down.
	t.Logf("leader %d; kill -9 of node %d, SIGSTOP of node %d", leader, followers[0].ID(), followers[1].ID())
	followers[0].Kill()
	followers[1].Pause()

	// The idempotent producer keeps sending; nothing may be acknowledged
	// until the replicas are back.
	stopDuring := make(chan struct{})
	var duringWG sync.WaitGroup
	duringWG.Add(1)
	go func() {
		defer duringWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stopDuring:
				return
			case <-time.After(50 * time.Millisecond):
			}
			produce("during-" + strconv.Itoa(i))
		}
	}()

	// Raw acks=all Produce requests to the leader, with a 3 s timeout,
	// are refused: they time out, or, where the quorum survives, once the
	// ISR has shrunk to the leader alone, NOT_ENOUGH_REPLICAS at once.
	want := map[int16]bool{kerr.NotEnoughReplicas.Code: true, kerr.NotEnoughReplicasAfterAppend.Code: true, kerr.RequestTimedOut.Code: true}
	if nodes > 3 {
		waitISR(t, c.Node(leader), topic, []int32{leader}, 30*time.Second)
		want = map[int16]bool{kerr.NotEnoughReplicas.Code: true}
	}
	rc := dialRaw(t, c.Node(leader).Bootstrap())
	refusals := map[string]int{}
	for i := range 3 {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks = -1
		req.TimeoutMillis = 3000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = plainBatch("raw-" + strconv.Itoa(i))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		resp, err := rc.roundTrip(req)
		if err != nil {
			t.Fatalf("acks=all Produce with two of three replicas down: %v", err)
		}
		pr := resp.(*kmsg.ProduceResponse)
		if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
			t.Fatalf("Produce answer with %d topics", len(pr.Topics))
		}
		code := pr.Topics[0].Partitions[0].ErrorCode
		switch {
		case code == 0:
			t.Errorf("acks=all Produce %d acknowledged (offset %d) with two of three replicas down and min.insync.replicas=2",
				i, pr.Topics[0].Partitions[0].BaseOffset)
		case want[code]:
			refusals[errName(code)]++
		default:
			var names []string
			for w := range want {
				names = append(names, errName(w))
			}
			slices.Sort(names)
			t.Errorf("acks=all Produce %d with two of three replicas down: %s, want one of %v", i, errName(code), names)
		}
		t.Logf("raw acks=all Produce %d: %s after %v", i, errName(code), time.Since(start).Round(time.Millisecond))
	}
	time.Sleep(2 * time.Second)

	// Back: the stopped one resumes, the killed one restarts.
	back := time.Now()
	followers[1].Resume()
	followers[0].Restart()
	close(stopDuring)
	duringWG.Wait()
	mu.Lock()
	var early []string
	during := 0
	for v, at := range acked {
		if strings.HasPrefix(v, "during-") {
			during++
			if at.Before(back) {
				early = append(early, v)
			}
		}
	}
	mu.Unlock()
	if len(early) > 0 {
		slices.Sort(early)
		t.Errorf("%d writes acknowledged while two of three replicas were down: %v", len(early), early)
	}

	// Writes resume.
	for i := range 50 {
		v := "after-" + strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), minInsyncResumeBudget)
		err := prod.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr()
		cancel()
		if err != nil {
			t.Fatalf("acks=all produce %s after the replicas are back: %v", v, err)
		}
		mu.Lock()
		acked[v] = time.Now()
		mu.Unlock()
		if i == 0 {
			t.Logf("first acks=all write after the replicas are back acknowledged after %v", time.Since(back).Round(time.Millisecond))
		}
	}
	wg.Wait() // every during- record answered
	waitISR(t, c.Node(leader), topic, sortedIDs(replicas), 60*time.Second)

	// Every acknowledged record is there, once; the refused raw ones may
	// or may not be (a refused write can still be committed later).
	seen := map[string]int{}
	for _, v := range consumeAllAvailable(t, followers[0].Bootstrap(), topic) {
		seen[v]++
	}
	mu.Lock()
	defer mu.Unlock()
	for v := range acked {
		switch n := seen[v]; {
		case n == 0:
			t.Errorf("acknowledged record %s lost", v)
		case n > 1:
			t.Errorf("acknowledged record %s stored %d times", v, n)
		}
	}
	t.Logf("raw refusals %v; %d during- records acknowledged after the replicas came back, %d failed (%v...); %d records in the log",
		refusals, during, len(failed), failed[:min(len(failed), 3)], len(seen))
}

func sortedIDs(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
