package controller

// Leader elections beyond the liveness rules (liveness.go): preferred
// leader election, periodic (auto.leader.rebalance.enable) or on request
// (ElectLeaders PREFERRED), and unclean election, by topic config
// (unclean.leader.election.enable, in the liveness pass) or on request
// (ElectLeaders UNCLEAN).
//
// The decisions are pure functions of the image, like the liveness ones:
//
//   - Preferred: the preferred replica is the first of a partition's
//     replicas (of its target replicas during a reassignment). It takes the leadership only while it is registered,
//     unfenced and in the ISR; the ISR is left as it is. A partition it
//     already leads needs no election (ELECTION_NOT_NEEDED); one whose
//     preferred replica cannot lead answers PREFERRED_LEADER_NOT_AVAILABLE.
//   - Balance (Kafka's checkAndTriggerAutoLeaderRebalance): for every
//     broker, imbalance = the partitions it is preferred for but does not
//     lead / the partitions it is preferred for. Above
//     LeaderImbalancePerBrokerPercentage, each of those partitions whose
//     preferred replica can lead gets a preferred election. Partitions
//     being reassigned are left out, as in Kafka.
//   - Unclean: a partition with an unfenced leader needs no election. Else
//     the first unfenced ISR member in replica order leads (a clean
//     election); when every ISR member is fenced, the first unfenced
//     replica leads with ISR = [itself]: the records only the fenced
//     members had are lost, which the operator accepted by asking. None
//     unfenced: ELIGIBLE_LEADERS_NOT_AVAILABLE.
//
// A new leader's epoch starts at its log end (KIP-101); the other replicas
// truncate to it when they fetch (KIP-320), so after an unclean election
// their extra records are gone on every replica.

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/metadata"
)

// Election types of ElectLeaders (KIP-460).
const (
	electionPreferred int8 = 0
	electionUnclean   int8 = 1
)

// fencedIn returns the fencing test of img: unregistered brokers count as
// fenced.
func fencedIn(img *metadata.Image) func(int32) bool {
	return func(id int32) bool {
		b, ok := img.Broker(id)
		return !ok || b.Fenced
	}
}

// firstUnfenced returns the first of ids that is not fenced.
func firstUnfenced(ids []int32, fenced func(int32) bool) (int32, bool) {
	for _, id := range ids {
		if !fenced(id) {
			return id, true
		}
	}
	return metadata.NoLeader, false
}

// electPreferred returns the change that makes the preferred replica lead.
func electPreferred(topicID [16]byte, p metadata.Partition, fenced func(int32) bool) (*metadata.PartitionChangeRecord, error) {
	target := p.TargetReplicas()
	if len(target) == 0 {
		return nil, errorf(kerr.PreferredLeaderNotAvailable, "partition %d has no replicas", p.ID)
	}
	pref := target[0]
	switch {
	case p.Leader == pref:
		return nil, errorf(kerr.ElectionNotNeeded, "the preferred replica %d already leads", pref)
	case fenced(pref):
		return nil, errorf(kerr.PreferredLeaderNotAvailable, "the preferred replica %d is fenced or not registered", pref)
	case !slices.Contains(p.ISR, pref):
		return nil, errorf(kerr.PreferredLeaderNotAvailable, "the preferred replica %d is not in the ISR %v", pref, p.ISR)
	}
	return &metadata.PartitionChangeRecord{TopicID: topicID, Partition: p.ID, Leader: &pref}, nil
}

// electUnclean returns the change that gives a leaderless partition a
// leader, from outside the ISR if no ISR member is unfenced.
func electUnclean(topicID [16]byte, p metadata.Partition, fenced func(int32) bool) (*metadata.PartitionChangeRecord, error) {
	if p.Leader != metadata.NoLeader && !fenced(p.Leader) {
		return nil, errorf(kerr.ElectionNotNeeded, "broker %d leads", p.Leader)
	}
	rec := electLeader(topicID, p, fenced, true)
	if rec == nil || rec.Leader == nil || *rec.Leader == metadata.NoLeader {
		return nil, errorf(kerr.EligibleLeadersNotAvailable, "no replica of %v is unfenced", p.Replicas)
	}
	return rec, nil
}

