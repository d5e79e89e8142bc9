package test

// Partition reassignment (KIP-455) across three real samsa server
// processes: a partition with two replicas is moved off its leader onto the
// third broker while an idempotent producer writes with acks=all; every
// acknowledged record stays readable, the replicas and the ISR end as
// requested with the leadership moved, and the dropped broker deletes its
// copy. The copy runs under leader.replication.throttled.rate.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/test/harness"
)

// reassignOn starts a move of one partition through node with
// `samsa partition reassign` and fails the test unless it is accepted.
func reassignOn(t *testing.T, node *harness.ClusterNode, topic string, partition int32, target []int32) {
	t.Helper()
	ids := make([]string, len(target))
	for i, id := range target {
		ids[i] = strconv.Itoa(int(id))
	}
	var results []struct {
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		Replicas  []int32 `json:"replicas"`
		Error     string  `json:"error"`
	}
	cliJSON(t, node.Bootstrap(), &results, "partition", "reassign", "-o", "json",
		"--topic", topic, "--partition", strconv.Itoa(int(partition)), "--replicas", strings.Join(ids, ","))
	if len(results) != 1 || results[0].Error != "" || !slices.Equal(results[0].Replicas, target) {
		t.Fatalf("samsa partition reassign %s-%d to %v: %+v", topic, partition, target, results)
	}
}

// reassignment is a move in progress as `samsa partition reassignments
// -o json` prints it.
type reassignment struct {
	Topic            string  `json:"topic"`
	Partition        int32   `json:"partition"`
	Replicas         []int32 `json:"replicas"`
	AddingReplicas   []int32 `json:"adding_replicas"`
	RemovingReplicas []int32 `json:"removing_replicas"`
}

// reassignmentsOn lists the reassignments in progress through node with
// `samsa partition reassignments`.
func reassignmentsOn(t *testing.T, node *harness.ClusterNode) []reassignment {
	t.Helper()
	var out []reassignment
	cliJSON(t, node.Bootstrap(), &out, "partition", "reassignments", "-o", "json")
	return out
}

// partitionDirs returns the directories of topic's partition under a
// node's data directory.
func partitionDirs(node *harness.ClusterNode, topic string, partition int32) []string {
	dirs, _ := filepath.Glob(filepath.Join(node.DataDir(), "*", fmt.Sprintf("%s-%d", topic, partition)))
	return dirs
}

