// IncrementalAlterConfigs (key 44), versions 0-1, for TOPIC resources.
// SET, DELETE, APPEND and SUBTRACT are supported (APPEND and SUBTRACT only
// for LIST configs, on the topic's current value including defaults).
// BROKER resources are answered INVALID_REQUEST: dynamic broker configs are
// not supported yet.

package controller

import (
	"context"
	"slices"
	"strings"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// IncrementalAlterConfigs changes individual topic config overrides.
func (c *Controller) IncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) (*kmsg.IncrementalAlterConfigsResponse, error) {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	resources := make([]configResource, len(req.Resources))
	for i, r := range req.Resources {
		resources[i] = configResource{typ: r.ResourceType, name: r.ResourceName}
	}
	errs := c.alterConfigs(ctx, resources, req.ValidateOnly, func(i int, topic *metadata.Topic) (map[string]string, error) {
		return incrementalOverrides(topic.Configs, req.Resources[i].Configs)
	})
	for i, r := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		rr.ErrorCode, rr.ErrorMessage = errResult(errs[i])
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

// incrementalOverrides applies the operations to a copy of the overrides.
func incrementalOverrides(current map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	keys := make([]string, len(ops))
	for i, op := range ops {
		keys[i] = op.Name
	}
	dup := duplicates(keys)
	for _, k := range keys {
		if dup[k] {
			return nil, errorf(kerr.InvalidRequest, "config %q is altered more than once in the request", k)
		}
	}
	next := cloneConfigs(current)
	for _, op := range ops {
		def, ok := metadata.TopicConfigDef(op.Name)
		if !ok {
			return nil, errorf(kerr.InvalidConfig, "unknown topic config %q", op.Name)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if op.Value == nil {
				return nil, errorf(kerr.InvalidRequest, "SET of topic config %q has a null value", op.Name)
			}
			next[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(next, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.Type != kmsg.ConfigTypeList {
				return nil, errorf(kerr.InvalidConfig, "%s is only allowed for list configs, and %q is not one", op.Op, op.Name)
			}
			next[op.Name] = alterList(metadata.TopicConfigString(next, op.Name), op)
		default:
			return nil, errorf(kerr.InvalidRequest, "unknown config operation %d for %q", op.Op, op.Name)
		}
	}
	return next, nil
}

// alterList appends the items of op's value that are missing, or removes
// every item of op's value, keeping the order of the current list.
func alterList(current string, op kmsg.IncrementalAlterConfigsRequestResourceConfig) string {
	items := metadata.SplitConfigList(current)
	var arg []string
	if op.Value != nil {
		arg = metadata.SplitConfigList(*op.Value)
	}
	for _, a := range arg {
		has := slices.Contains(items, a)
		if op.Op == kmsg.IncrementalAlterConfigOpAppend && !has {
			items = append(items, a)
		}
		if op.Op == kmsg.IncrementalAlterConfigOpSubtract && has {
			items = slices.DeleteFunc(items, func(s string) bool { return s == a })
		}
	}
	return strings.Join(items, ",")
}
