package broker

// CreatePartitions, key 37, versions 0-3.
//
// Forwarded to the active controller; answered once the new partition count
// is in this broker's image.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleCreatePartitions(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.ErrorMessage = t.Topic, protocol.ErrorCode(err), protocol.ErrorMessage(err)
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	want := make(map[string]int32, len(r.Topics))
	for _, t := range r.Topics {
		want[t.Topic] = t.Count
	}
	visible := func(resp kmsg.Response, img *metadata.Image) bool {
		if r.ValidateOnly {
			return true
		}
		for _, t := range resp.(*kmsg.CreatePartitionsResponse).Topics {
			if t.ErrorCode != 0 {
				continue
			}
			if it, ok := img.TopicByName(t.Topic); ok && int32(len(it.Partitions)) < want[t.Topic] {
				return false
			}
		}
		return true
	}
	return b.forward(r, fail, visible)
}
