package samsatest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
)

// A three-node cluster in the test process: write a record, crash the
// partition's leader, and write again through the node elected in its
// place; both records are there.
func Example_failover() {
	c, err := samsatest.New(samsatest.WithNodes(3),
		samsatest.WithTopic("payments", 1, samsatest.TopicConfig("min.insync.replicas", "2")))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// kgo refreshes metadata at most every 5 s by default; a test of
	// failover wants the new leader sooner.
	cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()),
		client.WithKgoOptions(kgo.MetadataMinAge(100*time.Millisecond)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	p, err := cl.NewProducer() // acks=all, idempotent
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := p.ProduceSync(ctx, client.NewRecord("payments", nil, []byte("before"))); err != nil {
		fmt.Println(err)
		return
	}

	old := c.Leader("payments", 0)
	c.Kill(old)
	next := c.Leader("payments", 0) // waits for the election
	fmt.Println("new leader elected:", next != old)
	if _, err := p.ProduceSync(ctx, client.NewRecord("payments", nil, []byte("after"))); err != nil {
		fmt.Println(err)
		return
	}

	cons, err := cl.NewConsumer("payments")
	if err != nil {
		fmt.Println(err)
		return
	}
	for n := 0; n < 2; {
		recs, err := cons.Poll(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, r := range recs {
			fmt.Printf("offset %d: %s\n", r.Offset, r.Value)
			n++
		}
	}
	// Output:
	// new leader elected: true
	// offset 0: before
	// offset 1: after
}
