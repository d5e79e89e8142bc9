package client

// Leader elections on request: ElectLeaders (key 43; KIP-183 preferred,
// KIP-460 unclean), which the broker forwards to the active controller.
//
// kadm has ElectLeaders, but it drops the response's top-level error code
// (only authorization errors surface), so a request the cluster refused
// as a whole would look like one with nothing to elect; this file sends
// the request itself.

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ElectionType says how ElectLeaders chooses a leader.
type ElectionType int8

const (
	// ElectPreferred moves leadership to each partition's preferred
	// replica (the first of its replicas) when it is alive and in sync.
	ElectPreferred ElectionType = 0
	// ElectUnclean gives a partition without a leader one, from outside
	// the in-sync replicas if none of them is alive: the records only
	// they had are lost.
	ElectUnclean ElectionType = 1
)

// String is the type's name as Kafka's tools spell it.
func (t ElectionType) String() string {
	switch t {
	case ElectPreferred:
		return "PREFERRED"
	case ElectUnclean:
		return "UNCLEAN"
	}
	return fmt.Sprintf("ElectionType(%d)", int8(t))
}

// ElectionResult is the outcome of one partition's election. Err is nil
// when a leader was elected, kerr.ElectionNotNeeded when the partition
// already had the leader asked for, and otherwise says why none could be
// (kerr.PreferredLeaderNotAvailable, kerr.EligibleLeadersNotAvailable,
// kerr.UnknownTopicOrPartition); Message is the cluster's explanation.
type ElectionResult struct {
	Topic     string
	Partition int32
	Err       error
	Message   string
}

// ElectLeaders runs elections of type typ. partitions names the
// partitions by topic; a topic with no partitions listed means all of its
// partitions. A nil map means every partition of the cluster, and then
// only the partitions that needed an election are reported. Results are
// sorted by topic and partition; the error is for the request as a whole.
func (a *Admin) ElectLeaders(ctx context.Context, typ ElectionType, partitions map[string][]int32) ([]ElectionResult, error) {
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = int8(typ)
	if partitions != nil {
		topics, err := a.electionTopics(ctx, partitions)
		if err != nil {
			return nil, fmt.Errorf("elect leaders: %w", err)
		}
		req.Topics = topics
	}
	resp, err := req.RequestWith(ctx, a.kcl)
	if err != nil {
		return nil, fmt.Errorf("elect leaders: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("elect leaders: %w", err)
	}
	var out []ElectionResult
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			r := ElectionResult{Topic: t.Topic, Partition: p.Partition, Err: kerr.ErrorForCode(p.ErrorCode)}
			if p.ErrorMessage != nil {
				r.Message = *p.ErrorMessage
			}
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

// electionTopics builds the request's topics, listing every partition of
// a topic given without partitions (such a topic that does not exist
// fails with kerr.UnknownTopicOrPartition). Partitions named explicitly
// are sent as given; the cluster answers for each.
func (a *Admin) electionTopics(ctx context.Context, partitions map[string][]int32) ([]kmsg.ElectLeadersRequestTopic, error) {
	names := make([]string, 0, len(partitions))
	var whole []string
	for name, ps := range partitions {
		if err := checkTopicName(name); err != nil {
			return nil, err
		}
		names = append(names, name)
		if len(ps) == 0 {
			whole = append(whole, name)
		}
	}
	sort.Strings(names)
	counts := map[string]int{}
	if len(whole) > 0 {
		resp, err := a.metadata(ctx, whole)
		if err != nil {
			return nil, err
		}
		for _, t := range resp.Topics {
			if t.Topic != nil && t.ErrorCode == 0 {
				counts[*t.Topic] = len(t.Partitions)
			}
		}
	}
	topics := make([]kmsg.ElectLeadersRequestTopic, 0, len(names))
	for _, name := range names {
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = name, append([]int32(nil), partitions[name]...)
		if len(rt.Partitions) == 0 {
			n, ok := counts[name]
			if !ok {
				return nil, fmt.Errorf("topic %q: %w", name, kerr.UnknownTopicOrPartition)
			}
			for p := range int32(n) {
				rt.Partitions = append(rt.Partitions, p)
			}
		}
		topics = append(topics, rt)
	}
	return topics, nil
}
