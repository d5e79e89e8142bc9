package replication

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// LeaderCore is the pure decision core of one partition leader under Kafka's
// ISR / high-watermark model (Kafka's replication design, KIP-101/279/320 for
// epochs, KIP-497 for AlterPartition, KIP-966 for the min-ISR rule on the
// high watermark). It does no IO, starts no goroutines and reads no clock:
// the goroutine that owns a partition feeds it events (an append, an fsync,
// a follower fetch, a tick with the current time, an AlterPartition answer,
// a metadata change) and acts on the decisions it returns (a new high
// watermark to publish and wake waiters with, an AlterPartition to send, an
// acks=all request to answer). It is not safe for concurrent use.
//
// Partition owns one LeaderCore under its mu and takes every HW, acks=all
// and ISR decision from it; follower fetches arrive through the broker's
// Fetch handler (FollowerFetched) and AlterPartition answers through the
// partition's ISR sender.
//
// # Invariants
//
//   - The high watermark only ratchets up: no event lowers it, not even a
//     new leader epoch whose followers have not fetched yet.
//   - The high watermark never passes the leader's durable end offset nor the
//     log end offset of any member of the maximal ISR (see below), and it
//     advances only while the committed ISR has at least min.insync.replicas
//     members (KIP-966). So every record below it is durable on the leader,
//     on every committed-ISR member, and on at least min.insync.replicas
//     replicas.
//   - acks=all answers only when the high watermark is above the batch's last
//     offset; it answers NOT_ENOUGH_REPLICAS_AFTER_APPEND instead of success
//     when the maximal ISR is then smaller than min.insync.replicas (the
//     records are written and committed, but under-replicated), as Kafka's
//     checkEnoughReplicasReachOffset does. An append with acks=all is refused
//     up front (NOT_ENOUGH_REPLICAS) when the committed ISR is too small.
//   - At most one ISR change is in flight. While it is, no other is proposed;
//     the committed ISR changes only when the controller commits one (or
//     metadata brings a newer partition epoch).
//
// # Committed, pending and maximal ISR
//
// An ISR change takes effect only once the controller commits it with a new
// partition epoch. Until then the leader keeps the committed ISR and one
// pending change, and computes the high watermark over the maximal ISR, the
// union of the two (Kafka's "maximal ISR", KIP-497):
//
//   - Expansion: the joining follower counts at once. Its LEO is already at
//     least the HW (the condition for proposing it), so counting it costs
//     nothing now, and it must count: the moment the controller commits, the
//     follower is a committed member that could be elected leader, so it must
//     already hold everything below the HW. Counting it only after the commit
//     would let the HW run past it during the round trip.
//   - Shrink: the leaving follower keeps counting until the commit. Until the
//     controller has agreed, that follower is still in the committed ISR and
//     may be elected leader (say the controller fences this broker); if the HW
//     passed records it lacks, an elected follower would truncate acknowledged
//     writes. So a shrink stalls the HW until it is committed, never speeds it.
//
// The maximal ISR is therefore the committed ISR while shrinking and the
// committed ISR plus the new member while expanding.
//
// # Shrinking below min.insync.replicas
//
// Kafka shrinks the ISR whatever min.insync.replicas says: a follower that has
// not caught up within replica.lag.time.max.ms is proposed for removal even if
// the ISR then falls below min.insync.replicas. This core does the same, and
// relies on the KIP-966 rule to keep its promise that the HW never passes
// records not on min.insync.replicas replicas: once the committed ISR is below
// min.insync.replicas the HW stops, acks=all appends are refused with
// NOT_ENOUGH_REPLICAS, and acks=all requests already waiting stay waiting
// (the request timeout answers them; the records may still commit, and the
// producer's retry is deduplicated). Refusing the shrink instead would keep a
// dead follower in the ISR, where it would hold the HW for good and remain
// electable, which is worse for both availability and safety.
//
// min.insync.replicas is capped at the replication factor (Kafka's
// effectiveMinIsr), so a topic with fewer replicas than the setting can still
// commit.
//
// Not modelled (yet): Kafka also holds the HW for a caught-up follower that is
// about to join the ISR, and excludes fenced or shutting-down brokers
// (KIP-841, KIP-903) from expansion; both need broker registration state.
type LeaderCore struct {
	cfg LeaderConfig

	leader         bool
	leaderEpoch    int32
	partitionEpoch int32
	epochStart     int64 // the leader's LEO when this leader epoch began
	replicas       []int32
	isr            []int32 // committed
	pending        *ISRChange
	lastRejection  error

	followers map[int32]*followerState

	leo     int64 // the leader's log end offset
	durable int64 // the leader's durable (fsynced) end offset
	hw      int64
}

