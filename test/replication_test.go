package test

// Partition replication across three real samsa server processes:
// followers copy the leader's log, the ISR follows them, acks=all waits for
// every in-sync replica, and a kill -9 of a leader loses no acknowledged
// record and duplicates none (idempotent producer retrying against the new
// leader).

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/test/harness"
)

// waitISR waits until every partition of topic has a leader and an ISR
// equal to want (sorted), as node's own Metadata reports it.
func waitISR(t testing.TB, node *harness.ClusterNode, topic string, want []int32, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("ISR %v for %s on node %d", want, topic, node.ID()), func() error {
		td, err := topicOn(t, node, topic)
		if err != nil {
			return err
		}
		if len(td.Partitions) == 0 {
			return fmt.Errorf("no partitions")
		}
		for _, p := range td.Partitions {
			isr := slices.Clone(p.ISR)
			slices.Sort(isr)
			if p.Leader < 0 || !slices.Equal(isr, want) {
				return fmt.Errorf("partition %d: leader %d, ISR %v", p.Partition, p.Leader, p.ISR)
			}
		}
		return nil
	})
}

// leaderOf returns the leader of a partition of topic as node reports it
// (-1: none), waiting until node's metadata has the topic: a node that
// follows the metadata log learns a new topic a moment after the one the
// test asked.
func leaderOf(t *testing.T, node *harness.ClusterNode, topic string, partition int32) int32 {
	t.Helper()
	leader := int32(-1)
	eventually(t, 30*time.Second, fmt.Sprintf("%s-%d in node %d's metadata", topic, partition, node.ID()), func() error {
		td, err := topicOn(t, node, topic)
		if err != nil {
			return err
		}
		for _, p := range td.Partitions {
			if p.Partition == partition {
				leader = p.Leader
				return nil
			}
		}
		return fmt.Errorf("%s has no partition %d", topic, partition)
	})
	return leader
}

