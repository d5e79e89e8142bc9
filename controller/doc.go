// Package controller runs Samsa's controller quorum: the Raft group
// (hashicorp/raft, with raft-boltdb/v2 for the log and stable store and a
// file snapshot store) that holds the metadata log, and, on the Raft leader,
// the active controller that decides every metadata change. It also serves
// the controller listener, where brokers and admin clients send the
// controller's Kafka APIs (CreateTopics, DeleteTopics, CreatePartitions,
// AlterConfigs, IncrementalAlterConfigs, BrokerRegistration,
// AllocateProducerIds, DescribeQuorum, AddRaftVoter, RemoveRaftVoter,
// AlterPartition, ElectLeaders, AlterPartitionReassignments,
// ListPartitionReassignments).
//
// With several voters, every Raft connection starts with a handshake that
// refuses a node of another cluster or one started with another voter's
// id (raft_transport.go). On the active controller, the liveness loop
// (liveness.go) turns gossip's view of the nodes (Config.Liveness) into
// FenceBroker and UnfenceBroker records and keeps partition leaders on
// unfenced brokers (from outside the ISR only for topics with
// unclean.leader.election.enable); with Config.AutoLeaderRebalance a
// second loop hands leadership back to preferred replicas every
// LeaderImbalanceCheckInterval (elections.go), and the reassignment loop
// completes partition reassignments once their target replicas are in
// sync (reassign.go).
//
// A broker-only node runs a Controller with Config.Observer: a Raft
// non-voter (the analogue of a KRaft observer) that applies the committed
// log to its own image with the same FSM and snapshots, never bootstraps,
// never votes or stands for election, and serves no controller listener.
// The active controller adds it to the quorum when its broker registers
// with a RAFT listener and removes it when the broker is unregistered
// (observers.go).
//
// Config.Voters only bootstraps a new cluster; afterwards the Raft
// configuration is authoritative, changed online by AddVoter and
// RemoveVoter (membership.go); a node added that way starts with
// Config.Join and never bootstraps. Each data directory has a directory
// id, exchanged in the handshake, so that a voter that lost its log is
// refused rather than let back in empty (membership.go); a corrupt raft.db
// is refused at start. The leader's view of each follower's progress comes
// from the transport (progress.go).
//
// It owns DataDir: meta.properties (the cluster, node and directory ids
// the directory belongs to; a directory of another cluster or node is
// refused), and raft/ (raft.db, which also keeps the peers' directory
// ids, and snapshots/). It imports metadata, for the records and
// the image, and protocol, for the listener; it never reaches into broker
// state.
//
// # Commit path
//
// An operation (a Go method such as CreateTopics, which the listener's
// handlers call from protocol.Later) takes the proposal slot, reads the
// latest image, validates the request against it and builds a batch of
// metadata records, then commits the batch with raft.Apply and waits until
// the FSM has applied it, and only then releases the slot. Decisions are
// therefore serialised, and each one sees the effects of the one before.
// Once a batch is proposed, the operation waits for Raft's verdict whatever
// its context says; if leadership is lost meanwhile the outcome is unknown
// and the client gets NOT_CONTROLLER, so that it retries at the new active
// controller (which will see the change if it committed). On a node that is
// not the leader, or a new leader that has not yet applied every entry of
// earlier terms (it waits for a barrier first), operations answer
// NOT_CONTROLLER.
//
// The FSM applies each committed batch to the image with metadata's
// deterministic Image.Apply; a batch that contradicts the image is rejected
// whole on every replica alike. Snapshots are the encoded image
// (Image.EncodeSnapshot); a restart restores the latest snapshot and
// replays the log after it.
//
// # Concurrency contract
//
// Image returns the latest image without locking; images are immutable.
// Subscribe delivers every image with its delta, in apply order, from a
// single publisher goroutine, so Raft never waits for a subscriber.
// The liveness, rebalance and reassignment loops are goroutines started
// with the others and stopped by Close; they commit through the same
// proposal slot.
// The Controller's methods are safe for concurrent use. Close is idempotent
// and returns after every goroutine the controller started has exited:
// the listener first (in-flight requests finish), then Raft, then the
// stores and the publisher.
package controller
