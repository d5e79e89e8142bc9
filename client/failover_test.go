package client_test

// The SDK against a three-node samsatest cluster while a node is killed:
// the idempotent acks=all producer loses and duplicates nothing through a
// leader failover, and a group consumer keeps consuming when its
// coordinator's node dies.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
)

// failoverBudget bounds how long the SDK may take to get going again after
// a node is killed (gossip notices in 1-2 s, then elections and retries).
const failoverBudget = 30 * time.Second

// threeNodes starts a three-node cluster with topic replicated on every
// node (min.insync.replicas 2) and fast group timings.
func threeNodes(t *testing.T, topic string, partitions int32) (context.Context, *samsatest.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	c := samsatest.Start(t, samsatest.WithNodes(3), samsatest.WithFastGroups(),
		samsatest.WithTopic(topic, partitions, samsatest.TopicConfig("min.insync.replicas", "2")))
	return ctx, c
}

// failoverClient is a Client that refreshes its metadata as often as every
// 100 ms: kgo's default minimum of 5 s between refreshes would let a
// producer sit out 5 s after a leader moved.
func failoverClient(t *testing.T, ctx context.Context, c *samsatest.Cluster) *client.Client {
	t.Helper()
	return newClient(t, ctx, c, client.WithKgoOptions(kgo.MetadataMinAge(100*time.Millisecond)))
}

// acked is what a producer's callbacks reported.
type acked struct {
	mu     sync.Mutex
	ok     map[string]client.Record // value -> record as written
	per    map[int32]int            // acknowledged records by partition
	failed []error
	cond   chan struct{} // closed and replaced on every callback
}

func newAcked() *acked {
	return &acked{ok: map[string]client.Record{}, per: map[int32]int{}, cond: make(chan struct{})}
}

func (a *acked) done(r client.Record, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.failed = append(a.failed, err)
	} else {
		a.ok[string(r.Value)] = r
		a.per[r.Partition]++
	}
	close(a.cond)
	a.cond = make(chan struct{})
}

// count returns how many records of partition p were acknowledged.
func (a *acked) count(p int32) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.per[p]
}

// waitCount waits until n records of partition p are acknowledged.
func (a *acked) waitCount(t *testing.T, p int32, n int, timeout time.Duration, what string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		got, cond, failed := a.per[p], a.cond, len(a.failed)
		a.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-cond:
		case <-deadline:
			t.Fatalf("%s: %d of %d records of partition %d acknowledged after %v (%d failed)", what, got, n, p, timeout, failed)
		}
	}
}

// An idempotent acks=all SDK producer writes a steady stream of keyed
// records (so every partition has its share) while the leader of
// partition 0 is killed: every acknowledged record is read back exactly
// once, at the offset it was acknowledged with, none fails, and partition
// 0's stream goes on through the new leader. The killed node then comes
// back and rejoins every ISR.
func TestProducerLosesNothingThroughLeaderKill(t *testing.T) {
	const topic, parts = "payments", 3
	ctx, c := threeNodes(t, topic, parts)
	cl := failoverClient(t, ctx, c)
	// At most 500 records wait in the producer: ProduceAsync blocks
	// beyond, so the stream keeps pace with the cluster.
	p, err := cl.NewProducer(client.WithLinger(time.Millisecond), client.WithMaxBufferedRecords(500))
	if err != nil {
		t.Fatal(err)
	}
	got := newAcked()
	stop := make(chan struct{})
	produced := make(chan int, 1)
	go func() {
		n := 0
		defer func() { produced <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			rec := client.NewRecord(topic, fmt.Appendf(nil, "account-%d", n%30), fmt.Appendf(nil, "pay-%d", n))
			if err := p.ProduceAsync(ctx, rec, got.done); err != nil {
				t.Errorf("ProduceAsync %d: %v", n, err)
				return
			}
			n++
		}
	}()

	got.waitCount(t, 0, 300, failoverBudget, "before the kill")
	victim := c.Leader(topic, 0)
	killed := time.Now()
	atKill := got.count(0)
	c.Kill(victim)
	next := c.Leader(topic, 0)
	t.Logf("%v: node %d (leader of %s-0) killed after %d acks of partition 0; node %d leads", time.Since(killed), victim, topic, atKill, next)
	// The producer holds at most 500 records, so 1,000 more on partition
	// 0 were written by the new leader.
	got.waitCount(t, 0, atKill+1000, failoverBudget, "after the kill")
	t.Logf("%v: %d more records of partition 0 acknowledged after the kill", time.Since(killed), got.count(0)-atKill)
	close(stop)
	n := <-produced
	if err := p.Flush(ctx); err != nil {
		t.Errorf("Flush: %v", err)
	}
	got.mu.Lock()
	failed, ok := got.failed, maps.Clone(got.ok)
	got.mu.Unlock()
	if len(failed) > 0 {
		t.Errorf("%d of %d records failed through the failover; first: %v", len(failed), n, failed[0])
	}

	// Read everything back: each acknowledged record once, at the offset
	// it was acknowledged with; nothing else (no duplicate from a retry).
	ends, err := cl.Admin().ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, e := range ends {
		total += e
	}
	cons, err := cl.NewConsumer(topic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for read := int64(0); read < total; {
		rs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatalf("poll after %d of %d records: %v", read, total, err)
		}
		for _, r := range rs {
			read++
			seen[string(r.Value)]++
			if w, found := ok[string(r.Value)]; found && (w.Partition != r.Partition || w.Offset != r.Offset) {
				t.Errorf("%s acknowledged at %d@%d, read at %d@%d", r.Value, w.Partition, w.Offset, r.Partition, r.Offset)
			}
		}
	}
	for v := range ok {
		if seen[v] == 0 {
			t.Errorf("acknowledged record %s lost", v)
		}
	}
	for v, k := range seen {
		if k > 1 {
			t.Errorf("record %s written %d times", v, k)
		}
	}
	t.Logf("%d records produced, %d acknowledged, %d in the log", n, len(ok), total)

	// The killed node comes back on its address and rejoins every ISR.
	c.Restart(victim)
	waitFor(t, failoverBudget, fmt.Sprintf("node %d back in every ISR of %s", victim, topic), func() error {
		d, err := cl.Admin().DescribeTopic(ctx, topic)
		if err != nil {
			return err
		}
		for _, p := range d.Partitions {
			if len(p.ISR) != 3 {
				return fmt.Errorf("partition %d: ISR %v", p.Partition, p.ISR)
			}
		}
		return nil
	})
}

