package samsatest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A user's test: start a node with a topic, produce with the SDK, consume
// it back, restart the node and read the same records from disk.
func TestProduceConsumeRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := samsatest.Start(t, samsatest.WithTopic("orders", 3))

	cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	var recs []client.Record
	for i := range n {
		recs = append(recs, client.NewRecord("orders", fmt.Appendf(nil, "k%d", i%5), fmt.Appendf(nil, "v%d", i)))
	}
	written, err := p.ProduceSync(ctx, recs...)
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()

	want := make(map[string]client.Record, n)
	for _, r := range written {
		want[string(r.Value)] = r
	}
	readAll := func(stage string) {
		t.Helper()
		cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()))
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		defer cl.Close()
		cons, err := cl.NewConsumer("orders")
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		got := map[string]client.Record{}
		for len(got) < n {
			rs, err := cons.Poll(ctx)
			if err != nil {
				t.Fatalf("%s: poll after %d records: %v", stage, len(got), err)
			}
			for _, r := range rs {
				got[string(r.Value)] = r
			}
		}
		for v, w := range want {
			g, ok := got[v]
			if !ok || g.Partition != w.Partition || g.Offset != w.Offset || string(g.Key) != string(w.Key) {
				t.Errorf("%s: record %s: got %+v, want partition %d offset %d key %s", stage, v, g, w.Partition, w.Offset, w.Key)
			}
		}
	}
	readAll("before restart")

	before := c.Bootstrap()
	c.Restart()
	if c.Bootstrap() == "" {
		t.Fatal("no bootstrap after restart")
	}
	t.Logf("bootstrap %s -> %s", before, c.Bootstrap())
	readAll("after restart")
}

func TestUnknownTopicWithoutAutoCreate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := samsatest.Start(t)
	cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Admin().DescribeTopic(ctx, "missing"); err == nil {
		t.Fatal("describe of a topic never created succeeded")
	}
}

// Three nodes: a replicated topic, the leader killed (the survivors elect
// another and keep every acknowledged record), the node restarted on the
// same addresses, and the group coordinator found and moved the same way.
func TestThreeNodesKillAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	c := samsatest.Start(t, samsatest.WithNodes(3), samsatest.WithFastGroups(),
		samsatest.WithTopic("orders", 2, samsatest.TopicConfig("min.insync.replicas", "2")))
	t.Logf("%v: three nodes up, bootstrap %s", time.Since(start), c.Bootstrap())
	if got := strings.Split(c.Bootstrap(), ","); len(got) != 3 {
		t.Fatalf("Bootstrap() = %q, want three addresses", c.Bootstrap())
	}
	cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()), client.WithKgoOptions(kgo.MetadataMinAge(100*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	d, err := cl.Admin().DescribeTopic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Partitions {
		if len(p.Replicas) != 3 {
			t.Errorf("partition %d has replicas %v, want three", p.Partition, p.Replicas)
		}
	}
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	write := func(tag string, n int) {
		t.Helper()
		var recs []client.Record
		for i := range n {
			recs = append(recs, client.Record{Topic: "orders", Partition: 0, Value: fmt.Appendf(nil, "%s-%d", tag, i)})
		}
		if _, err := p.ProduceSync(ctx, recs...); err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
	}
	write("before", 20)

	old := c.Leader("orders", 0)
	killed := time.Now()
	c.Kill(old)
	if c.Running(old) {
		t.Fatalf("node %d runs after Kill", old)
	}
	next := c.Leader("orders", 0)
	t.Logf("%v: leader %d killed, node %d leads", time.Since(killed), old, next)
	if next == old {
		t.Fatalf("Leader after Kill(%d) = %d", old, next)
	}
	write("after", 20)
	t.Logf("%v: acks=all produce answered by the new leader", time.Since(killed))

	coord := c.Coordinator("g")
	if !c.Running(coord) {
		t.Fatalf("coordinator %d is not running", coord)
	}

	before := c.Bootstrap()
	restarted := time.Now()
	c.Restart(old)
	t.Logf("%v: node %d restarted", time.Since(restarted), old)
	if c.Bootstrap() != before {
		t.Errorf("Bootstrap changed across Restart: %s -> %s", before, c.Bootstrap())
	}
	// Every acknowledged record is there, once, read through the
	// restarted node among the others.
	cons, err := cl.NewConsumer("orders", client.ConsumePartition(0, client.StartBeginning))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for len(seen) < 40 {
		rs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatalf("poll after %d records: %v", len(seen), err)
		}
		for _, r := range rs {
			seen[string(r.Value)]++
		}
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("record %s read %d times", v, n)
		}
	}
}

// BenchmarkStartOneNode measures Start (node up, broker serving); the
// shutdown after each iteration is not timed.
func BenchmarkStartOneNode(b *testing.B) {
	for range b.N {
		tb := &cleanupTB{TB: b}
		samsatest.Start(tb)
		b.StopTimer()
		tb.runCleanups()
		b.StartTimer()
	}
}

// BenchmarkStartThreeNodes measures Start of a three-node cluster (quorum
// elected, every broker registered and unfenced through gossip); the
// shutdown after each iteration is not timed.
func BenchmarkStartThreeNodes(b *testing.B) {
	for range b.N {
		tb := &cleanupTB{TB: b}
		samsatest.Start(tb, samsatest.WithNodes(3))
		b.StopTimer()
		tb.runCleanups()
		b.StartTimer()
	}
}

// cleanupTB runs the cleanups registered during one benchmark iteration at
// the end of that iteration instead of at the end of the benchmark.
type cleanupTB struct {
	testing.TB
	fns []func()
}

func (c *cleanupTB) Cleanup(fn func()) { c.fns = append(c.fns, fn) }

func (c *cleanupTB) runCleanups() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
}
