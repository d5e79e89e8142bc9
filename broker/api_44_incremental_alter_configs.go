package broker

// IncrementalAlterConfigs, key 44, versions 0-1.
//
// Forwarded to the active controller (SET, DELETE, APPEND, SUBTRACT on topic
// configs, each key validated; unknown or unimplemented keys are refused
// with INVALID_CONFIG); answered once this broker's image shows every SET and
// DELETE of the request.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleIncrementalAlterConfigs(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.IncrementalAlterConfigsRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
		for _, res := range r.Resources {
			out := kmsg.NewIncrementalAlterConfigsResponseResource()
			out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
			out.ErrorCode, out.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
			resp.Resources = append(resp.Resources, out)
		}
		return resp
	}
	visible := func(resp kmsg.Response, img *metadata.Image) bool {
		if r.ValidateOnly {
			return true
		}
		failed := make(map[string]bool)
		for _, res := range resp.(*kmsg.IncrementalAlterConfigsResponse).Resources {
			if res.ErrorCode != 0 {
				failed[res.ResourceName] = true
			}
		}
		for _, res := range r.Resources {
			if res.ResourceType != kmsg.ConfigResourceTypeTopic || failed[res.ResourceName] {
				continue
			}
			t, ok := img.TopicByName(res.ResourceName)
			if ok && !incrementalApplied(t, res.Configs) {
				return false
			}
		}
		return true
	}
	return b.forward(r, fail, visible)
}

func incrementalApplied(t *metadata.Topic, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) bool {
	for _, op := range ops {
		v, has := t.Configs[op.Name]
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if op.Value == nil || !has || v != *op.Value {
				return false
			}
		case kmsg.IncrementalAlterConfigOpDelete:
			if has {
				return false
			}
		}
	}
	return true
}
