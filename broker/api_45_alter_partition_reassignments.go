package broker

// AlterPartitionReassignments, key 45, version 0.
//
// Forwarded to the active controller (controller/reassign.go has the
// rules). A partition the controller accepted is answered once this
// broker's image shows the change: the target replicas among the
// partition's replicas for a reassignment, no reassignment for a
// cancellation. The answer means the move has started, not finished.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleAlterPartitionReassignments(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		resp.ErrorCode, resp.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		return resp
	}
	targets := map[string]map[int32][]int32{}
	for _, t := range r.Topics {
		targets[t.Topic] = map[int32][]int32{}
		for _, p := range t.Partitions {
			targets[t.Topic][p.Partition] = p.Replicas
		}
	}
	visible := func(resp kmsg.Response, img *metadata.Image) bool {
		ar := resp.(*kmsg.AlterPartitionAssignmentsResponse)
		if ar.ErrorCode != 0 {
			return true
		}
		for _, rt := range ar.Topics {
			t, ok := img.TopicByName(rt.Topic)
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 || !ok {
					continue
				}
				p, ok := t.Partition(rp.Partition)
				if !ok {
					continue
				}
				target := targets[rt.Topic][rp.Partition]
				if target == nil && p.Reassigning() {
					return false
				}
				for _, id := range target {
					if !slices.Contains(p.Replicas, id) {
						return false
					}
				}
			}
		}
		return true
	}
	return b.forward(r, fail, visible)
}
