// DeleteTopics (key 20), versions 0-6. Versions 0-5 name topics in
// TopicNames; version 6 names each topic by name or by id (not both). All
// topics of a request that exist are removed in one log entry.

package controller

import (
	"context"
	"encoding/base64"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteTarget is one topic named by a DeleteTopics request.
type deleteTarget struct {
	name *string
	id   [16]byte
	err  error
}

func (t *deleteTarget) key() string {
	if t.name != nil && *t.name != "" {
		return "name:" + *t.name
	}
	return "id:" + base64.RawURLEncoding.EncodeToString(t.id[:])
}

// DeleteTopics deletes topics by name or id.
func (c *Controller) DeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) (*kmsg.DeleteTopicsResponse, error) {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	targets := deleteTargets(req)
	keys := make([]string, len(targets))
	for i := range targets {
		keys[i] = targets[i].key()
	}
	dup := duplicates(keys)
	_, err := c.commit(ctx, func(img *metadata.Image) ([]metadata.Record, error) {
		var recs []metadata.Record
		removed := map[[16]byte]bool{}
		for i := range targets {
			t := &targets[i]
			if t.err != nil {
				continue
			}
			if dup[keys[i]] {
				t.err = errorf(kerr.InvalidRequest, "the request names this topic more than once")
				continue
			}
			topic, err := findTopic(img, t.name, t.id)
			if err != nil {
				t.err = err
				continue
			}
			name := topic.Name
			t.name, t.id = &name, topic.ID
			if removed[topic.ID] {
				t.err = errorf(kerr.InvalidRequest, "the request names topic %q more than once", name)
				continue
			}
			removed[topic.ID] = true
			recs = append(recs, &metadata.RemoveTopicRecord{ID: topic.ID})
		}
		return recs, nil
	})
	for i := range targets {
		t := &targets[i]
		if err != nil && t.err == nil {
			t.err = err
		}
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = t.name, t.id
		rt.ErrorCode, rt.ErrorMessage = errResult(t.err)
		resp.Topics = append(resp.Topics, rt)
		if t.err == nil {
			c.log.Info().Str("topic", *t.name).Msg("topic deleted")
		}
	}
	return resp, nil
}

func deleteTargets(req *kmsg.DeleteTopicsRequest) []deleteTarget {
	var targets []deleteTarget
	if req.Version < 6 {
		for _, name := range req.TopicNames {
			targets = append(targets, deleteTarget{name: &name})
		}
		return targets
	}
	for _, t := range req.Topics {
		d := deleteTarget{name: t.Topic, id: t.TopicID}
		hasName := t.Topic != nil && *t.Topic != ""
		hasID := t.TopicID != [16]byte{}
		switch {
		case hasName && hasID:
			d.err = errorf(kerr.InvalidRequest, "a topic may be named by name or by id, not both")
		case !hasName && !hasID:
			d.err = errorf(kerr.InvalidRequest, "a topic must be named by name or by id")
		}
		targets = append(targets, d)
	}
	return targets
}

// findTopic looks a topic up by name when name is set, else by id.
func findTopic(img *metadata.Image, name *string, id [16]byte) (*metadata.Topic, error) {
	if name != nil && *name != "" {
		t, ok := img.TopicByName(*name)
		if !ok {
			return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", *name)
		}
		return t, nil
	}
	t, ok := img.TopicByID(id)
	if !ok {
		return nil, errorf(kerr.UnknownTopicID, "no topic has id %s", base64.RawURLEncoding.EncodeToString(id[:]))
	}
	return t, nil
}
