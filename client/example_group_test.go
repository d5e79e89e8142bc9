package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
	"github.com/samsa-io/samsa/client/serde"
)

// These examples run under go test against a real node started by
// samsatest.New; in a program, pass your cluster's address to
// client.WithBootstrap instead.

// A consumer group member: each batch is committed after the handler
// returns it, so a record is never committed before it was handled.
func ExampleGroupConsumer_Consume() {
	node, err := samsatest.New(samsatest.WithFastGroups(), samsatest.WithTopic("orders", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl, err := client.New(ctx, client.WithBootstrap(node.Bootstrap()))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	p, err := cl.NewProducer()
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		if _, err := p.ProduceSync(ctx, client.NewRecord("orders", []byte(id), []byte("paid"))); err != nil {
			log.Fatal(err)
		}
	}

	g, err := cl.NewGroupConsumer("billing", []string{"orders"},
		client.GroupOnAssigned(func(_ context.Context, assigned map[string][]int32) {
			fmt.Println("assigned", assigned)
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	handled := 0
	cctx, stop := context.WithCancel(ctx)
	err = g.Consume(cctx, func(_ context.Context, recs []client.Record) error {
		for _, r := range recs {
			fmt.Printf("%s/%d@%d %s = %s\n", r.Topic, r.Partition, r.Offset, r.Key, r.Value)
		}
		if handled += len(recs); handled == 3 {
			stop() // this batch is still committed
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
	d, err := cl.Admin().DescribeGroup(ctx, "billing")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed", d.Offsets[0].Committed, "lag", d.Offsets[0].Lag)
	// Output:
	// assigned map[orders:[0]]
	// orders/0@0 o-1 = paid
	// orders/0@1 o-2 = paid
	// orders/0@2 o-3 = paid
	// committed 3 lag 0
}

// ProduceAsync reports each record once, when the cluster acknowledged it
// or when it failed.
func ExampleProducer_ProduceAsync() {
	node, err := samsatest.New(samsatest.WithTopic("events", 1))
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
	p, err := cl.NewProducer()
	if err != nil {
		log.Fatal(err)
	}

	var (
		mu    sync.Mutex
		lines []string
	)
	done := func(r client.Record, err error) { // on the producer's callback goroutine
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			lines = append(lines, fmt.Sprintf("%s failed: %v", r.Value, err))
			return
		}
		lines = append(lines, fmt.Sprintf("%s written at %d/%d", r.Value, r.Partition, r.Offset))
	}
	for _, v := range []string{"a", "b", "c"} {
		if err := p.ProduceAsync(ctx, client.Record{Topic: "events", Partition: 0, Value: []byte(v)}, done); err != nil {
			log.Fatal(err) // refused before buffering: done is not called
		}
	}
	// Close waits for the buffered records and reports any that failed.
	if err := p.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// a written at 0/0
	// b written at 0/1
	// c written at 0/2
}

// Event is what the typed examples produce and consume, as JSON.
type Event struct {
	User   string `json:"user"`
	Action string `json:"action"`
}

// A typed group consumer decodes keys and values before the handler sees
// them; a record that does not decode goes to OnSerdeError.
func ExampleNewTypedGroupConsumer() {
	node, err := samsatest.New(samsatest.WithFastGroups(), samsatest.WithTopic("events", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.New(ctx, client.WithBootstrap(node.Bootstrap()))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()

	p, err := cl.NewProducer()
	if err != nil {
		log.Fatal(err)
	}
	tp := client.NewTypedProducer(p, serde.String{}, serde.JSON[Event]{})
	if _, err := tp.Produce(ctx, "events", "ann", Event{"ann", "login"}); err != nil {
		log.Fatal(err)
	}
	if _, err := p.ProduceSync(ctx, client.NewRecord("events", []byte("eve"), []byte("{not json"))); err != nil {
		log.Fatal(err)
	}
	if _, err := tp.Produce(ctx, "events", "bob", Event{"bob", "logout"}); err != nil {
		log.Fatal(err)
	}

	g, err := cl.NewGroupConsumer("audit", []string{"events"})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	tc := client.NewTypedGroupConsumer(g, serde.String{}, serde.JSON[Event]{},
		client.OnSerdeError(func(_ context.Context, raw client.Record, err *client.SerdeError) error {
			fmt.Printf("skipped offset %d: %s\n", raw.Offset, raw.Value)
			return nil // skip it (a real program might send it to a dead-letter topic)
		}))
	var users []string
	cctx, stop := context.WithCancel(ctx)
	err = tc.Consume(cctx, func(_ context.Context, recs []client.TypedRecord[string, Event]) error {
		for _, r := range recs {
			users = append(users, r.Key+" "+r.Value.Action)
		}
		if len(users) == 2 {
			stop()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
	fmt.Println(slices.Sorted(slices.Values(users)))
	// Output:
	// skipped offset 1: {not json
	// [ann login bob logout]
}