// TestReassignmentMovesReplicaUnderAcksAll moves one replica of a
// two-replica partition, the leader's, to the third broker while records
// are produced with acks=all (KIP-455: the target joins the ISR, then the
// controller switches the replicas and the leadership). Checks: the move
// is listed while it runs; afterwards every node reports the target
// replicas and ISR with a target replica leading; every record
// acknowledged before, during and after the move is readable; the dropped
// broker's partition directory is gone; and the throttle (512 KiB/s for
// ~3 MiB to copy) kept the move from finishing at once.
func TestReassignmentMovesReplicaUnderAcksAll(t *testing.T) {
	const rate = 512 << 10
	c := harness.StartCluster(t, 3, harness.WithNodeConfig("leader.replication.throttled.rate", strconv.Itoa(rate)))
	adm := newAdmin(t, c.Node(1).Bootstrap())
	const topic = "moving"
	if _, err := adm.CreateTopic(testCtx(t), 1, 2, nil, topic); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	waitTopicReady(t, adm, topic, 1)
	waitTopicOnAll(t, []*harness.ClusterNode{c.Node(1)}, topic, 1) // the admin client may have asked another node
	td, err := topicOn(t, c.Node(1), topic)
	if err != nil {
		t.Fatal(err)
	}
	replicas, leader := td.Partitions[0].Replicas, td.Partitions[0].Leader
	eventually(t, 30*time.Second, "both replicas in the ISR", func() error {
		td, err := topicOn(t, c.Node(1), topic)
		if err != nil {
			return err
		}
		if len(td.Partitions[0].ISR) != 2 {
			return fmt.Errorf("ISR %v", td.Partitions[0].ISR)
		}
		return nil
	})
	var newcomer, follower int32
	for _, nd := range c.Nodes() {
		switch {
		case !slices.Contains(replicas, nd.ID()):
			newcomer = nd.ID()
		case nd.ID() != leader:
			follower = nd.ID()
		}
	}
	target := []int32{newcomer, follower}
	t.Logf("replicas %v, leader %d: moving to %v", replicas, leader, target)

	var seeds []string
	for _, nd := range c.Nodes() {
		seeds = append(seeds, nd.Bootstrap())
	}
	cl := newKgo(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(60*time.Second), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // the preload's size is what the throttle sees
	acked := newAckLog(cl)
	// About 3 MiB for the newcomer to copy before it can join the ISR.
	pad := strings.Repeat("x", 1500)
	const preload = 2000
	for i := range preload {
		acked.produce(fmt.Sprintf("pre-%d-%s", i, pad))
	}
	acked.wait()
	if acked.count() != preload {
		t.Fatalf("%d of %d preloaded records acknowledged", acked.count(), preload)
	}

	stop := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			acked.produce("during-" + strconv.Itoa(i))
		}
	}()

	start := time.Now()
	reassignOn(t, c.Node(follower), topic, 0, target)
	if l := reassignmentsOn(t, c.Node(newcomer)); len(l) != 1 || !slices.Equal(l[0].AddingReplicas, []int32{newcomer}) ||
		!slices.Equal(l[0].RemovingReplicas, []int32{leader}) {
		t.Fatalf("reassignments in progress: %+v", l)
	}
	wantISR := slices.Clone(target)
	slices.Sort(wantISR)
	for _, nd := range c.Nodes() {
		eventually(t, 60*time.Second, fmt.Sprintf("node %d to report replicas %v", nd.ID(), target), func() error {
			td, err := topicOn(t, nd, topic)
			if err != nil {
				return err
			}
			p := td.Partitions[0]
			isr := slices.Clone(p.ISR)
			slices.Sort(isr)
			if !slices.Equal(p.Replicas, target) || !slices.Equal(isr, wantISR) || p.Leader != newcomer {
				return fmt.Errorf("replicas %v, ISR %v, leader %d", p.Replicas, p.ISR, p.Leader)
			}
			return nil
		})
	}
	took := time.Since(start)
	t.Logf("%v: moved; replicas %v, leader %d", took, target, newcomer)
	if l := reassignmentsOn(t, c.Node(leader)); len(l) != 0 {
		t.Fatalf("reassignments still listed after completion: %+v", l)
	}
	// The throttle holds one second of the rate and lets a read overshoot
	// it (up to replica.fetch.max.bytes, 1 MiB): the ~3 MiB take about
	// three seconds, and at the very least one and a half.
	if took < 1500*time.Millisecond {
		t.Errorf("the move took %v: leader.replication.throttled.rate=%d did not hold it back", took, rate)
	}

	// Some more records acknowledged by the new leader, then stop.
	atMove := acked.count()
	eventually(t, 30*time.Second, "records acknowledged after the move", func() error {
		if n := acked.count() - atMove; n < 20 {
			return fmt.Errorf("%d acknowledged since", n)
		}
		return nil
	})
	close(stop)
	<-producerDone
	acked.wait()
	during := acked.count() - preload
	if during < 10 {
		t.Fatalf("only %d records acknowledged during the move", during)
	}

	waitEndOffsets(t, c.Node(newcomer).Bootstrap(), topic, int64(acked.count()))
	seen := readCounts(t, c.Node(newcomer).Bootstrap(), topic)
	expectOnce(t, seen, acked.values(), "acknowledged record (moved)")
	for v, n := range seen {
		if n > 1 {
			t.Errorf("record %.20s… read %d times", v, n)
		}
	}
	t.Logf("%d records acknowledged (%d during the move), %d read back", acked.count(), during, len(seen))

	eventually(t, 30*time.Second, fmt.Sprintf("node %d to delete its copy", leader), func() error {
		if dirs := partitionDirs(c.Node(leader), topic, 0); len(dirs) > 0 {
			return fmt.Errorf("still on disk: %v", dirs)
		}
		return nil
	})
	if dirs := partitionDirs(c.Node(newcomer), topic, 0); len(dirs) != 1 {
		t.Fatalf("node %d (new replica) holds %v", newcomer, dirs)
	} else if _, err := os.Stat(dirs[0]); err != nil {
		t.Fatal(err)
	}
}

// TestReassignmentFollowerThrottle: follower.replication.throttled.rate on
// the receiving broker holds a move back as the leader-side rate does,
// while the replicas already in sync replicate unthrottled: about 3 MiB
// written with acks=all to a partition on brokers 1 and 2, then broker 3
// added at 512 KiB/s.
func TestReassignmentFollowerThrottle(t *testing.T) {
	const rate = 512 << 10
	c := harness.StartCluster(t, 3, harness.WithNodeConfig("follower.replication.throttled.rate", strconv.Itoa(rate)))
	const topic = "followed"
	createAssigned(t, newKgo(t, c.Node(1).Bootstrap()), topic, []int32{1, 2}, nil)
	waitTopicOnAll(t, c.Nodes(), topic, 1)
	waitISR(t, c.Node(1), topic, []int32{1, 2}, 30*time.Second)
	cl := newKgo(t, c.Node(1).Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	pad := strings.Repeat("x", 1500)
	const preload = 2000
	start := time.Now()
	var recs []*kgo.Record
	for i := range preload {
		recs = append(recs, kgo.StringRecord(fmt.Sprintf("pre-%d-%s", i, pad)))
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// In-sync followers are not throttled: 3 MiB at 512 KiB/s would take
	// six seconds.
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("acks=all preload took %v: the in-sync follower was throttled", took)
	}

	start = time.Now()
	reassignOn(t, c.Node(1), topic, 0, []int32{1, 2, 3})
	waitISR(t, c.Node(1), topic, []int32{1, 2, 3}, 60*time.Second)
	took := time.Since(start)
	t.Logf("broker 3 in sync after %v", took)
	// As for the leader side: one second of the rate may go at once, and
	// a fetch may overshoot by replica.fetch.max.bytes (1 MiB).
	if took < 1500*time.Millisecond {
		t.Errorf("the move took %v: follower.replication.throttled.rate=%d did not hold it back", took, rate)
	}
	if got := len(readCounts(t, c.Node(3).Bootstrap(), topic)); got != preload {
		t.Errorf("read %d records after the move, want %d", got, preload)
	}
}
