// ListPartitionReassignments (key 46), version 0.
//
// Lists the reassignments in progress (KIP-455) from the active
// controller's image: every one when Topics is null, else those of the
// named partitions. As in Kafka, a named topic or partition that does not
// exist, or is not being reassigned, is left out of the answer. Only the
// active controller answers (NOT_CONTROLLER elsewhere), so that a list
// asked for right after AlterPartitionReassignments sees it.

package controller

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
)

// ListPartitionReassignments lists the reassignments in progress.
func (c *Controller) ListPartitionReassignments(_ context.Context, req *kmsg.ListPartitionReassignmentsRequest) (*kmsg.ListPartitionReassignmentsResponse, error) {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !c.IsLeader() {
		resp.ErrorCode, resp.ErrorMessage = errResult(ErrNotController)
		return resp, nil
	}
	img := c.Image()
	if req.Topics == nil {
		for _, t := range img.Topics() {
			appendReassigning(resp, t, nil)
		}
		return resp, nil
	}
	for _, rt := range req.Topics {
		if t, ok := img.TopicByName(rt.Topic); ok {
			appendReassigning(resp, t, rt.Partitions)
		}
	}
	return resp, nil
}

// appendReassigning adds t's partitions that are being reassigned (only
// those in partitions, unless it is nil) to resp.
func appendReassigning(resp *kmsg.ListPartitionReassignmentsResponse, t *metadata.Topic, partitions []int32) {
	ot := kmsg.NewListPartitionReassignmentsResponseTopic()
	ot.Topic = t.Name
	for _, p := range t.Partitions {
		if !p.Reassigning() || (partitions != nil && !slices.Contains(partitions, p.ID)) {
			continue
		}
		op := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		op.Partition = p.ID
		op.Replicas = slices.Clone(p.Replicas)
		op.AddingReplicas = orEmpty(slices.Clone(p.AddingReplicas))
		op.RemovingReplicas = orEmpty(slices.Clone(p.RemovingReplicas))
		ot.Partitions = append(ot.Partitions, op)
	}
	if len(ot.Partitions) > 0 {
		resp.Topics = append(resp.Topics, ot)
	}
}
