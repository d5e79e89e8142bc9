package broker

// DeleteTopics, key 20, versions 1-6.
//
// Forwarded to the active controller; answered once the topics are gone
// from this broker's image, by which time their partitions here are closed
// and their data removed. Versions before 6 name topics in TopicNames; they
// are moved to Topics so the controller sees one form.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleDeleteTopics(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	for _, name := range r.TopicNames {
		t := kmsg.NewDeleteTopicsRequestTopic()
		n := name
		t.Topic = &n
		r.Topics = append(r.Topics, t)
	}
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			rt.ErrorCode, rt.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	visible := func(resp kmsg.Response, img *metadata.Image) bool {
		for _, t := range resp.(*kmsg.DeleteTopicsResponse).Topics {
			if t.ErrorCode != 0 {
				continue
			}
			if _, ok := img.TopicByID(t.TopicID); ok {
				return false
			}
			if t.Topic != nil {
				if _, ok := img.TopicByName(*t.Topic); ok {
					return false
				}
			}
		}
		return true
	}
	return b.forward(r, fail, visible)
}
