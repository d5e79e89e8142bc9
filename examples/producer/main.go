// Command producer writes keyed records to a topic with the Samsa Go SDK.
//
//	go run ./examples/producer -bootstrap 127.0.0.1:9092 -topic events -n 100
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
)

func main() {
	bootstrap := flag.String("bootstrap", "", "bootstrap servers (default: $SAMSA_BOOTSTRAP or 127.0.0.1:9092)")
	topic := flag.String("topic", "events", "topic to write to (created with 3 partitions if missing)")
	n := flag.Int("n", 100, "records to write")
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

	p, err := cl.NewProducer(client.WithLinger(5 * time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	for i := range *n {
		key := fmt.Appendf(nil, "user-%d", i%10)
		value := fmt.Appendf(nil, "event %d at %s", i, time.Now().Format(time.RFC3339Nano))
		if err := p.Produce(ctx, client.NewRecord(*topic, key, value)); err != nil {
			log.Fatal(err)
		}
	}
	// Flush waits for every record and reports those that failed.
	if err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %d records to %s\n", *n, *topic)
}