// imbalancedLeaderRecords returns the preferred elections that rebalance
// leadership: for every broker whose share of preferred partitions led by
// another is above percent, each of those partitions whose preferred
// replica can lead.
func imbalancedLeaderRecords(img *metadata.Image, percent int) []metadata.Record {
	type share struct {
		preferred int
		misplaced []*metadata.PartitionChangeRecord // nil entries: cannot move
	}
	fenced := fencedIn(img)
	shares := map[int32]*share{}
	var order []int32
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if len(p.Replicas) == 0 || p.Reassigning() {
				continue // a reassignment chooses the leader when it completes
			}
			pref := p.Replicas[0]
			s := shares[pref]
			if s == nil {
				s = &share{}
				shares[pref] = s
				order = append(order, pref)
			}
			s.preferred++
			if p.Leader != pref {
				rec, _ := electPreferred(t.ID, p, fenced)
				s.misplaced = append(s.misplaced, rec)
			}
		}
	}
	slices.Sort(order)
	var recs []metadata.Record
	for _, id := range order {
		s := shares[id]
		if len(s.misplaced)*100 <= percent*s.preferred {
			continue
		}
		for _, rec := range s.misplaced {
			if rec != nil {
				recs = append(recs, rec)
			}
		}
	}
	return recs
}

// uncleanElection reports whether topic t allows unclean leader election:
// its override, else the cluster default, else Kafka's (false).
func (c *Controller) uncleanElection(t *metadata.Topic) bool {
	const key = metadata.ConfigUncleanLeaderElectionEnable
	if _, ok := t.Configs[key]; ok {
		return metadata.TopicConfigBool(t.Configs, key)
	}
	if v, ok := c.cfg.TopicConfigDefaults[key]; ok {
		return metadata.TopicConfigBool(map[string]string{key: v}, key)
	}
	return metadata.TopicConfigBool(nil, key)
}

// logElections logs the leader changes of recs against before, the image
// they were decided on: always a leader from outside the old ISR (an
// unclean election), as a warning since records may be lost; the others
// only with all.
func (c *Controller) logElections(before *metadata.Image, recs []metadata.Record, reason string, all bool) {
	for _, r := range recs {
		rec, ok := r.(*metadata.PartitionChangeRecord)
		if !ok || rec.Leader == nil {
			continue
		}
		t, ok := before.TopicByID(rec.TopicID)
		if !ok {
			continue
		}
		p, _ := t.Partition(rec.Partition)
		ev := c.log.Info()
		msg := "partition leader elected"
		if *rec.Leader != metadata.NoLeader && !slices.Contains(p.ISR, *rec.Leader) {
			ev, msg = c.log.Warn(), "unclean leader election: a replica outside the ISR leads; records only the old ISR had are lost"
		} else if !all {
			continue
		}
		ev.Str("topic", t.Name).Int32("partition", p.ID).Int32("old_leader", p.Leader).Int32("leader", *rec.Leader).
			Ints32("old_isr", p.ISR).Str("reason", reason).Msg(msg)
	}
}

// rebalanceLoop runs the preferred-leader balance every
// LeaderImbalanceCheckInterval while this node is the active controller.
func (c *Controller) rebalanceLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(c.cfg.LeaderImbalanceCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		if c.IsLeader() {
			c.rebalanceLeaders()
		}
	}
}

// rebalanceLeaders commits the preferred elections the balance asks for.
func (c *Controller) rebalanceLeaders() {
	var before *metadata.Image
	var recs []metadata.Record
	_, err := c.commit(context.Background(), func(img *metadata.Image) ([]metadata.Record, error) {
		before = img
		recs = imbalancedLeaderRecords(img, c.cfg.LeaderImbalancePerBrokerPercentage)
		return recs, nil
	})
	switch {
	case err == nil:
		if len(recs) > 0 {
			c.logElections(before, recs, "preferred leader rebalance", true)
		}
	case errors.Is(err, kerr.NotController):
		// Lost leadership meanwhile: the next active controller balances.
	default:
		c.log.Warn().Err(err).Msg("committing preferred leader elections failed; retrying at the next check")
	}
}
