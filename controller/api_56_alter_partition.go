// AlterPartition (key 56), versions 0-3.
//
// A partition leader asks the active controller to commit a new ISR
// (KIP-497). The change is accepted only from the partition's current
// leader at the current leader epoch (else FENCED_LEADER_EPOCH or
// NOT_LEADER_OR_FOLLOWER) and partition epoch (else INVALID_UPDATE_VERSION,
// the leader's view is stale), from a registered broker at its registration
// epoch (STALE_BROKER_EPOCH). The new ISR must contain the leader and only
// replicas of the partition; a member being added must be registered and
// unfenced, at the epoch the leader names if it names one (KIP-841, KIP-903;
// else INELIGIBLE_REPLICA), so a broker that restarted empty or is being
// fenced cannot rejoin. Accepted changes are committed as
// PartitionChangeRecords, which bump the partition epoch; the answer carries
// the committed ISR and epochs. A change that changes nothing commits
// nothing and answers the current state.

package controller

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
)

// AlterPartition commits ISR changes proposed by partition leaders.
func (c *Controller) AlterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	type slot struct {
		topicID [16]byte
		name    string
		err     error
	}
	slots := make([][]slot, len(req.Topics))
	img, err := c.commit(ctx, func(img *metadata.Image) ([]metadata.Record, error) {
		b, ok := img.Broker(req.BrokerID)
		switch {
		case !ok:
			return nil, errorf(kerr.StaleBrokerEpoch, "broker %d is not registered", req.BrokerID)
		case req.BrokerEpoch != b.Epoch:
			return nil, errorf(kerr.StaleBrokerEpoch, "broker %d has epoch %d, not %d", req.BrokerID, b.Epoch, req.BrokerEpoch)
		case b.Fenced:
			return nil, errorf(kerr.StaleBrokerEpoch, "broker %d is fenced", req.BrokerID)
		}
		var recs []metadata.Record
		for ti, rt := range req.Topics {
			t, ok := img.TopicByName(rt.Topic)
			if req.Version >= 2 {
				t, ok = img.TopicByID(rt.TopicID)
			}
			slots[ti] = make([]slot, len(rt.Partitions))
			for pi, rp := range rt.Partitions {
				if !ok {
					code := kerr.UnknownTopicOrPartition
					if req.Version >= 2 {
						code = kerr.UnknownTopicID
					}
					slots[ti][pi].err = errorf(code, "no such topic")
					continue
				}
				slots[ti][pi].topicID, slots[ti][pi].name = t.ID, t.Name
				rec, err := alterPartitionChange(img, t, req.BrokerID, req.Version, &rp)
				if err != nil {
					slots[ti][pi].err = err
					continue
				}
				if rec != nil {
					recs = append(recs, rec)
				}
			}
		}
		return recs, nil
	})
	if err != nil {
		resp.ErrorCode, _ = errResult(err)
		c.log.Debug().Err(err).Int32("broker", req.BrokerID).Msg("AlterPartition refused")
		return resp, nil
	}
	for ti, rt := range req.Topics {
		ot := kmsg.NewAlterPartitionResponseTopic()
		ot.Topic, ot.TopidID = rt.Topic, rt.TopicID // sic: kmsg spells the field TopidID
		for pi, rp := range rt.Partitions {
			op := kmsg.NewAlterPartitionResponseTopicPartition()
			op.Partition = rp.Partition
			s := slots[ti][pi]
			if s.err != nil {
				op.ErrorCode, _ = errResult(s.err)
				c.log.Info().Err(s.err).Int32("broker", req.BrokerID).Str("topic", s.name).Int32("partition", rp.Partition).
					Msg("ISR change refused")
			} else if t, ok := img.TopicByID(s.topicID); ok {
				if p, ok := t.Partition(rp.Partition); ok {
					op.LeaderID, op.LeaderEpoch, op.PartitionEpoch = p.Leader, p.LeaderEpoch, p.PartitionEpoch
					op.ISR = slices.Clone(p.ISR)
					c.log.Info().Int32("broker", req.BrokerID).Str("topic", t.Name).Int32("partition", p.ID).
						Ints32("isr", p.ISR).Int32("partition_epoch", p.PartitionEpoch).Msg("ISR changed")
				}
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, nil
}

// alterPartitionChange validates one partition's proposal against img and
// returns the record committing it (nil when it changes nothing).
func alterPartitionChange(img *metadata.Image, t *metadata.Topic, brokerID int32, version int16, rp *kmsg.AlterPartitionRequestTopicPartition) (metadata.Record, error) {
	p, ok := t.Partition(rp.Partition)
	if !ok {
		return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q has no partition %d", t.Name, rp.Partition)
	}
	switch {
	case rp.LeaderEpoch < p.LeaderEpoch:
		return nil, errorf(kerr.FencedLeaderEpoch, "leader epoch %d is older than %d", rp.LeaderEpoch, p.LeaderEpoch)
	case p.Leader != brokerID || rp.LeaderEpoch != p.LeaderEpoch:
		return nil, errorf(kerr.NotLeaderForPartition, "broker %d does not lead %s-%d at epoch %d (leader %d, epoch %d)",
			brokerID, t.Name, p.ID, rp.LeaderEpoch, p.Leader, p.LeaderEpoch)
	case rp.PartitionEpoch != p.PartitionEpoch:
		return nil, errorf(kerr.InvalidUpdateVersion, "partition epoch %d, current %d", rp.PartitionEpoch, p.PartitionEpoch)
	}
	isr := rp.NewISR
	epochs := map[int32]int64{}
	if version >= 3 {
		isr = nil
		for _, m := range rp.NewEpochISR {
			isr = append(isr, m.BrokerID)
			epochs[m.BrokerID] = m.BrokerEpoch
		}
	}
	if !slices.Contains(isr, brokerID) {
		return nil, errorf(kerr.InvalidRequest, "the new ISR %v does not contain the leader %d", isr, brokerID)
	}
	sorted := slices.Clone(isr)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(isr) {
		return nil, errorf(kerr.InvalidRequest, "the new ISR %v lists a broker twice", isr)
	}
	for _, id := range isr {
		if !slices.Contains(p.Replicas, id) {
			return nil, errorf(kerr.IneligibleReplica, "broker %d is not a replica of %s-%d", id, t.Name, p.ID)
		}
		if slices.Contains(p.ISR, id) {
			continue
		}
		b, ok := img.Broker(id)
		switch {
		case !ok:
			return nil, errorf(kerr.IneligibleReplica, "broker %d is not registered", id)
		case b.Fenced:
			return nil, errorf(kerr.IneligibleReplica, "broker %d is fenced", id)
		case epochs[id] > 0 && epochs[id] != b.Epoch:
			return nil, errorf(kerr.IneligibleReplica, "broker %d has epoch %d, not %d", id, b.Epoch, epochs[id])
		}
	}
	current := slices.Clone(p.ISR)
	slices.Sort(current)
	if slices.Equal(current, sorted) {
		return nil, nil
	}
	return &metadata.PartitionChangeRecord{TopicID: t.ID, Partition: p.ID, ISR: sorted}, nil
}
