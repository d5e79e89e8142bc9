// Command typed-events produces and consumes JSON events with the Samsa Go
// SDK's typed producer and typed group consumer.
//
//	go run ./examples/typed-events -bootstrap 127.0.0.1:9092 -topic user-events -n 10
//
// It writes n events keyed by user (so one user's events stay in order on
// one partition), then reads them back as a consumer group member and
// prints them. A record that is not valid JSON is reported and skipped
// instead of stopping the consumer.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/serde"
)

// Event is one user action, stored as JSON.
type Event struct {
	User   string    `json:"user"`
	Action string    `json:"action"`
	At     time.Time `json:"at"`
}

func main() {
	bootstrap := flag.String("bootstrap", "", "bootstrap servers (default: $SAMSA_BOOTSTRAP or 127.0.0.1:9092)")
	topic := flag.String("topic", "user-events", "topic (created with 3 partitions if missing)")
	n := flag.Int("n", 10, "events to write")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var opts []client.Option
	if *bootstrap != "" {
		opts = append(opts, client.WithBootstrap(*bootstrap))
	}
	cl, err := client.New(ctx, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Admin().CreateTopic(ctx, *topic, 3, -1, nil); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		log.Fatal(err)
	}

	if err := produce(ctx, cl, *topic, *n); err != nil {
		log.Fatal(err)
	}
	if err := consume(ctx, cl, *topic, *n); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}

// produce writes n events asynchronously and waits for all of them.
func produce(ctx context.Context, cl *client.Client, topic string, n int) error {
	p, err := cl.NewProducer(client.WithLinger(5 * time.Millisecond))
	if err != nil {
		return err
	}
	tp := client.NewTypedProducer(p, serde.String{}, serde.JSON[Event]{})
	users := []string{"ann", "bob", "eve"}
	actions := []string{"login", "view", "buy", "logout"}
	for i := range n {
		e := Event{User: users[i%len(users)], Action: actions[i%len(actions)], At: time.Now()}
		err := tp.ProduceAsync(ctx, topic, e.User, e, func(r client.TypedRecord[string, Event], err error) {
			if err != nil {
				log.Printf("not written: %s %s: %v", r.Key, r.Value.Action, err)
			}
		})
		if err != nil {
			return err // a serde failure or a closed producer: nothing was sent
		}
	}
	// Close waits for the buffered events and returns a
	// *client.DeliveryError if any failed.
	return p.Close()
}

// consume reads until it has printed n events or is interrupted.
func consume(ctx context.Context, cl *client.Client, topic string, n int) error {
	g, err := cl.NewGroupConsumer("typed-events-example", []string{topic})
	if err != nil {
		return err
	}
	defer g.Close()
	tc := client.NewTypedGroupConsumer(g, serde.String{}, serde.JSON[Event]{},
		client.OnSerdeError(func(_ context.Context, raw client.Record, err *client.SerdeError) error {
			log.Printf("skipping a record that is not an Event: %v", err)
			return nil
		}))

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	seen := 0
	return tc.Consume(ctx, func(_ context.Context, recs []client.TypedRecord[string, Event]) error {
		for _, r := range recs {
			fmt.Printf("%d/%d %-4s %-7s %s\n", r.Partition, r.Offset, r.Key, r.Value.Action, r.Value.At.Format(time.TimeOnly))
		}
		if seen += len(recs); seen >= n {
			stop() // this batch is committed before Consume returns
		}
		return nil
	})
}