// LeaderConfig is what a LeaderCore needs besides events.
type LeaderConfig struct {
	// NodeID is this broker's id.
	NodeID int32
	// MinInsyncReplicas is the topic's min.insync.replicas.
	MinInsyncReplicas int
	// ReplicaLagTimeMaxMs is replica.lag.time.max.ms: how long a follower may
	// go without catching up to the leader's LEO before it is shrunk out.
	ReplicaLagTimeMaxMs int64
}

// DefaultReplicaLagTimeMaxMs is Kafka's default replica.lag.time.max.ms.
const DefaultReplicaLagTimeMaxMs = 30000

// followerState is what the leader knows about one follower. Times are in
// milliseconds on the caller's clock.
type followerState struct {
	leo                int64 // the last fetch offset; -1 until the first fetch of this epoch
	lastCaughtUp       int64 // the last time the follower was known to have the leader's LEO
	lastFetch          int64 // the time of the last fetch
	lastFetchLeaderLEO int64 // the leader's LEO at the last fetch
}

// ISRChange is a proposed AlterPartition: the full new ISR and the leader and
// partition epochs the proposal is based on.
type ISRChange struct {
	Shrink         bool // false: expansion
	ISR            []int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// Ready holds the decisions an event led to.
type Ready struct {
	// HighWatermark is the high watermark after the event.
	HighWatermark int64
	// Advanced reports that the event moved the high watermark: wake acks=all
	// waiters and delayed fetches.
	Advanced bool
	// Propose, when set, is an ISR change to send to the controller as
	// AlterPartition. It is in flight from now on: answer it with
	// AlterPartitionCommitted or AlterPartitionRejected.
	Propose *ISRChange
}

// Errors of the leader core. Each wraps the Kafka error code it answers with.
var (
	errNotReplica = fmt.Errorf("replication: fetch from a broker that is not a follower of this partition: %w",
		kerr.NotLeaderForPartition)
	errFetchBeyondLEO = fmt.Errorf("replication: follower fetch offset is outside the leader's log: %w",
		kerr.OffsetOutOfRange)
	errNotEnoughReplicasAfterAppend = fmt.Errorf("replication: committed, but the ISR is smaller than min.insync.replicas: %w",
		kerr.NotEnoughReplicasAfterAppend)
	errStaleLeaderEpoch = fmt.Errorf("replication: leader epoch is older than the current one: %w",
		kerr.FencedLeaderEpoch)
	errStalePartitionEpoch = fmt.Errorf("replication: partition epoch is not newer than the current one: %w",
		kerr.InvalidUpdateVersion)
	errISRNotReplicas = fmt.Errorf("replication: ISR member is not a replica: %w", kerr.InvalidRequest)
)

// NewLeaderCore returns a core for a replica that is not leading yet, with
// its log's end offset, durable end offset and high watermark as recovered.
func NewLeaderCore(cfg LeaderConfig, leo, durable, hw int64) *LeaderCore {
	return &LeaderCore{
		cfg: cfg, leaderEpoch: -1, partitionEpoch: -1,
		leo: leo, durable: min(durable, leo), hw: hw,
		followers: make(map[int32]*followerState),
	}
}

// HighWatermark returns the current high watermark.
func (c *LeaderCore) HighWatermark() int64 { return c.hw }

// ISR returns the committed ISR.
func (c *LeaderCore) ISR() []int32 { return slices.Clone(c.isr) }

// Pending returns the ISR change in flight, nil if none.
func (c *LeaderCore) Pending() *ISRChange { return c.pending }

// LastRejection returns the error of the last rejected AlterPartition.
func (c *LeaderCore) LastRejection() error { return c.lastRejection }

// Reconfigure applies new topic settings; lowering min.insync.replicas may
// let the high watermark advance.
func (c *LeaderCore) Reconfigure(minInsync int, lagTimeMaxMs int64) Ready {
	c.cfg.MinInsyncReplicas, c.cfg.ReplicaLagTimeMaxMs = minInsync, lagTimeMaxMs
	return c.ready(c.advanceHW(), nil)
}

// BecomeLeader makes this replica the leader at epoch with the given replica
// set and committed ISR, from a metadata image. A new leader epoch starts at
// the leader's LEO (KIP-101), forgets every follower's LEO (a follower must
// fetch, and so truncate to this leader, before it counts), and gives
// committed-ISR followers a full replica.lag.time.max.ms from now before
// they can be shrunk out; the high watermark is kept. The same epoch with a
// newer partition epoch updates replicas and ISR and keeps follower state.
// Any ISR change in flight is dropped unless the partition epoch is
// unchanged: a newer image supersedes it.
func (c *LeaderCore) BecomeLeader(epoch, partitionEpoch int32, replicas, isr []int32, now int64) (Ready, error) {
	if epoch < c.leaderEpoch || (epoch == c.leaderEpoch && c.leader && partitionEpoch < c.partitionEpoch) {
		return c.ready(false, nil), errStaleLeaderEpoch
	}
	for _, id := range isr {
		if !slices.Contains(replicas, id) {
			return c.ready(false, nil), fmt.Errorf("ISR member %d, replicas %v: %w", id, replicas, errISRNotReplicas)
		}
	}
	newEpoch := epoch != c.leaderEpoch || !c.leader
	if newEpoch || partitionEpoch != c.partitionEpoch {
		c.pending = nil
	}
	c.leader, c.leaderEpoch, c.partitionEpoch = true, epoch, partitionEpoch
	c.replicas, c.isr = sortedIDs(replicas), sortedIDs(isr)
	if newEpoch {
		c.epochStart = c.leo
		c.followers = make(map[int32]*followerState)
	}
	for id := range c.followers {
		if !slices.Contains(c.replicas, id) {
			delete(c.followers, id)
		}
	}
	for _, id := range c.replicas {
		if id == c.cfg.NodeID || c.followers[id] != nil {
			continue
		}
		f := &followerState{leo: -1, lastFetchLeaderLEO: -1}
		if slices.Contains(c.isr, id) {
			f.lastCaughtUp = now
		}
		c.followers[id] = f
	}
	return c.ready(c.advanceHW(), nil), nil
}

// BecomeFollower records that another broker leads from epoch on: this core
// stops deciding, and acks=all requests still waiting are answered
// NOT_LEADER_OR_FOLLOWER (the records may still commit under the new leader;
// the producer's retry is deduplicated).
func (c *LeaderCore) BecomeFollower(epoch int32) {
	c.leader, c.pending = false, nil
	c.leaderEpoch = max(c.leaderEpoch, epoch)
	c.followers = make(map[int32]*followerState)
}

// FollowerLog records the state of this replica's log while it follows:
// its end offset, durable end offset, and the high watermark learnt from
// the leader, capped at the log end. It is the one event that may lower the
// high watermark: a follower truncated below it (only an unclean election
// can make it) must not claim offsets it no longer holds.
func (c *LeaderCore) FollowerLog(leo, durable, leaderHW int64) {
	if c.leader {
		return
	}
	c.leo, c.durable = leo, min(durable, leo)
	c.hw = min(max(c.hw, leaderHW), leo)
}

// IsLeader reports whether the core is deciding as leader.
func (c *LeaderCore) IsLeader() bool { return c.leader }

// LeaderAppended records that the leader's log now ends at leo. It cannot
// move the high watermark: the new records are not durable yet.
func (c *LeaderCore) LeaderAppended(leo int64) Ready {
	c.leo = max(c.leo, leo)
	return c.ready(false, nil)
}

// LeaderDurable records that the leader's log is durable up to offset
// (exclusive). The log necessarily extends that far.
func (c *LeaderCore) LeaderDurable(offset int64) Ready {
	c.durable = max(c.durable, offset)
	c.leo = max(c.leo, c.durable)
	return c.ready(c.advanceHW(), nil)
}

// FollowerFetched records a fetch by replica at fetchOffset at time now. The
// fetch offset is the follower's LEO and proves it holds everything below it
// (durably: with durability fsync a follower fetches the next offset only
// after syncing what it fetched). It may propose adding the follower to the
// ISR, and may advance the high watermark.
//
// A follower is caught up at now if it fetched the leader's LEO, and was
// caught up at its previous fetch if it now has what the leader had then: a
// follower that keeps pace with a busy leader is never a full fetch behind.
func (c *LeaderCore) FollowerFetched(replica int32, fetchOffset, now int64) (Ready, error) {
	if !c.leader {
		return c.ready(false, nil), errNotLeader
	}
	f := c.followers[replica]
	if f == nil {
		return c.ready(false, nil), fmt.Errorf("replica %d, replicas %v: %w", replica, c.replicas, errNotReplica)
	}
	if fetchOffset < 0 || fetchOffset > c.leo {
		return c.ready(false, nil), fmt.Errorf("fetch offset %d, leader LEO %d: %w", fetchOffset, c.leo, errFetchBeyondLEO)
	}
	switch {
	case fetchOffset >= c.leo:
		f.lastCaughtUp = max(f.lastCaughtUp, now)
	case fetchOffset >= f.lastFetchLeaderLEO:
		f.lastCaughtUp = max(f.lastCaughtUp, f.lastFetch)
	}
	f.leo, f.lastFetch, f.lastFetchLeaderLEO = fetchOffset, now, c.leo
	// Expand before recomputing the HW: the HW must not run past a
	// follower that qualified for the ISR at this fetch.
	propose := c.maybeExpand(replica)
	return c.ready(c.advanceHW(), propose), nil
}

// maybeExpand proposes adding replica to the ISR when no change is in flight
// and its LEO has reached both the HW and the start of this leader epoch
// (Kafka's isFollowerInSync: a follower behind the epoch start may still
// hold a divergent tail it has not truncated).
func (c *LeaderCore) maybeExpand(replica int32) *ISRChange {
	f := c.followers[replica]
	if c.pending != nil || slices.Contains(c.isr, replica) || f.leo < c.hw || f.leo < c.epochStart {
		return nil
	}
	return c.propose(false, sortedIDs(append(slices.Clone(c.isr), replica)))
}

// Tick runs the ISR shrink check at time now: committed-ISR followers that
// have not caught up to the leader's LEO within replica.lag.time.max.ms are
// proposed for removal, all at once, whatever that leaves of
// min.insync.replicas (see the type's comment). Nothing is proposed while
// another change is in flight.
func (c *LeaderCore) Tick(now int64) Ready {
	if !c.leader || c.pending != nil {
		return c.ready(false, nil)
	}
	var keep []int32
	for _, id := range c.isr {
		f := c.followers[id]
		if id == c.cfg.NodeID || f == nil || f.leo == c.leo || now-f.lastCaughtUp <= c.cfg.ReplicaLagTimeMaxMs {
			keep = append(keep, id)
		}
	}
	if len(keep) == len(c.isr) {
		return c.ready(false, nil)
	}
	return c.ready(false, c.propose(true, keep))
}

func (c *LeaderCore) propose(shrink bool, isr []int32) *ISRChange {
	c.pending = &ISRChange{Shrink: shrink, ISR: isr, LeaderEpoch: c.leaderEpoch, PartitionEpoch: c.partitionEpoch}
	return c.pending
}

// AlterPartitionCommitted records that the controller committed isr at
// partitionEpoch. The committed ISR is the controller's answer, which may
// differ from the proposal. A partition epoch not above the current one is a
// stale answer and changes nothing.
func (c *LeaderCore) AlterPartitionCommitted(isr []int32, partitionEpoch int32) (Ready, error) {
	if !c.leader {
		return c.ready(false, nil), errNotLeader
	}
	if partitionEpoch <= c.partitionEpoch {
		return c.ready(false, nil), fmt.Errorf("partition epoch %d, current %d: %w", partitionEpoch, c.partitionEpoch, errStalePartitionEpoch)
	}
	for _, id := range isr {
		if !slices.Contains(c.replicas, id) {
			return c.ready(false, nil), fmt.Errorf("ISR member %d, replicas %v: %w", id, c.replicas, errISRNotReplicas)
		}
	}
	c.isr, c.partitionEpoch, c.pending = sortedIDs(isr), partitionEpoch, nil
	return c.ready(c.advanceHW(), nil), nil
}

// AlterPartitionRejected records that the controller refused the change in
// flight (INVALID_UPDATE_VERSION, FENCED_LEADER_EPOCH, INELIGIBLE_REPLICA,
// ...). The committed ISR stands and nothing is in flight any more; the next
// fetch or tick proposes again if still warranted. Transport errors are not
// rejections: the sender retries those without telling the core. Dropping a
// rejected expansion shrinks the maximal ISR, which may let the HW advance.
func (c *LeaderCore) AlterPartitionRejected(err error) Ready {
	if c.pending == nil {
		return c.ready(false, nil)
	}
	c.pending, c.lastRejection = nil, err
	return c.ready(c.advanceHW(), nil)
}

// CheckAppend refuses an acks=all append when the committed ISR is smaller
// than min.insync.replicas (NOT_ENOUGH_REPLICAS), before anything is written.
func (c *LeaderCore) CheckAppend(acks int16) error {
	if !c.leader {
		return errNotLeader
	}
	if acks == -1 && len(c.isr) < c.effectiveMinISR() {
		return fmt.Errorf("%d in-sync replicas, min.insync.replicas is %d: %w", len(c.isr), c.effectiveMinISR(), kerr.NotEnoughReplicas)
	}
	return nil
}

// CanAck reports whether an acks=all request whose last record is at
// lastOffset can be answered now, and the answer's error: success once the
// HW is above lastOffset, NOT_ENOUGH_REPLICAS_AFTER_APPEND if the maximal ISR
// is then below min.insync.replicas, NOT_LEADER_OR_FOLLOWER if this replica
// no longer leads. ok is false while the request must keep waiting.
func (c *LeaderCore) CanAck(lastOffset int64) (ok bool, err error) {
	switch {
	case !c.leader:
		return true, errNotLeader
	case c.hw <= lastOffset:
		return false, nil
	case len(c.maximalISR()) < c.effectiveMinISR():
		return true, errNotEnoughReplicasAfterAppend
	}
	return true, nil
}

// advanceHW moves the HW to the minimum of the leader's durable offset and
// every other maximal-ISR member's LEO, if that is higher, and only while the
// committed ISR has min.insync.replicas members (KIP-966).
func (c *LeaderCore) advanceHW() bool {
	if !c.leader || len(c.isr) < c.effectiveMinISR() {
		return false
	}
	hw := c.durable
	for _, id := range c.maximalISR() {
		if f := c.followers[id]; id != c.cfg.NodeID && f != nil {
			hw = min(hw, f.leo)
		}
	}
	if hw <= c.hw {
		return false
	}
	c.hw = hw
	return true
}

// maximalISR is the committed ISR plus any member a pending expansion adds;
// a pending shrink removes no one until it is committed.
func (c *LeaderCore) maximalISR() []int32 {
	if c.pending == nil || c.pending.Shrink {
		return c.isr
	}
	out := slices.Clone(c.isr)
	for _, id := range c.pending.ISR {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// effectiveMinISR is min.insync.replicas capped at the replication factor.
func (c *LeaderCore) effectiveMinISR() int {
	return max(1, min(c.cfg.MinInsyncReplicas, len(c.replicas)))
}

func (c *LeaderCore) ready(advanced bool, propose *ISRChange) Ready {
	return Ready{HighWatermark: c.hw, Advanced: advanced, Propose: propose}
}

func sortedIDs(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
