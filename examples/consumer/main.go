// Command consumer prints a topic's records with the Samsa Go SDK, from the
// beginning, until interrupted.
//
//	go run ./examples/consumer -bootstrap 127.0.0.1:9092 -topic events
//
// This consumer has no consumer group: it reads every partition (or those
// named with client.ConsumePartition) and commits nothing. For a group
// member that commits, see examples/group-consumer.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/samsa-io/samsa/client"
)

func main() {
	bootstrap := flag.String("bootstrap", "", "bootstrap servers (default: $SAMSA_BOOTSTRAP or 127.0.0.1:9092)")
	topic := flag.String("topic", "events", "topic to read")
	fromEnd := flag.Bool("from-end", false, "read only records written from now on")
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

	start := client.StartBeginning
	if *fromEnd {
		start = client.StartEnd
	}
	c, err := cl.NewConsumer(*topic, client.ConsumeFrom(start))
	if err != nil {
		log.Fatal(err)
	}
	for {
		recs, err := c.Poll(ctx)
		if ctx.Err() != nil {
			fmt.Println("stopped; next offsets:", c.Positions())
			return
		}
		if err != nil {
			// Some partitions failed (e.g. the topic does not exist);
			// the records returned alongside are still good.
			log.Print(err)
		}
		for _, r := range recs {
			fmt.Printf("%d/%d %s: %s\n", r.Partition, r.Offset, r.Key, r.Value)
		}
	}
}
