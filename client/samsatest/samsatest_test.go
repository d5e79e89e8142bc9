package samsatest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
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
