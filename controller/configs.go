package controller

import (
	"context"
	"maps"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configResource identifies one resource of an AlterConfigs or
// IncrementalAlterConfigs request.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// alterConfigs is the shared core of AlterConfigs and
// IncrementalAlterConfigs: for each resource, newOverrides computes the
// topic's complete new override map from its current one; the changes are
// validated and committed in one log entry (none with validateOnly).
func (c *Controller) alterConfigs(
	ctx context.Context,
	resources []configResource,
	validateOnly bool,
	newOverrides func(i int, topic *metadata.Topic) (map[string]string, error),
) []error {
	errs := make([]error, len(resources))
	dup := duplicates(resources)
	_, err := c.commit(ctx, func(img *metadata.Image) ([]metadata.Record, error) {
		var recs []metadata.Record
		for i, r := range resources {
			if dup[r] {
				errs[i] = errDuplicateResource
				continue
			}
			topic, err := configTopic(img, r)
			if err != nil {
				errs[i] = err
				continue
			}
			next, err := newOverrides(i, topic)
			if err == nil {
				err = metadata.ValidateTopicConfigs(next)
			}
			if errs[i] = err; err != nil || validateOnly {
				continue
			}
			recs = append(recs, configChangeRecords(topic.Name, topic.Configs, next)...)
		}
		return recs, nil
	})
	for i := range errs {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		if errs[i] == nil && !validateOnly {
			c.log.Info().Str("topic", resources[i].name).Msg("topic configs altered")
		}
	}
	return errs
}

// configTopic checks the resource type and returns the topic it names.
func configTopic(img *metadata.Image, r configResource) (*metadata.Topic, error) {
	switch r.typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return nil, errorf(kerr.InvalidRequest, "dynamic broker configs are not supported yet")
	default:
		return nil, errorf(kerr.InvalidRequest, "config resource type %s is not supported", r.typ)
	}
	if r.name == "" {
		return nil, errorf(kerr.InvalidRequest, "the topic name is empty")
	}
	topic, ok := img.TopicByName(r.name)
	if !ok {
		return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", r.name)
	}
	return topic, nil
}

// configChangeRecords returns the ConfigRecords that turn old into next:
// deletions of removed keys and sets of new or changed values, in key order.
func configChangeRecords(topic string, old, next map[string]string) []metadata.Record {
	var recs []metadata.Record
	for _, k := range sortedKeys(old) {
		if _, ok := next[k]; !ok {
			recs = append(recs, &metadata.ConfigRecord{ResourceType: metadata.ConfigResourceTopic, ResourceName: topic, Name: k})
		}
	}
	for _, k := range sortedKeys(next) {
		if v, ok := old[k]; ok && v == next[k] {
			continue
		}
		v := next[k]
		recs = append(recs, &metadata.ConfigRecord{ResourceType: metadata.ConfigResourceTopic, ResourceName: topic, Name: k, Value: &v})
	}
	return recs
}

// cloneConfigs returns a writable copy of a topic's overrides.
func cloneConfigs(m map[string]string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	return out
}
