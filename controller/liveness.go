package controller

// Broker liveness: the active controller turns what gossip says about the
// nodes into FenceBroker and UnfenceBroker records, and moves partition
// leadership off fenced brokers (and back when they return). Raft is never
// used for the liveness of brokers (design decision 4).
//
// The decision is a pure function of the image and the member table
// (livenessRecords); the liveness loop re-runs it, on the active
// controller only, whenever either changes, and commits what it returns
// through the usual proposal slot. The rules:
//
//   - An unfenced broker is fenced when gossip reports its node dead or
//     left, when its node gossips another incarnation id (the process
//     that registered is gone; a new one will register), or when gossip
//     has never reported its node and LivenessGrace has passed since this
//     controller became active (a new controller's gossip view is complete
//     within moments of its start; the grace keeps it from fencing a
//     broker it has not heard of yet).
//   - A fenced broker is unfenced when its node is alive in gossip with the
//     registration's incarnation id and broker epoch: the broker announces
//     the epoch once it sees its registration in its own image, so it has
//     followed the metadata log at least that far.
//   - A fenced broker leads no partition and leaves every ISR in which it
//     is not the last member (the last one stays: it is the only replica
//     that may lead again without losing data). A partition without a
//     leader gets the first unfenced ISR member in replica order; with
//     replication factor 1 that means it is leaderless while its broker
//     is fenced and led by it again once it is unfenced. Leaders are
//     chosen from the ISR, except for a topic with
//     unclean.leader.election.enable: when every ISR member is fenced, its
//     first unfenced replica in replica order leads with ISR = [itself],
//     losing what only the fenced members had (the operator's choice).

import (
	"context"
	"slices"
	"time"

	"github.com/samsa-io/samsa/metadata"
)

// MemberState is what gossip knows about one node.
type MemberState struct {
	// Alive is false once gossip has declared the node dead or left.
	Alive bool
	// Incarnation is the node's broker incarnation id (zero: none yet).
	Incarnation [16]byte
	// BrokerEpoch is the registration epoch the broker has seen applied
	// (0: not registered yet).
	BrokerEpoch int64
}

// Liveness is the controller's view of gossip.
type Liveness interface {
	// Members returns every node gossip has seen, by node id, and a
	// channel closed at the next change.
	Members() (map[int32]MemberState, <-chan struct{})
}

// livenessChange describes one fence or unfence decision, for the log.
type livenessChange struct {
	broker int32
	epoch  int64
	fence  bool
	reason string
}

// livenessRecords returns the records that bring img in line with the
// member table, and the decisions they carry. fenceUnknown says whether a
// broker gossip has never reported may be fenced yet; waiting reports
// whether such a broker was spared only for that reason. unclean says
// whether a topic allows unclean leader election (nil: none does).
func livenessRecords(img *metadata.Image, members map[int32]MemberState, fenceUnknown bool, unclean func(*metadata.Topic) bool) (recs []metadata.Record, changes []livenessChange, waiting bool) {
	fenced := map[int32]bool{}
	for _, b := range img.Brokers() {
		m, known := members[b.ID]
		fenced[b.ID] = b.Fenced
		switch {
		case !b.Fenced:
			reason := ""
			switch {
			case known && !m.Alive:
				reason = "gossip reports its node dead or gone"
			case known && m.Incarnation != b.IncarnationID:
				reason = "its node runs another incarnation (restarted)"
			case !known && fenceUnknown:
				reason = "gossip has never reported its node"
			case !known:
				waiting = true
			}
			if reason != "" {
				recs = append(recs, &metadata.FenceBrokerRecord{NodeID: b.ID, BrokerEpoch: b.Epoch})
				changes = append(changes, livenessChange{broker: b.ID, epoch: b.Epoch, fence: true, reason: reason})
				fenced[b.ID] = true
			}
		case known && m.Alive && m.Incarnation == b.IncarnationID && m.BrokerEpoch == b.Epoch:
			recs = append(recs, &metadata.UnfenceBrokerRecord{NodeID: b.ID, BrokerEpoch: b.Epoch})
			changes = append(changes, livenessChange{broker: b.ID, epoch: b.Epoch, reason: "alive in gossip with its registration"})
			fenced[b.ID] = false
		}
	}
	isFenced := func(id int32) bool {
		f, registered := fenced[id]
		return f || !registered
	}
	for _, t := range img.Topics() {
		allowUnclean := unclean != nil && unclean(t)
		for _, p := range t.Partitions {
			if rec := electLeader(t.ID, p, isFenced, allowUnclean); rec != nil {
				recs = append(recs, rec)
			}
		}
	}
	return recs, changes, waiting
}

