// CreatePartitions (key 37), versions 0-3. New partitions get the topic's
// replication factor (that of partition 0); without an explicit assignment
// they are placed round-robin over the unfenced brokers, continuing the
// rotation from the existing partition count.

package controller

import (
	"context"
	"slices"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions adds partitions to existing topics.
func (c *Controller) CreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) (*kmsg.CreatePartitionsResponse, error) {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	names := make([]string, len(req.Topics))
	for i, t := range req.Topics {
		names[i] = t.Topic
	}
	dup := duplicates(names)
	errs := make([]error, len(req.Topics))
	_, err := c.commit(ctx, func(img *metadata.Image) ([]metadata.Record, error) {
		var recs []metadata.Record
		budget := maxPartitionsPerRequest
		for i := range req.Topics {
			t := &req.Topics[i]
			if dup[t.Topic] {
				errs[i] = errorf(kerr.InvalidRequest, "topic %q appears more than once in the request", t.Topic)
				continue
			}
			topic, assignment, err := planPartitions(img, t, budget)
			if errs[i] = err; err != nil {
				continue
			}
			budget -= len(assignment)
			if !req.ValidateOnly {
				recs = append(recs, partitionRecords(topic.ID, int32(len(topic.Partitions)), assignment)...)
			}
		}
		return recs, nil
	})
	for i, t := range req.Topics {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		rt.ErrorCode, rt.ErrorMessage = errResult(errs[i])
		resp.Topics = append(resp.Topics, rt)
		if errs[i] == nil && !req.ValidateOnly {
			c.log.Info().Str("topic", t.Topic).Int32("partitions", t.Count).Msg("partitions created")
		}
	}
	return resp, nil
}

// planPartitions checks one topic's request and returns the assignment of
// its new partitions.
func planPartitions(img *metadata.Image, t *kmsg.CreatePartitionsRequestTopic, budget int) (*metadata.Topic, [][]int32, error) {
	topic, ok := img.TopicByName(t.Topic)
	if !ok {
		return nil, nil, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", t.Topic)
	}
	have := len(topic.Partitions)
	switch {
	case isInternalTopic(t.Topic):
		// Groups and transactions hash to a partition of these topics by
		// their count: adding partitions would move them away from their
		// stored state.
		return nil, nil, errorf(kerr.InvalidRequest, "partitions cannot be added to the internal topic %q", t.Topic)
	case int(t.Count) < have:
		return nil, nil, errorf(kerr.InvalidPartitions,
			"topic %q has %d partitions, more than the requested %d: partitions cannot be removed", t.Topic, have, t.Count)
	case int(t.Count) == have:
		return nil, nil, errorf(kerr.InvalidPartitions, "topic %q already has %d partitions", t.Topic, have)
	case int(t.Count)-have > budget:
		return nil, nil, errorf(kerr.InvalidPartitions, "at most %d partitions can be created by one request", maxPartitionsPerRequest)
	}
	add := int(t.Count) - have
	rf := topic.ReplicationFactor()
	if t.Assignment != nil {
		if len(t.Assignment) != add {
			return nil, nil, errorf(kerr.InvalidReplicaAssignment,
				"the assignment lists %d new partitions, but %d are being added", len(t.Assignment), add)
		}
		assignment := make([][]int32, add)
		for k, a := range t.Assignment {
			assignment[k] = slices.Clone(a.Replicas)
		}
		return topic, assignment, checkManualAssignment(img, assignment, rf)
	}
	brokers := img.UnfencedBrokers()
	if rf > len(brokers) {
		return nil, nil, errorf(kerr.InvalidReplicationFactor,
			"topic %q has replication factor %d, larger than the %d available (registered, unfenced) broker(s)",
			t.Topic, rf, len(brokers))
	}
	return topic, placeReplicas(rackAlternated(img, brokers), randomStart(len(brokers)), have, add, rf), nil
}

// isInternalTopic names the topics whose partition count the coordinators
// depend on.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}
