// Package gossip runs a node's membership in the cluster's gossip group
// (hashicorp/memberlist, SWIM with Lifeguard): every node, whatever its
// roles, joins one memberlist cluster, and its member metadata says who it
// is — node id, roles, the broker's incarnation id and broker epoch once
// registered, and its endpoints. The active controller reads the members
// (Watch) to fence brokers that gossip declares dead and to unfence them
// when they are back and registered; Raft is never used for the liveness
// of brokers.
//
// A member's name is its node id in decimal, so two live nodes with one id
// conflict visibly (logged) instead of silently sharing an identity.
//
// Failure detection: each node probes a random member every
// ProbeInterval; one that misses its direct and indirect probes becomes
// suspect, and dead once the suspicion timeout passes without a refutation
// (SuspicionMult × ProbeInterval, scaled by log10 of the cluster size; a
// suspect that is alive refutes as soon as it hears of it). With the
// defaults — 500 ms and 6 — a kill -9 is declared dead in about 3.5 s, and
// a process paused for 2 s refutes in time.
//
// It imports no other project package. Concurrency: Gossip's methods are
// safe for concurrent use; memberlist calls the delegates from its own
// goroutines, and they only update the member table under mu. Close is
// idempotent: it leaves the cluster, stops the rejoin goroutine and shuts
// memberlist down. memberlist's Shutdown does not wait for its own
// goroutines or stop its suspicion timers (a probe in flight, a timer that
// fires later), so Close first makes the log adapter and the event
// delegate ignore everything from then on.
package gossip
