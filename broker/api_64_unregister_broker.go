package broker

// UnregisterBroker, key 64, version 0.
//
// Forwarded to the active controller, which removes the registration of a
// fenced broker (see controller/api_64_unregister_broker.go). A success is
// answered once the broker is gone from this broker's image, so that a
// DescribeCluster or Metadata sent here next no longer shows it.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleUnregisterBroker(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.UnregisterBrokerRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.UnregisterBrokerResponse)
		resp.ErrorCode = protocol.ErrorCode(err)
		resp.ErrorMessage = protocol.ErrorMessage(err)
		return resp
	}
	visible := func(resp kmsg.Response, img *metadata.Image) bool {
		if resp.(*kmsg.UnregisterBrokerResponse).ErrorCode != 0 {
			return true
		}
		_, registered := img.Broker(r.BrokerID)
		return !registered
	}
	return b.forward(r, fail, visible)
}
