// Command group-consumer reads topics as a member of a consumer group with
// the Samsa Go SDK, printing each record, until interrupted.
//
//	go run ./examples/group-consumer -bootstrap 127.0.0.1:9092 -group printers -topic events
//
// Start it twice with the same -group: the topic's partitions are split
// between the two, and when one stops (Ctrl-C) the other takes them over.
// Each batch is committed after it was printed (at-least-once), so a
// restarted member resumes after the last batch it printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"

	"github.com/samsa-io/samsa/client"
)

func main() {
	bootstrap := flag.String("bootstrap", "", "bootstrap servers (default: $SAMSA_BOOTSTRAP or 127.0.0.1:9092)")
	group := flag.String("group", "printers", "consumer group")
	topics := flag.String("topic", "events", "comma-separated topics to read")
	fromEnd := flag.Bool("from-end", false, "with no committed offset, start at the end instead of the beginning")
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

	reset := client.StartBeginning
	if *fromEnd {
		reset = client.StartEnd
	}
	g, err := cl.NewGroupConsumer(*group, strings.Split(*topics, ","),
		client.GroupResetOffset(reset),
		client.GroupOnAssigned(func(_ context.Context, ps map[string][]int32) { log.Printf("assigned %v", ps) }),
		client.GroupOnRevoked(func(_ context.Context, ps map[string][]int32) { log.Printf("revoked %v", ps) }),
		client.GroupOnLost(func(_ context.Context, ps map[string][]int32) { log.Printf("lost %v", ps) }),
		client.GroupOnError(func(err error) { log.Printf("recovered: %v", err) }),
	)
	if err != nil {
		log.Fatal(err)
	}
	// Close leaves the group, so the partitions move at once.
	defer g.Close()

	err = g.Consume(ctx, func(_ context.Context, recs []client.Record) error {
		for _, r := range recs {
			fmt.Printf("%s/%d@%d %s: %s\n", r.Topic, r.Partition, r.Offset, r.Key, r.Value)
		}
		return nil // commit this batch
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Printf("consume: %v (retriable: %v)", err, client.IsRetriable(err))
	}
}
