package broker

// DescribeConfigs, key 32, versions 1-4.
//
// Topic resources: every implemented topic config with its effective value
// and source (the topic's override, the broker's default, or Kafka's
// default), synonyms (v1+) and documentation (v3+) on request. Broker
// resources: this node's static settings, read-only. Answered from the
// broker's image; configs Samsa does not implement are not listed, since
// they cannot be set.

import (
	"context"
	"slices"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleDescribeConfigs(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := b.Image()
	for _, res := range r.Resources {
		out := kmsg.NewDescribeConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := img.TopicByName(res.ResourceName)
			if !ok {
				out.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			for _, e := range metadata.EffectiveTopicConfigs(t.Configs, b.cfg.TopicDefaults) {
				if wanted(res.ConfigNames, e.Name) {
					out.Configs = append(out.Configs, topicConfigEntry(r, e))
				}
			}
		case kmsg.ConfigResourceTypeBroker:
			if res.ResourceName != "" && res.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
				out.ErrorCode = kerr.InvalidRequest.Code
				msg := "DescribeConfigs for another broker must be sent to that broker"
				out.ErrorMessage = &msg
				break
			}
			out.Configs = b.brokerConfigEntries(r, res.ConfigNames)
		default:
			out.ErrorCode = kerr.InvalidRequest.Code
			msg := "only topic and broker config resources are supported"
			out.ErrorMessage = &msg
		}
		resp.Resources = append(resp.Resources, out)
	}
	return protocol.Respond(resp)
}

func wanted(names []string, name string) bool {
	return names == nil || slices.Contains(names, name)
}

func topicConfigEntry(r *kmsg.DescribeConfigsRequest, e metadata.ConfigEntry) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.ReadOnly, c.IsDefault, c.Source, c.IsSensitive, c.ConfigType = e.Name, e.ReadOnly, e.IsDefault, e.Source, e.Sensitive, e.Type
	if !e.Sensitive {
		v := e.Value
		c.Value = &v
	}
	if r.IncludeDocumentation {
		doc := e.Doc
		c.Documentation = &doc
	}
	if r.IncludeSynonyms {
		syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		syn.Name, syn.Source = e.Name, e.Source
		if !e.Sensitive {
			v := e.Value
			syn.Value = &v
		}
		c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
	}
	return c
}

func (b *Broker) brokerConfigEntries(r *kmsg.DescribeConfigsRequest, names []string) []kmsg.DescribeConfigsResponseResourceConfig {
	keys := make([]string, 0, len(b.cfg.StaticConfigs))
	for k := range b.cfg.StaticConfigs {
		if wanted(names, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, k := range keys {
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		v := b.cfg.StaticConfigs[k]
		c.Name, c.Value, c.ReadOnly, c.Source = k, &v, true, kmsg.ConfigSourceStaticBrokerConfig
		c.ConfigType = kmsg.ConfigTypeString
		if r.IncludeSynonyms {
			syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			syn.Name, syn.Value, syn.Source = k, &v, c.Source
			c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
		}
		out = append(out, c)
	}
	return out
}
