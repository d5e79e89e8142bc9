// AlterConfigs (key 33), versions 0-2, for TOPIC resources. As in Kafka,
// the request replaces the topic's whole set of overrides: keys it does not
// name go back to their defaults. BROKER resources are answered
// INVALID_REQUEST: dynamic broker configs are not supported yet.

package controller

import (
	"context"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs replaces topic config overrides.
func (c *Controller) AlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) (*kmsg.AlterConfigsResponse, error) {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	resources := make([]configResource, len(req.Resources))
	for i, r := range req.Resources {
		resources[i] = configResource{typ: r.ResourceType, name: r.ResourceName}
	}
	errs := c.alterConfigs(ctx, resources, req.ValidateOnly, func(i int, _ *metadata.Topic) (map[string]string, error) {
		next := map[string]string{}
		for _, cfg := range req.Resources[i].Configs {
			if cfg.Value == nil {
				return nil, errorf(kerr.InvalidRequest, "topic config %q has a null value", cfg.Name)
			}
			if _, ok := next[cfg.Name]; ok {
				return nil, errorf(kerr.InvalidRequest, "topic config %q is given more than once", cfg.Name)
			}
			next[cfg.Name] = *cfg.Value
		}
		return next, nil
	})
	for i, r := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		rr.ErrorCode, rr.ErrorMessage = errResult(errs[i])
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}
