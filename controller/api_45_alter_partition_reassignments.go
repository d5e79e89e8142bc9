// AlterPartitionReassignments (key 45), version 0.
//
// Starts, replaces or cancels partition reassignments (KIP-455); the rules
// are in reassign.go. Each partition gets its own answer:
// UNKNOWN_TOPIC_OR_PARTITION for a topic or partition the image lacks,
// INVALID_REPLICA_ASSIGNMENT for an empty replica list, a broker named
// twice or one not registered, or a cancellation that would leave no ISR
// member, NO_REASSIGNMENT_IN_PROGRESS for cancelling a partition that is not
// being reassigned, INVALID_REQUEST for a partition named twice. The
// accepted ones are committed in one batch; the answer comes once it is
// applied (the reassignment has started, not finished: ListPartitionReassignments
// shows its progress).
//
// Deliberate deviations: version 1 (KIP-860, AllowReplicationFactorChange)
// is not served; a cluster whose metadata version is below
// metadata.ReassignmentMetadataVersion (bootstrapped by an older release)
// refuses every reassignment with UNSUPPORTED_VERSION, because its nodes
// might not read the records a reassignment writes.

package controller

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
)

// AlterPartitionReassignments starts or cancels partition reassignments.
func (c *Controller) AlterPartitionReassignments(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest) (*kmsg.AlterPartitionAssignmentsResponse, error) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	type tp struct {
		topic     string
		partition int32
	}
	var keys []tp
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			keys = append(keys, tp{rt.Topic, rp.Partition})
		}
	}
	dup := duplicates(keys)
	results := make([][]error, len(req.Topics))
	_, err := c.commit(ctx, func(img *metadata.Image) ([]metadata.Record, error) {
		if img.MetadataVersion() < metadata.ReassignmentMetadataVersion {
			return nil, errorf(kerr.UnsupportedVersion, "the cluster's metadata version %d is below %d, which reassignments need",
				img.MetadataVersion(), metadata.ReassignmentMetadataVersion)
		}
		var recs []metadata.Record
		for ti, rt := range req.Topics {
			results[ti] = make([]error, len(rt.Partitions))
			for pi, rp := range rt.Partitions {
				if dup[tp{rt.Topic, rp.Partition}] {
					results[ti][pi] = errDuplicateResource
					continue
				}
				prs, err := reassignmentChange(img, rt.Topic, rp.Partition, rp.Replicas)
				results[ti][pi] = err
				recs = append(recs, prs...)
			}
		}
		return recs, nil
	})
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errResult(err)
		ev := c.log.Warn()
		if errors.Is(err, ErrNotController) {
			ev = c.log.Debug()
		}
		ev.Err(err).Msg("partition reassignment refused")
	}
	for ti, rt := range req.Topics {
		ot := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		ot.Topic = rt.Topic
		for pi, rp := range rt.Partitions {
			op := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			op.Partition = rp.Partition
			perr := err
			if perr == nil {
				perr = results[ti][pi]
			}
			if perr != nil {
				op.ErrorCode, op.ErrorMessage = errResult(perr)
			}
			if err == nil {
				ev := c.log.Info().Str("topic", rt.Topic).Int32("partition", rp.Partition)
				switch {
				case perr != nil:
					ev.Err(perr).Msg("partition reassignment refused")
				case rp.Replicas == nil:
					ev.Msg("partition reassignment cancelled")
				default:
					ev.Ints32("target", rp.Replicas).Msg("partition reassignment started")
				}
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, nil
}

// reassignmentChange returns the records that start (target non-nil) or
// cancel (target nil) the reassignment of one partition.
func reassignmentChange(img *metadata.Image, topic string, partition int32, target []int32) ([]metadata.Record, error) {
	t, ok := img.TopicByName(topic)
	if !ok {
		return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", topic)
	}
	p, ok := t.Partition(partition)
	if !ok {
		return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q has no partition %d", topic, partition)
	}
	if target == nil {
		rec, err := cancelReassignment(img, t, p)
		if err != nil {
			return nil, err
		}
		return []metadata.Record{rec}, nil
	}
	return startReassignment(img, t, p, target)
}