// consumeThroughFailover runs m.Consume with h until the test ends or m
// closes. A refused connection to a killed coordinator is retriable, so
// Consume carries on through it; should it ever return one, the batch was
// not committed and comes again, so this loop calls Consume again, as an
// application would, and counts it.
func consumeThroughFailover(t *testing.T, ctx context.Context, m *client.GroupConsumer, h client.Handler, restarts *atomic.Int32) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			err := m.Consume(ctx, h)
			var op *net.OpError
			switch {
			case errors.Is(err, client.ErrClosed), ctx.Err() != nil:
				return
			case errors.As(err, &op) && op.Op == "dial":
				restarts.Add(1)
				t.Logf("Consume stopped on a refused connection to the dead node; consuming again: %v", err)
			default:
				t.Errorf("Consume: %v", err)
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// Two members of a group consume a replicated topic; the node that
// coordinates the group (and leads some of the topic's partitions) is
// killed. A new coordinator takes over, the members carry on, every record
// produced before and after the kill is handled, and the group's commits
// reach the end of every partition.
func TestGroupConsumerCarriesOnThroughBrokerKill(t *testing.T) {
	const topic, parts, group = "events", 4, "billing"
	ctx, c := threeNodes(t, topic, parts)
	got := newSeen()
	handler := func(name string) client.Handler {
		return func(_ context.Context, recs []client.Record) error {
			got.add(name, recs)
			return nil
		}
	}
	var restarts atomic.Int32
	var members []*client.GroupConsumer
	for _, name := range []string{"a", "b"} {
		m := newMember(t, failoverClient(t, ctx, c), group, topic, client.GroupSessionTimeout(3*time.Second))
		consumeThroughFailover(t, ctx, m, handler(name), &restarts)
		members = append(members, m)
	}
	waitFor(t, failoverBudget, "two members split the partitions", func() error { return ownership(topic, parts, members...) })

	prod := failoverClient(t, ctx, c)
	want := produceTo(t, ctx, prod, topic, client.AnyPartition, "before", 40)
	waitFor(t, failoverBudget, "records handled before the kill", func() error { return got.missing(want) })

	victim := c.Coordinator(group)
	killed := time.Now()
	c.Kill(victim)
	next := c.Coordinator(group)
	t.Logf("%v: coordinator %d killed; node %d coordinates %s", time.Since(killed), victim, next, group)
	if next == victim {
		t.Fatalf("coordinator still %d after Kill", victim)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, m := range members {
				t.Logf("member %d owns %v", i, m.Assigned())
			}
			d, err := prod.Admin().DescribeTopic(context.Background(), topic)
			t.Logf("%s: %+v %v", topic, d.Partitions, err)
		}
	})

	after := produceTo(t, ctx, prod, topic, client.AnyPartition, "after", 40)
	waitFor(t, failoverBudget, "records handled after the kill", func() error { return got.missing(after) })
	t.Logf("%v: every record produced after the kill handled (Consume called again %d times)", time.Since(killed), restarts.Load())

	ends, err := prod.Admin().ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, failoverBudget, "commits up to the end of every partition", func() error {
		d, err := prod.Admin().DescribeGroup(ctx, group)
		if err != nil {
			return err
		}
		have := map[int32]int64{}
		for _, o := range d.Offsets {
			if o.Topic == topic {
				have[o.Partition] = o.Committed
			}
		}
		for p, end := range ends {
			if have[p] != end {
				return fmt.Errorf("partition %d committed %d of %d", p, have[p], end)
			}
		}
		return nil
	})
}