// electLeader returns the change that keeps a partition's leader and ISR
// off fenced brokers, or nil when none is needed. With unclean, a
// partition whose ISR members are all fenced is led by its first unfenced
// replica, alone in the ISR.
func electLeader(topicID [16]byte, p metadata.Partition, fenced func(int32) bool, unclean bool) *metadata.PartitionChangeRecord {
	isr := make([]int32, 0, len(p.ISR))
	for _, r := range p.ISR {
		if !fenced(r) {
			isr = append(isr, r)
		}
	}
	if len(isr) == 0 {
		isr = p.ISR // the last in-sync replicas stay, to lead again
		if r, ok := firstUnfenced(p.Replicas, fenced); ok && unclean {
			isr = []int32{r}
		}
	}
	leader := p.Leader
	if leader == metadata.NoLeader || fenced(leader) || !slices.Contains(isr, leader) {
		leader = metadata.NoLeader
		for _, r := range p.Replicas {
			if slices.Contains(isr, r) && !fenced(r) {
				leader = r
				break
			}
		}
	}
	if leader == p.Leader && slices.Equal(isr, p.ISR) {
		return nil
	}
	rec := &metadata.PartitionChangeRecord{TopicID: topicID, Partition: p.ID}
	if leader != p.Leader {
		rec.Leader = &leader
	}
	if !slices.Equal(isr, p.ISR) {
		rec.ISR = slices.Clone(isr)
	}
	return rec
}

// livenessRetry is how soon the loop tries again after a failed commit.
const livenessRetry = time.Second

// livenessLoop runs livenessRecords whenever gossip, the image or the
// leadership changes, and commits its records while this node is the
// active controller.
func (c *Controller) livenessLoop() {
	defer c.wg.Done()
	for {
		members, gossipChanged := c.cfg.Liveness.Members()
		_, imageChanged := c.fsm.watch()
		var wake <-chan time.Time
		if c.IsLeader() {
			if wait := c.applyLiveness(members); wait > 0 {
				wake = time.After(wait)
			}
		}
		select {
		case <-c.stop:
			return
		case <-gossipChanged:
		case <-imageChanged:
		case <-c.becameActive:
		case <-wake:
		}
	}
}

// applyLiveness commits the liveness decisions for the latest image and
// returns when to look again without a change (0: only on a change).
func (c *Controller) applyLiveness(members map[int32]MemberState) time.Duration {
	graceLeft := c.cfg.LivenessGrace - time.Since(time.Unix(0, c.activeAt.Load()))
	recs, _, waiting := livenessRecords(c.fsm.Image(), members, graceLeft <= 0, c.uncleanElection)
	if len(recs) == 0 {
		if waiting {
			return graceLeft
		}
		return 0
	}
	var changes []livenessChange
	var before *metadata.Image
	_, err := c.commit(context.Background(), func(img *metadata.Image) ([]metadata.Record, error) {
		before = img
		recs, changes, _ = livenessRecords(img, members, graceLeft <= 0, c.uncleanElection)
		return recs, nil
	})
	if err != nil {
		select {
		case <-c.stop: // shutting down: the next active controller decides
		default:
			c.log.Warn().Err(err).Msg("committing broker fencing decisions failed; retrying")
		}
		return livenessRetry
	}
	for _, ch := range changes {
		msg := "broker unfenced"
		if ch.fence {
			msg = "broker fenced"
		}
		c.log.Info().Int32("broker", ch.broker).Int64("broker_epoch", ch.epoch).Str("reason", ch.reason).Msg(msg)
	}
	c.logElections(before, recs, "broker fencing", false)
	if moved := len(recs) - len(changes); moved > 0 {
		c.log.Info().Int("partitions", moved).Msg("partition leaders and ISRs changed to follow broker fencing")
	}
	return 0
}
