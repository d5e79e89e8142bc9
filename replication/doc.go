// Package replication owns the state of each partition replica this broker
// hosts: its role (leader or follower) and leader epoch, the high watermark,
// the idempotent-producer state that decides whether a batch is new, a
// duplicate or out of order, and the waits built on them (acks=all and
// delayed fetches). It stores data through package storage and never
// imports the broker.
//
// This release runs every partition with a single in-sync replica, the
// node itself: the high watermark is the log's durable end offset. Follower
// fetching, ISR shrink/expand and AlterPartition arrive with multi-broker
// replication; the types here already carry the ISR and epochs they need.
//
// The Manager owns one background goroutine that applies each partition's
// cleanup.policy every log.retention.check.interval.ms: retention for
// "delete", a compaction pass for "compact" (storage.Log.Compact), both
// bounded by the high watermark. Partition.DeleteRecords moves the log
// start offset on request (KIP-107).
//
// # Invariants
//
//   - Offsets are assigned under Partition.appendMu, which also guards the
//     producer state, so the sequence check and the offset assignment of a
//     batch are one atomic step.
//   - The high watermark only ratchets up, and never passes the durable end
//     of the log on any ISR member, so a consumer never reads a record that a
//     crash could take back.
//   - acks=1 answers after the batch is durable on the leader; acks=all
//     answers only when the high watermark has passed the batch's last
//     offset. Neither answers an error for an append that may still become
//     durable: a wait cut short by the client going away sends nothing.
//
// # Lock order
//
// Manager.mu, then Partition.appendMu, then Partition.mu. storage.Log has its
// own locks below all of these.
package replication
