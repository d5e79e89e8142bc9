package client_test

// Example and the examples in example_group_test.go run under go test
// against a node started by samsatest.New, and check their output.
// ExampleProducer_Produce and ExampleClient_NewConsumer are compiled but
// not run (they have no "// Output:" line): they show a program talking to
// a cluster at its usual address.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
)

func Example() {
	// A real node for the example; a program would use its cluster's
	// address: client.WithBootstrap("broker-1:9092").
	node, err := samsatest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()

	ctx := context.Background()
	cl, err := client.New(ctx, client.WithBootstrap(node.Bootstrap()))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()

	if _, err := cl.Admin().CreateTopic(ctx, "events", 3, 1, nil); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		log.Fatal(err)
	}

	p, err := cl.NewProducer()
	if err != nil {
		log.Fatal(err)
	}
	written, err := p.ProduceSync(ctx, client.NewRecord("events", []byte("user-42"), []byte("signed up")))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("written at partition", written[0].Partition, "offset", written[0].Offset)

	c, err := cl.NewConsumer("events", client.ConsumeFrom(client.StartBeginning))
	if err != nil {
		log.Fatal(err)
	}
	recs, err := c.Poll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Printf("%s = %s\n", r.Key, r.Value)
	}
	// Output:
	// written at partition 1 offset 0
	// user-42 = signed up
}

func ExampleProducer_Produce() {
	ctx := context.Background()
	cl, err := client.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	p, err := cl.NewProducer(client.WithLinger(5*time.Millisecond), client.WithCompression(client.CompressionZstd))
	if err != nil {
		log.Fatal(err)
	}
	for i := range 1000 {
		// Same key, same partition: the Java client and librdkafka's
		// murmur2 partitioner would pick it too.
		rec := client.NewRecord("events", fmt.Appendf(nil, "user-%d", i%10), []byte("clicked"))
		if err := p.Produce(ctx, rec); err != nil {
			log.Fatal(err) // refused before buffering: closed producer, no topic
		}
	}
	// Flush reports the records that failed since the last Flush.
	var de *client.DeliveryError
	if err := p.Flush(ctx); errors.As(err, &de) {
		log.Fatalf("%d records lost, first: %v", de.Failed, de.First)
	} else if err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_NewConsumer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	// Partition 0 only, from offset 100; no consumer group, nothing committed.
	c, err := cl.NewConsumer("events", client.ConsumePartition(0, client.StartAt(100)))
	if err != nil {
		log.Fatal(err)
	}
	for ctx.Err() == nil {
		recs, err := c.Poll(ctx)
		if err != nil && ctx.Err() == nil {
			log.Print(err) // some partitions failed; recs are still good
		}
		for _, r := range recs {
			fmt.Println(r.Partition, r.Offset, string(r.Value))
		}
	}
	fmt.Println("next offsets:", c.Positions())
}

func ExamplePartitionForKey() {
	fmt.Println(client.PartitionForKey([]byte("user-42"), 12))
	fmt.Println(client.PartitionForKey(nil, 12)) // a null key is not hashed
	// Output:
	// 4
	// -1
}

// A test in a user's package: a real Samsa node per test, gone afterwards.
func Example_testingWithSamsatest() {
	_ = func(t *testing.T) {
		c := samsatest.Start(t, samsatest.WithTopic("orders", 3))
		ctx := t.Context()
		cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		p, err := cl.NewProducer()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.ProduceSync(ctx, client.NewRecord("orders", []byte("o-1"), []byte("paid"))); err != nil {
			t.Fatal(err)
		}
		c.Restart() // graceful stop and start on the same data; new Bootstrap
	}
}
