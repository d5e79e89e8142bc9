package broker

// CreateTopics, key 19, versions 2-7.
//
// Forwarded to the active controller, which validates names, counts and
// configs and commits the topic to the metadata log; the answer is sent once
// the new topics are in this broker's image.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleCreateTopics(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.CreateTopicsRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.ErrorMessage = t.Topic, protocol.ErrorCode(err), protocol.ErrorMessage(err)
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	visible := func(resp kmsg.Response, img *metadata.Image) bool {
		if r.ValidateOnly {
			return true
		}
		for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
			if _, ok := img.TopicByName(t.Topic); t.ErrorCode == 0 && !ok {
				return false
			}
		}
		return true
	}
	return b.forward(r, fail, visible)
}
