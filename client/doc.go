// Package client is the Samsa Go SDK: a small, typed layer over franz-go's
// kgo and kadm for the common paths — topic administration, producing and
// consuming — against Samsa or any other Kafka-compatible cluster.
//
// # Shape
//
// A [Client] holds the connection settings (bootstrap servers, client id,
// logger, extra kgo options) and one kgo client used for administration.
// [Client.Admin] returns an [Admin] that shares it. [Client.NewProducer] and
// [Client.NewConsumer] each build their own kgo client, because producer and
// consumer settings (acks, compression, start offsets) are fixed when a kgo
// client is created.
//
//	cl, err := client.New(ctx, client.WithBootstrap("127.0.0.1:9092"))
//	if err != nil { ... }
//	defer cl.Close()
//
//	_, err = cl.Admin().CreateTopic(ctx, "events", 3, 1, nil)
//
//	p, err := cl.NewProducer(client.WithAcks(client.AcksAll))
//	err = p.Produce(ctx, client.Record{Topic: "events", Partition: client.AnyPartition, Value: []byte("hi")})
//	err = p.Flush(ctx)
//
//	c, err := cl.NewConsumer("events", client.ConsumeFrom(client.StartBeginning))
//	recs, err := c.Poll(ctx)
//
// # What it owns and what it must not touch
//
// The package owns only client-side state: kgo clients, buffered records and
// consume positions. It imports no other Samsa package, so users' programs
// never link the server. Consumer groups and transactions are not in this
// first cut.
//
// # Errors
//
// Errors are wrapped with the operation and the topic they concern; errors
// from the cluster keep their franz-go kerr value, so
// errors.Is(err, kerr.UnknownTopicOrPartition) works. The package's own
// sentinels are listed in one block in client.go.
//
// # Concurrency
//
// Client, Admin, Producer and Consumer are safe for concurrent use, except
// that a Consumer's Poll must be called from one goroutine at a time. Close
// is idempotent. Closing a Client closes every Producer and Consumer it
// created that is still open; Close returns after the kgo clients' own
// goroutines have stopped. Every blocking call takes a context.
package client
