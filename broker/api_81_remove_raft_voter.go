package broker

// RemoveRaftVoter, key 81, version 0 (KIP-853).
//
// Forwarded to the active controller, which removes the voter from the
// controller quorum (see controller/api_81_remove_raft_voter.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleRemoveRaftVoter(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.RemoveRaftVoterRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
		resp.ErrorCode = protocol.ErrorCode(err)
		resp.ErrorMessage = protocol.ErrorMessage(err)
		return resp
	}
	return b.forward(r, fail, nil)
}
