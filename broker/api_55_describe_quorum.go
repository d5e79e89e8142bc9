package broker

// DescribeQuorum, key 55, versions 0-1.
//
// Forwarded to the active controller, which alone describes the quorum of
// the metadata log (see controller/api_55_describe_quorum.go). Admin
// clients send it to a broker, as to Kafka's brokers.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleDescribeQuorum(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.DescribeQuorumRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
		resp.ErrorCode = protocol.ErrorCode(err)
		return resp
	}
	return b.forward(r, fail, nil)
}
