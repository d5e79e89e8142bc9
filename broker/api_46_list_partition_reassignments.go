package broker

// ListPartitionReassignments, key 46, version 0.
//
// Forwarded to the active controller, which answers from its image (see
// controller/api_46_list_partition_reassignments.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleListPartitionReassignments(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.ListPartitionReassignmentsRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		resp.ErrorCode, resp.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		return resp
	}
	return b.forward(r, fail, nil)
}
