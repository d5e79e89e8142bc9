// ElectLeaders (key 43), versions 0-2.
//
// Elects partition leaders on request (KIP-183, KIP-460): PREFERRED (0,
// the only type of v0) moves leadership to the preferred replica when it
// is unfenced and in the ISR; UNCLEAN (1) gives a leaderless partition a
// leader, from outside the ISR if no ISR member is unfenced, whatever the
// topic's unclean.leader.election.enable says (see elections.go for the
// rules). Every change is committed in one PartitionChangeRecord batch.
//
// Results per partition, in request order (a partition named twice is
// answered once): ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
// ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION. Null topics
// elect every partition of the cluster and, as in Kafka, leave out those
// that needed no election. An unknown election type answers
// INVALID_REQUEST; a commit this node cannot answer for answers
// NOT_CONTROLLER, at the top level (v1+) and for every partition named.
// TimeoutMillis is not used: the answer comes once the change is
// committed.

package controller

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
)

// electionTarget is one partition of an ElectLeaders request and its
// outcome.
type electionTarget struct {
	topic     string
	partition int32
	err       error
}

// ElectLeaders runs preferred or unclean elections for the partitions the
// request names, or for every partition when it names none (null).
func (c *Controller) ElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) (*kmsg.ElectLeadersResponse, error) {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	typ := req.ElectionType
	if req.Version == 0 {
		typ = electionPreferred
	}
	all := req.Topics == nil
	targets := electionTargets(req.Topics)
	if typ != electionPreferred && typ != electionUnclean {
		err := errorf(kerr.InvalidRequest, "election type %d is neither PREFERRED (0) nor UNCLEAN (1)", typ)
		resp.ErrorCode, _ = errResult(err)
		for i := range targets {
			targets[i].err = err
		}
		electionResponse(resp, targets, false)
		return resp, nil
	}
	var before *metadata.Image
	var recs []metadata.Record
	_, err := c.commit(ctx, func(img *metadata.Image) ([]metadata.Record, error) {
		before = img
		if all {
			targets = allPartitions(img)
		}
		recs = decideElections(img, typ, targets)
		return recs, nil
	})
	if err != nil {
		resp.ErrorCode, _ = errResult(err)
		for i := range targets {
			targets[i].err = err
		}
	} else {
		c.logElections(before, recs, electionReason(typ), true)
	}
	electionResponse(resp, targets, all)
	return resp, nil
}

// electionTargets lists the partitions a request names, each once, in
// request order.
func electionTargets(topics []kmsg.ElectLeadersRequestTopic) []electionTarget {
	type tp struct {
		topic     string
		partition int32
	}
	seen := map[tp]bool{}
	var out []electionTarget
	for _, t := range topics {
		for _, p := range t.Partitions {
			k := tp{t.Topic, p}
			if !seen[k] {
				seen[k] = true
				out = append(out, electionTarget{topic: t.Topic, partition: p})
			}
		}
	}
	return out
}

// allPartitions lists every partition of img, by topic name.
func allPartitions(img *metadata.Image) []electionTarget {
	var out []electionTarget
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			out = append(out, electionTarget{topic: t.Name, partition: p.ID})
		}
	}
	return out
}

// decideElections sets each target's outcome and returns the records of
// the elections that succeed.
func decideElections(img *metadata.Image, typ int8, targets []electionTarget) []metadata.Record {
	fenced := fencedIn(img)
	var recs []metadata.Record
	for i := range targets {
		tg := &targets[i]
		tg.err = nil
		t, ok := img.TopicByName(tg.topic)
		if !ok {
			tg.err = errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", tg.topic)
			continue
		}
		p, ok := t.Partition(tg.partition)
		if !ok {
			tg.err = errorf(kerr.UnknownTopicOrPartition, "topic %q has no partition %d", tg.topic, tg.partition)
			continue
		}
		var rec *metadata.PartitionChangeRecord
		var err error
		if typ == electionUnclean {
			rec, err = electUnclean(t.ID, p, fenced)
		} else {
			rec, err = electPreferred(t.ID, p, fenced)
		}
		if tg.err = err; rec != nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

func electionReason(typ int8) string {
	if typ == electionUnclean {
		return "ElectLeaders UNCLEAN"
	}
	return "ElectLeaders PREFERRED"
}

// electionResponse fills resp with the targets' outcomes, one entry per
// topic in order of first appearance; with skipNotNeeded, partitions that
// needed no election are left out.
func electionResponse(resp *kmsg.ElectLeadersResponse, targets []electionTarget, skipNotNeeded bool) {
	index := map[string]int{}
	for _, t := range targets {
		if skipNotNeeded && errors.Is(t.err, kerr.ElectionNotNeeded) {
			continue
		}
		i, ok := index[t.topic]
		if !ok {
			i = len(resp.Topics)
			index[t.topic] = i
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = t.partition
		if t.err != nil {
			rp.ErrorCode, rp.ErrorMessage = errResult(t.err)
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
}
