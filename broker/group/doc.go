// Package group is the consumer-group coordinator: the classic group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, with KIP-394
// member ids and KIP-345 static membership), the KIP-848 consumer group
// protocol (ConsumerGroupHeartbeat, ConsumerGroupDescribe: server-side
// assignors and epoch-based reconciliation, see consumer.go) and committed
// offsets, stored on the internal topic __consumer_offsets in Kafka's
// record formats (see records.go and consumer_records.go). A group id is
// either a classic group or a consumer group; an empty one may change kind.
//
// The coordinator of a group is the leader of __consumer_offsets partition
// PartitionFor(group, partitions): Java's String.hashCode, Kafka's abs, mod
// the partition count, so that Samsa and Kafka tools agree. The broker tells
// the Coordinator which of those partitions it leads (SetLeadership, from
// every metadata image); for each it runs a shard that loads the
// partition's groups and offsets by reading it from the log start, answers
// COORDINATOR_LOAD_IN_PROGRESS meanwhile, and NOT_COORDINATOR once the
// broker no longer leads it. Nothing here is specific to one node: with
// replicated partitions the shard moves with leadership.
//
// The package owns group and offset state only. It reads and appends to the
// offsets partitions through replication.Partition and never touches the
// metadata image, the controller or a connection; the broker's handlers
// check topics against the image and create __consumer_offsets.
//
// # Concurrency contract
//
// Each shard's state (groups, members, offsets, timers) is owned by one
// goroutine and has no locks. Its decision core (state, in state.go,
// classic.go, consumer.go, consumer_assign.go, assignor.go and
// offsets.go) is pure: it takes the time as an argument,
// answers through reply callbacks, and leaves the records it wants written
// in a queue; it never blocks, sleeps or reads a clock, so tests drive it by
// feeding requests and ticks. The owner goroutine (shard.go) runs requests
// submitted as closures, fires the earliest deadline with a single timer,
// appends queued records (one batch per write) and completes each write,
// in log order, once acks=all is reached — offsets become visible and
// commits are answered only then. A write without records completes with
// the writes before it (a consumer group heartbeat that changed nothing
// still must not answer ahead of them). One acker goroutine per shard waits for
// the acknowledgements. Handlers block in their Later until the owner
// replies; if the shard stops first they answer NOT_COORDINATOR.
//
// Coordinator.mu guards only the shard map and is a leaf: nothing is
// called with it held. Close stops every shard and returns after their
// goroutines exit; waiting requests are answered NOT_COORDINATOR.
package group
