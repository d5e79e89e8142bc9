package broker

// AlterConfigs, key 33, versions 0-2.
//
// Forwarded to the active controller, which replaces a topic's overrides
// with exactly the given set (Kafka's non-incremental semantics) after
// validating every key; answered once this broker's image shows the new
// set. Broker resources are refused by the controller: dynamic broker
// configs are not supported yet.

import (
	"context"
	"maps"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleAlterConfigs(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.AlterConfigsRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
		for _, res := range r.Resources {
			out := kmsg.NewAlterConfigsResponseResource()
			out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
			out.ErrorCode, out.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
			resp.Resources = append(resp.Resources, out)
		}
		return resp
	}
	want := make(map[string]map[string]string)
	for _, res := range r.Resources {
		if res.ResourceType != kmsg.ConfigResourceTypeTopic {
			continue
		}
		set := make(map[string]string)
		for _, c := range res.Configs {
			if c.Value != nil {
				set[c.Name] = *c.Value
			}
		}
		want[res.ResourceName] = set
	}
	visible := func(resp kmsg.Response, img *metadata.Image) bool {
		if r.ValidateOnly {
			return true
		}
		for _, res := range resp.(*kmsg.AlterConfigsResponse).Resources {
			set, isTopic := want[res.ResourceName]
			if res.ErrorCode != 0 || !isTopic || res.ResourceType != kmsg.ConfigResourceTypeTopic {
				continue
			}
			t, ok := img.TopicByName(res.ResourceName)
			if ok && !maps.Equal(t.Configs, set) && !(len(t.Configs) == 0 && len(set) == 0) {
				return false
			}
		}
		return true
	}
	return b.forward(r, fail, visible)
}
