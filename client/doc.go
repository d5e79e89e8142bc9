// Package client is the Samsa Go SDK: a small, typed layer over franz-go's
// kgo and kadm for the common paths — topic administration, producing and
// consuming — against Samsa or any other Kafka-compatible cluster.
//
// # Shape
//
// A [Client] holds the connection settings (bootstrap servers, client id,
// logger, extra kgo options) and one kgo client used for administration.
// [Client.Admin] returns an [Admin] that shares it. [Client.NewProducer],
// [Client.NewConsumer] and [Client.NewGroupConsumer] each build their own
// kgo client, because producer and consumer settings (acks, compression,
// start offsets, group) are fixed when a kgo client is created.
//
//	cl, err := client.New(ctx, client.WithBootstrap("127.0.0.1:9092"))
//	if err != nil { ... }
//	defer cl.Close()
//
//	_, err = cl.Admin().CreateTopic(ctx, "events", 3, 1, nil)
//
//	p, err := cl.NewProducer(client.WithAcks(client.AcksAll))
//	err = p.ProduceAsync(ctx, client.NewRecord("events", key, value), func(r client.Record, err error) { ... })
//	err = p.Close() // waits for buffered records; reports those that failed
//
//	g, err := cl.NewGroupConsumer("billing", []string{"events"})
//	err = g.Consume(ctx, func(ctx context.Context, recs []client.Record) error {
//		... // the batch is committed once this returns nil
//	})
//
// Producing: [Producer.Produce] and [Producer.ProduceAsync] buffer and
// return; [Producer.ProduceSync] waits. Every accepted record is reported
// once, and [Producer.Close] never drops one silently.
//
// Consuming: a [GroupConsumer] shares partitions with the other members
// of its group and commits after its handler (at-least-once), with
// assignment callbacks, Seek, Pause and Resume. A [Consumer] reads
// partitions directly, without a group, and commits nothing.
// [TypedProducer], [TypedConsumer] and [TypedGroupConsumer] add serdes
// (package serde).
//
// # What it owns and what it must not touch
//
// The package owns only client-side state: kgo clients, buffered records,
// consume positions and group membership. It imports no other Samsa
// package, so users' programs never link the server. Transactions are not
// in this cut (a consumer can read with ReadCommitted).
//
// # Testing
//
// Package client/samsatest runs real Samsa nodes inside a Go test: one
// node by default, or a three-node cluster with WithNodes(3), whose nodes a
// test can Kill (a crash: the others notice through gossip and elect new
// partition leaders, group coordinators and controller) and Restart, to
// check how code using this package behaves through a failover. The
// default producer (acks=all, idempotent) loses and duplicates nothing
// through a leader's death; kgo refreshes metadata at most every 5 s by
// default, so tests that want to see failover within a second pass
// WithKgoOptions(kgo.MetadataMinAge(100*time.Millisecond)). See
// docs/sdk.md.
//
// # Errors
//
// Errors are wrapped with the operation and where it happened: a
// [*PartitionError] names the topic, partition and offset of a failed
// produce, fetch or commit, and ends with advice when the remedy is known.
// Errors from the cluster keep their franz-go kerr value, so
// errors.Is(err, kerr.UnknownTopicOrPartition) works. [IsRetriable] tells
// a failure that can pass (a leader moving, a timeout) from one that
// repeats until something changes. The package's own sentinels are listed
// in one block in client.go.
//
// # Concurrency
//
// Client, Admin, Producer, Consumer and GroupConsumer are safe for
// concurrent use, except that a Consumer's Poll must be called from one
// goroutine at a time, and one GroupConsumer.Consume runs at a time.
// Callbacks (ProduceAsync's, the delivery handler, the group's assignment
// callbacks) run on goroutines the package owns and must not call Close.
// Close is idempotent. Closing a Client closes every Producer, Consumer
// and GroupConsumer it created that is still open; Close returns after
// the kgo clients' own goroutines have stopped. Every blocking call takes
// a context.
package client
