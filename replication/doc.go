// Package replication owns the state of each partition replica this broker
// hosts: its role (leader or follower) and leader epoch, the high watermark,
// the idempotent-producer state that decides whether a batch is new, a
// duplicate or out of order, and the waits built on them (acks=all and
// delayed fetches). It stores data through package storage and never
// imports the broker.
//
// Partitions replicate with Kafka's ISR / high-watermark / leader-epoch
// model. The leader's decisions (high watermark, ISR shrink and expand,
// acks=all) come from LeaderCore (leader.go), a pure core fed by the
// partition; followers are fed by fetchers (fetcher.go), one goroutine per
// source broker, which copy the leader's batches with Fetch (replica id
// set), fsync them, and truncate a divergent tail by the leader's
// DivergingEpoch answer (KIP-320). ISR changes go to the active controller
// as AlterPartition through an ISRSender and take effect once committed.
// The leader side of a follower fetch is replica.go.
//
// The Manager owns three background loops: retention for "delete" and
// compaction passes for "compact" (storage.Log.Compact), each every
// log.retention.check.interval.ms and bounded by the high watermark, in
// separate goroutines so that a long compaction never delays retention;
// and the ISR check of every partition it leads (replica.lag.time.max.ms).
// Partition.DeleteRecords moves the log start offset on request (KIP-107);
// followers follow the leader's log start offset.
//
// # Invariants
//
//   - Offsets are assigned under Partition.appendMu, which also guards the
//     producer state, so the sequence check and the offset assignment of a
//     batch are one atomic step.
//   - The high watermark only ratchets up (a follower's only comes down if
//     it was truncated below it, which only an unclean election does), and
//     never passes the durable end of the log on any ISR member, so a
//     consumer never reads a record that a crash could take back. A replica
//     opens with its high watermark at the log start: it learns the real one
//     as leader from its followers, as follower from the leader.
//   - A follower fetches offset N only once everything below N is durable
//     on it, so the leader may count the fetch offset as durable there.
//   - acks=1 answers after the batch is durable on the leader; acks=all
//     answers only when the high watermark has passed the batch's last
//     offset. Neither answers an error for an append that may still become
//     durable: a wait cut short by the client going away sends nothing.
//
// # Lock order
//
// Manager.mu, then fetchers.mu, then sourceFetcher.mu; Manager.mu, then
// Partition.appendMu, then Partition.mu. storage.Log has its own locks
// below all of these. Role changes (setState) take appendMu, so an append
// or a follower's truncation never straddles one.
package replication
