package broker

// AddRaftVoter, key 80, versions 0-1 (KIP-853).
//
// Forwarded to the active controller, which adds the voter to the
// controller quorum once it has caught up with the metadata log (see
// controller/api_80_add_raft_voter.go): admin clients send quorum changes
// to a broker, as to Kafka's brokers. The answer comes when the change is
// committed; it changes no broker-visible metadata, so nothing is awaited
// in this broker's image.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleAddRaftVoter(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.AddRaftVoterRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.AddRaftVoterResponse)
		resp.ErrorCode = protocol.ErrorCode(err)
		resp.ErrorMessage = protocol.ErrorMessage(err)
		return resp
	}
	return b.forward(r, fail, nil)
}