// createReplicatedTopic creates topic with replication factor 3.
func createReplicatedTopic(t testing.TB, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(testCtx(t), partitions, 3, configs, topic)
	if err != nil {
		t.Fatalf("CreateTopics %s with replication factor 3: %v %s", topic, err, resp.ErrMessage)
	}
	waitTopicReady(t, adm, topic, partitions)
	// Every broker learns the topic from the metadata log, some a moment
	// after the one that answered above: wait for all of them, so that a
	// client seeded with any node finds it.
	brokers, err := adm.ListBrokers(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range brokers {
		addr := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		eventually(t, 30*time.Second, fmt.Sprintf("topic %s on broker %d", topic, b.NodeID), func() error {
			cl := protocol.NewClient(addr, "samsa-replication-test")
			defer cl.Close()
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			req.Topics = append(req.Topics, rt)
			resp, err := cl.Request(testCtx(t), req)
			if err != nil {
				return err
			}
			r := resp.(*kmsg.MetadataResponse)
			if len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 || len(r.Topics[0].Partitions) != int(partitions) {
				return fmt.Errorf("broker %d does not list %s with %d partitions yet", b.NodeID, topic, partitions)
			}
			return nil
		})
	}
}

// consumeN reads every partition of topic from the start until count
// records arrived, and returns the values.
func consumeN(t *testing.T, bootstrap, topic string, count int) []string {
	t.Helper()
	cl := newKgo(t, bootstrap, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var values []string
	for len(values) < count {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s before the deadline", len(values), count, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	return values
}

// TestReplicationFollowersJoinISR creates a topic with three replicas and
// checks that followers copy the log: every partition's ISR is all three
// brokers, acks=all produces are answered, and every replica holds the
// records (read back from each node after the others are stopped... here:
// from the leader, and after a leader kill, from a new one).
func TestReplicationFollowersJoinISR(t *testing.T) {
	c := harness.StartCluster(t, 3)
	adm := newAdmin(t, c.Node(1).Bootstrap())
	createReplicatedTopic(t, adm, "rep", 3, map[string]*string{"min.insync.replicas": strp("2")})
	start := time.Now()
	waitISR(t, c.Node(1), "rep", []int32{1, 2, 3}, 30*time.Second)
	t.Logf("%v: ISR complete", time.Since(start))

	cl := newKgo(t, c.Node(2).Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"))
	const n = 60
	for i := range n {
		if err := cl.ProduceSync(testCtx(t), kgo.StringRecord("v"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %d: %v", i, err)
		}
	}
	got := consumeN(t, c.Node(3).Bootstrap(), "rep", n)
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}

	// Kill the leader of partition 0: a follower in the ISR takes over
	// with every acknowledged record, and the ISR shrinks to the two
	// survivors.
	t.Logf("%v: %d records produced with acks=all and read back", time.Since(start), n)
	victim := leaderOf(t, c.Node(1), "rep", 0)
	c.Node(victim).Kill()
	survivors := c.Others(victim)
	var want []int32
	for _, s := range survivors {
		want = append(want, s.ID())
	}
	slices.Sort(want)
	waitISR(t, survivors[0], "rep", want, 30*time.Second)
	t.Logf("%v: ISR shrunk to %v after the kill", time.Since(start), want)
	got = consumeN(t, survivors[0].Bootstrap(), "rep", n)
	slices.Sort(got)
	for i := range n {
		if _, ok := slices.BinarySearch(got, "v"+strconv.Itoa(i)); !ok {
			t.Errorf("acknowledged record v%d is missing after the leader was killed", i)
		}
	}

	// The restarted broker catches up and rejoins every ISR.
	c.Node(victim).Restart()
	t.Logf("%v: restarted", time.Since(start))
	waitISR(t, survivors[0], "rep", []int32{1, 2, 3}, 60*time.Second)
	t.Logf("%v: ISR back to all three", time.Since(start))
}

// TestReplicationNoAckedWriteLostOnLeaderKill produces with acks=all and an
// idempotent producer while the leader of the partitions is killed with
// kill -9, then reads everything back from the survivors: every
// acknowledged record is there exactly once.
func TestReplicationNoAckedWriteLostOnLeaderKill(t *testing.T) {
	c := harness.StartCluster(t, 3)
	adm := newAdmin(t, c.Node(1).Bootstrap())
	createReplicatedTopic(t, adm, "durable", 2, map[string]*string{"min.insync.replicas": strp("2")})
	waitISR(t, c.Node(1), "durable", []int32{1, 2, 3}, 30*time.Second)
	victim := leaderOf(t, c.Node(1), "durable", 0)
	var seeds []string
	for _, s := range c.Others(victim) {
		seeds = append(seeds, s.Bootstrap())
	}
	// The producer knows every node but is seeded so that it can always
	// reach the cluster after the kill.
	cl := newKgo(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("durable"), kgo.RecordDeliveryTimeout(60*time.Second),
		kgo.ProducerLinger(0))

	acked := newAckLog(cl)
	const total = 600
	killAt := total / 3
	for i := range total {
		if i == killAt {
			// Let what is in flight land, then kill the leader mid-stream.
			c.Node(victim).Kill()
		}
		acked.produce("r" + strconv.Itoa(i))
		if i%20 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	acked.wait()
	if acked.count() < total/2 {
		t.Fatalf("only %d of %d records acknowledged", acked.count(), total)
	}
	// Read everything the survivors have: every acknowledged record is
	// there, and no record twice.
	waitEndOffsets(t, seeds[0], "durable", int64(acked.count()))
	seen := readCounts(t, seeds[0], "durable")
	expectOnce(t, seen, acked.values(), "acknowledged record")
	for v, k := range seen {
		if k > 1 {
			t.Errorf("record %s read %d times (idempotent producer)", v, k)
		}
	}
	t.Logf("%d records acknowledged of %d, %d read back after kill -9 of leader %d", acked.count(), total, len(seen), victim)
}

// ackLog produces records asynchronously and keeps the values the
// cluster acknowledged.
type ackLog struct {
	cl *kgo.Client
	wg sync.WaitGroup
	mu sync.Mutex
	ok map[string]bool
}

func newAckLog(cl *kgo.Client) *ackLog { return &ackLog{cl: cl, ok: map[string]bool{}} }

// produce sends v to the client's default topic.
func (a *ackLog) produce(v string) {
	a.wg.Add(1)
	a.cl.Produce(context.Background(), kgo.StringRecord(v), func(_ *kgo.Record, err error) {
		defer a.wg.Done()
		if err == nil {
			a.mu.Lock()
			a.ok[v] = true
			a.mu.Unlock()
		}
	})
}

// wait returns once every record produced so far is acknowledged or failed.
func (a *ackLog) wait() { a.wg.Wait() }

// count is how many records were acknowledged so far.
func (a *ackLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ok)
}

// values are the acknowledged values, in no order.
func (a *ackLog) values() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Collect(maps.Keys(a.ok))
}

// readCounts reads topic from the start up to its end offsets at the time
// of the call (consumeAllAvailable) and counts each value.
func readCounts(t *testing.T, bootstrap, topic string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, v := range consumeAllAvailable(t, bootstrap, topic) {
		seen[v]++
	}
	return seen
}

// expectOnce fails the test for every value of want that seen does not
// hold exactly once.
func expectOnce(t *testing.T, seen map[string]int, want []string, what string) {
	t.Helper()
	for _, v := range want {
		if seen[v] != 1 {
			t.Errorf("%s %.40s read %d times, want once", what, v, seen[v])
		}
	}
}

// waitEndOffsets waits until the end offsets (high watermarks) of topic's
// partitions add up to at least total.
func waitEndOffsets(t *testing.T, bootstrap, topic string, total int64) {
	t.Helper()
	adm := newAdmin(t, bootstrap)
	eventually(t, 30*time.Second, fmt.Sprintf("end offsets of %s to reach %d", topic, total), func() error {
		ends, err := adm.ListEndOffsets(testCtx(t), topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return err
		}
		var sum int64
		ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
		if sum < total {
			return fmt.Errorf("they add up to %d", sum)
		}
		return nil
	})
}

// consumeAllAvailable reads topic from the start up to the high watermark
// of every partition at the time of the call.
func consumeAllAvailable(t *testing.T, bootstrap, topic string) []string {
	t.Helper()
	adm := newAdmin(t, bootstrap)
	var ends kadm.ListedOffsets
	eventually(t, 30*time.Second, "end offsets of "+topic, func() error {
		var err error
		ends, err = adm.ListEndOffsets(testCtx(t), topic)
		if err == nil {
			err = ends.Error()
		}
		return err
	})
	total := 0
	ends.Each(func(o kadm.ListedOffset) { total += int(o.Offset) })
	return consumeN(t, bootstrap, topic, total)
}

// TestReplicationLaggingFollowerLeavesAndRejoinsISR pauses a follower
// (SIGSTOP) for longer than replica.lag.time.max.ms: the leader shrinks it
// out of the ISR through AlterPartition and acks=all produces go on with
// the two others (min.insync.replicas=2); with both followers paused,
// acks=all is refused with NOT_ENOUGH_REPLICAS while acks=1 still works.
// Resumed, the followers catch up and rejoin the ISR.
func TestReplicationLaggingFollowerLeavesAndRejoinsISR(t *testing.T) {
	c := harness.StartCluster(t, 3, harness.WithNodeConfig("replica.lag.time.max.ms", "2000"))
	adm := newAdmin(t, c.Node(1).Bootstrap())
	createReplicatedTopic(t, adm, "lag", 1, map[string]*string{"min.insync.replicas": strp("2")})
	waitISR(t, c.Node(1), "lag", []int32{1, 2, 3}, 30*time.Second)
	leader := leaderOf(t, c.Node(1), "lag", 0)
	followers := c.Others(leader)
	cl := newKgo(t, c.Node(leader).Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("lag"), kgo.RecordDeliveryTimeout(30*time.Second))
	produce := func(v string) error {
		return cl.ProduceSync(testCtx(t), kgo.StringRecord(v)).FirstErr()
	}

	followers[0].Pause()
	paused := followers[0].ID()
	t.Cleanup(followers[0].Resume)
	// Records keep arriving, so the paused follower falls behind.
	var want []int32
	want = append(want, leader, followers[1].ID())
	slices.Sort(want)
	eventually(t, 30*time.Second, fmt.Sprintf("broker %d shrunk out of the ISR", paused), func() error {
		if err := produce("while-paused"); err != nil {
			return err
		}
		td, err := topicOn(t, c.Node(leader), "lag")
		if err != nil {
			return err
		}
		isr := slices.Clone(td.Partitions[0].ISR)
		slices.Sort(isr)
		if !slices.Equal(isr, want) {
			return fmt.Errorf("ISR %v", isr)
		}
		return nil
	})
	if err := produce("after-shrink"); err != nil {
		t.Fatalf("acks=all with two in-sync replicas: %v", err)
	}
	followers[0].Resume()
	waitISR(t, c.Node(leader), "lag", []int32{1, 2, 3}, 60*time.Second)
	if err := produce("after-rejoin"); err != nil {
		t.Fatalf("acks=all after the follower rejoined: %v", err)
	}
}

// TestReplicationDivergentTailIsTruncated makes a leader write records no
// follower has (acks=1 while both followers are paused), kills it, lets a
// follower take over and write other records at the same offsets, then
// restarts the old leader: it must truncate its divergent tail (the new
// leader answers its fetch with the diverging epoch, KIP-320) and copy the
// new leader's records, so that every replica ends with the same log, byte
// for byte.
func TestReplicationDivergentTailIsTruncated(t *testing.T) {
	c := harness.StartCluster(t, 3)
	adm := newAdmin(t, c.Node(1).Bootstrap())
	createReplicatedTopic(t, adm, "div", 1, nil)
	waitISR(t, c.Node(1), "div", []int32{1, 2, 3}, 30*time.Second)
	old := leaderOf(t, c.Node(1), "div", 0)
	followers := c.Others(old)
	all := newKgo(t, c.Node(old).Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("div"))
	for i := range 10 {
		if err := all.ProduceSync(testCtx(t), kgo.StringRecord("common-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Both followers stop fetching; the leader takes acks=1 records only it
	// will ever have.
	for _, f := range followers {
		f.Pause()
	}
	one := newKgo(t, c.Node(old).Bootstrap(), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.DefaultProduceTopic("div"))
	for i := range 20 {
		if err := one.ProduceSync(testCtx(t), kgo.StringRecord("divergent-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.Node(old).Kill()
	for _, f := range followers {
		f.Resume()
	}
	var want []int32
	for _, f := range followers {
		want = append(want, f.ID())
	}
	slices.Sort(want)
	waitISR(t, followers[0], "div", want, 30*time.Second)
	next := newKgo(t, followers[0].Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("div"))
	for i := range 30 {
		if err := next.ProduceSync(testCtx(t), kgo.StringRecord("new-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.Node(old).Restart()
	waitISR(t, followers[0], "div", []int32{1, 2, 3}, 60*time.Second)

	// The acks=all records are all there, once. (A divergent record may
	// survive too: a follower can have fetched it just before it was
	// paused; acks=1 promises nothing about it.)
	var ackedValues []string
	for i := range 40 {
		v := "common-" + strconv.Itoa(i)
		if i >= 10 {
			v = "new-" + strconv.Itoa(i-10)
		}
		ackedValues = append(ackedValues, v)
	}
	waitEndOffsets(t, followers[0].Bootstrap(), "div", int64(len(ackedValues)))
	expectOnce(t, readCounts(t, followers[0].Bootstrap(), "div"), ackedValues, "acknowledged record")
	// Every replica holds the same bytes: followers copy batches verbatim.
	eventually(t, 30*time.Second, "identical replica logs", func() error {
		var first []byte
		for i, n := range c.Nodes() {
			b, err := partitionLog(n, "div", 0)
			if err != nil {
				return err
			}
			if i == 0 {
				first = b
				continue
			}
			if !slices.Equal(b, first) {
				return fmt.Errorf("node %d's log (%d bytes) differs from node %d's (%d bytes)", n.ID(), len(b), c.Nodes()[0].ID(), len(first))
			}
		}
		return nil
	})
}

// partitionLog concatenates the .log segments of a partition on node.
func partitionLog(n *harness.ClusterNode, topic string, partition int32) ([]byte, error) {
	pattern := filepath.Join(n.DataDir(), "*", topic+"-"+strconv.Itoa(int(partition)), "*.log")
	files, err := filepath.Glob(pattern)
	if err == nil && len(files) == 0 {
		files, err = filepath.Glob(filepath.Join(n.DataDir(), topic+"-"+strconv.Itoa(int(partition)), "*.log"))
	}
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("node %d: no segments for %s-%d (%v)", n.ID(), topic, partition, err)
	}
	slices.Sort(files)
	var out []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// TestReplicationControlledShutdown stops a partition leader with SIGTERM
// while an idempotent acks=all producer writes: the broker leaves gossip,
// waits until the controller has moved its leaderships to the other in-sync
// replicas, and only then stops serving, so the producer moves to the new
// leader without losing or duplicating a record.
func TestReplicationControlledShutdown(t *testing.T) {
	c := harness.StartCluster(t, 3)
	adm := newAdmin(t, c.Node(1).Bootstrap())
	createReplicatedTopic(t, adm, "graceful", 1, map[string]*string{"min.insync.replicas": strp("2")})
	waitISR(t, c.Node(1), "graceful", []int32{1, 2, 3}, 30*time.Second)
	leader := leaderOf(t, c.Node(1), "graceful", 0)
	var seeds []string
	for _, n := range c.Nodes() {
		seeds = append(seeds, n.Bootstrap())
	}
	cl := newKgo(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("graceful"), kgo.RecordDeliveryTimeout(30*time.Second))
	acked := newAckLog(cl)
	stopped := make(chan error, 1)
	for i := range 400 {
		if i == 100 {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				stopped <- c.Node(leader).Stop(ctx)
			}()
		}
		acked.produce("g" + strconv.Itoa(i))
		time.Sleep(2 * time.Millisecond)
	}
	acked.wait()
	if err := <-stopped; err != nil {
		t.Fatalf("SIGTERM of leader %d: %v", leader, err)
	}
	// The stopping leader saw its leadership move (gossip leave, fence, new
	// leader) before it closed its log.
	logs := c.Node(leader).Logs()
	led := strings.Index(logs, `"is_leader":true`)
	moved := strings.Index(logs[max(led, 0):], `"is_leader":false`)
	closed := strings.Index(logs[max(led, 0):], `"message":"closed log"`)
	if led < 0 || moved < 0 || closed < 0 || moved > closed {
		t.Errorf("node %d closed its log before its leadership moved (led %d, moved %d, closed %d)", leader, led, moved, closed)
	}
	if acked.count() != 400 {
		t.Errorf("%d of 400 records acknowledged across a controlled shutdown, want all", acked.count())
	}
	waitEndOffsets(t, c.Others(leader)[0].Bootstrap(), "graceful", int64(acked.count()))
	expectOnce(t, readCounts(t, c.Others(leader)[0].Bootstrap(), "graceful"), acked.values(), "acknowledged record")
}

// TestReplicationOfCompactedLog lets a follower fall behind while the
// leader compacts a topic, so that what it copies on its return has the
// offset gaps compaction leaves: it must append them as they are (no
// offset is reused or invented), catch up and rejoin the ISR.
func TestReplicationOfCompactedLog(t *testing.T) {
	c := harness.StartCluster(t, 3, harness.WithNodeConfig("log.retention.check.interval.ms", "200"))
	adm := newAdmin(t, c.Node(1).Bootstrap())
	createReplicatedTopic(t, adm, "compacted", 1, map[string]*string{
		"cleanup.policy": strp("compact"), "segment.ms": strp("100"),
		"min.cleanable.dirty.ratio": strp("0.01"), "min.insync.replicas": strp("2"),
	})
	waitISR(t, c.Node(1), "compacted", []int32{1, 2, 3}, 30*time.Second)
	leader := leaderOf(t, c.Node(1), "compacted", 0)
	follower := c.Others(leader)[0]
	follower.Kill()
	cl := newKgo(t, c.Node(leader).Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("compacted"),
		kgo.RecordDeliveryTimeout(30*time.Second))
	// Ten keys written over and over: most records are superseded.
	for i := range 2000 {
		r := &kgo.Record{Key: []byte("k" + strconv.Itoa(i%10)), Value: []byte("v" + strconv.Itoa(i))}
		if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	// Wait until the leader has compacted: its log start is unchanged but
	// fewer records than offsets remain readable.
	eventually(t, 30*time.Second, "compaction on the leader", func() error {
		if n := countUpToEnd(t, c.Node(leader).Bootstrap(), "compacted", 2000); n >= 2000 {
			return fmt.Errorf("%d records readable, none compacted yet", n)
		}
		return nil
	})
	follower.Restart()
	waitISR(t, c.Node(leader), "compacted", []int32{1, 2, 3}, 60*time.Second)
}

// countUpToEnd reads partition 0 of topic from the start until the record
// at end-1 (compaction keeps the last record of a log) and returns how
// many records it read.
func countUpToEnd(t *testing.T, bootstrap, topic string, end int64) int {
	t.Helper()
	cl := newKgo(t, bootstrap, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s up to offset %d: %v", topic, end-1, ctx.Err())
		}
		last := int64(-1)
		fs.EachRecord(func(r *kgo.Record) { n++; last = r.Offset })
		if last >= end-1 {
			return n
		}
	}
}

// TestReplicationLeaderLostItsDisk kills a partition leader, deletes its
// partition logs (a lost disk; the metadata log survives) and restarts it
// at once, before gossip could declare it dead: the new process must not
// lead with its empty log (the followers would truncate acknowledged
// records to match it). It takes no role until its own registration is in
// the metadata, by which time the leadership has moved; it then copies the
// log back from the new leader and rejoins the ISR.
func TestReplicationLeaderLostItsDisk(t *testing.T) {
	c := harness.StartCluster(t, 3)
	adm := newAdmin(t, c.Node(1).Bootstrap())
	createReplicatedTopic(t, adm, "disk", 1, map[string]*string{"min.insync.replicas": strp("2")})
	waitISR(t, c.Node(1), "disk", []int32{1, 2, 3}, 30*time.Second)
	victim := leaderOf(t, c.Node(1), "disk", 0)
	cl := newKgo(t, c.Node(victim).Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("disk"))
	const n = 200
	for i := range n {
		if err := cl.ProduceSync(testCtx(t), kgo.StringRecord("d"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.Node(victim).Kill()
	if err := os.RemoveAll(filepath.Join(c.Node(victim).DataDir(), "logs")); err != nil {
		t.Fatal(err)
	}
	c.Node(victim).Restart()
	waitISR(t, c.Node(victim), "disk", []int32{1, 2, 3}, 60*time.Second)
	survivor := c.Others(victim)[0]
	var want []string
	for i := range n {
		want = append(want, "d"+strconv.Itoa(i))
	}
	// A new leader learns the high watermark from its followers' next
	// fetches: right after the move it may not cover the last records
	// acknowledged by the old one yet.
	waitEndOffsets(t, survivor.Bootstrap(), "disk", n)
	expectOnce(t, readCounts(t, survivor.Bootstrap(), "disk"), want, "acknowledged record (the leader lost its disk)")
	eventually(t, 30*time.Second, "identical replica logs", func() error {
		first, err := partitionLog(c.Nodes()[0], "disk", 0)
		if err != nil {
			return err
		}
		for _, nd := range c.Nodes()[1:] {
			b, err := partitionLog(nd, "disk", 0)
			if err != nil {
				return err
			}
			if !slices.Equal(b, first) {
				return fmt.Errorf("node %d's log (%d bytes) differs from node %d's (%d bytes)", nd.ID(), len(b), c.Nodes()[0].ID(), len(first))
			}
		}
		return nil
	})
}
