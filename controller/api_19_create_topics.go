// CreateTopics (key 19), versions 0-7.
//
// Topics are validated against the latest image (name rules, collisions,
// existence, partitions, replication factor, manual assignment, configs)
// and all topics of a request that pass are created in one log entry.
// TimeoutMillis is not used: the answer is sent once the entry is
// committed and applied. Replicas are placed only on registered, unfenced
// brokers; a replication factor above their number is
// INVALID_REPLICATION_FACTOR.

package controller

import (
	"context"
	"slices"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicPlan is the decision for one topic of a CreateTopics request.
type topicPlan struct {
	id         [16]byte
	assignment [][]int32
	configs    map[string]string
	err        error
}

// createState is what the topics of one request decide against: the image
// plus what earlier topics of the same request take.
type createState struct {
	img        *metadata.Image
	brokers    []int32 // unfenced, sorted
	created    map[string]bool
	ids        map[[16]byte]bool
	collisions map[string]string // collision name -> topic name; built lazily
	partitions int               // created so far by this request
}

func newCreateState(img *metadata.Image) *createState {
	return &createState{img: img, brokers: img.UnfencedBrokers(), created: map[string]bool{}, ids: map[[16]byte]bool{}}
}

// collision returns the existing topic whose name collides with name
// ('.' and '_' are the same in Kafka's metric names), or "".
func (s *createState) collision(name string) string {
	if s.collisions == nil {
		s.collisions = map[string]string{}
		for _, t := range s.img.Topics() {
			s.collisions[metadata.TopicCollisionName(t.Name)] = t.Name
		}
	}
	if other, ok := s.collisions[metadata.TopicCollisionName(name)]; ok && other != name {
		return other
	}
	return ""
}

// CreateTopics creates topics (or only validates them with ValidateOnly).
func (c *Controller) CreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) (*kmsg.CreateTopicsResponse, error) {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	names := make([]string, len(req.Topics))
	for i, t := range req.Topics {
		names[i] = t.Topic
	}
	dup := duplicates(names)
	plans := make([]topicPlan, len(req.Topics))
	_, err := c.commit(ctx, func(img *metadata.Image) ([]metadata.Record, error) {
		st := newCreateState(img)
		var recs []metadata.Record
		for i := range req.Topics {
			t, p := &req.Topics[i], &plans[i]
			if dup[t.Topic] {
				p.err = errorf(kerr.InvalidRequest, "topic %q appears more than once in the request", t.Topic)
				continue
			}
			if p.err = c.planTopic(st, t, p); p.err != nil || req.ValidateOnly {
				continue
			}
			recs = append(recs, &metadata.TopicRecord{ID: p.id, Name: t.Topic})
			recs = append(recs, partitionRecords(p.id, 0, p.assignment)...)
			for _, k := range sortedKeys(p.configs) {
				v := p.configs[k]
				recs = append(recs, &metadata.ConfigRecord{
					ResourceType: metadata.ConfigResourceTopic, ResourceName: t.Topic, Name: k, Value: &v,
				})
			}
		}
		return recs, nil
	})
	for i, t := range req.Topics {
		p := &plans[i]
		if err != nil && p.err == nil {
			p.err = err
		}
		if p.err == nil && req.ValidateOnly {
			p.id = [16]byte{}
		}
		resp.Topics = append(resp.Topics, c.createTopicResult(t.Topic, p))
		c.logTopicResult(t.Topic, p, req.ValidateOnly)
	}
	return resp, nil
}

func (c *Controller) logTopicResult(name string, p *topicPlan, validateOnly bool) {
	switch {
	case p.err != nil:
		c.log.Info().Str("topic", name).Err(p.err).Msg("create topic refused")
	case !validateOnly:
		c.log.Info().Str("topic", name).Int("partitions", len(p.assignment)).
			Int("replication_factor", len(p.assignment[0])).Msg("topic created")
	}
}

// planTopic validates one topic and decides its id, assignment and
// configs.
func (c *Controller) planTopic(st *createState, t *kmsg.CreateTopicsRequestTopic, p *topicPlan) error {
	if err := metadata.ValidateTopicName(t.Topic); err != nil {
		return err
	}
	if _, ok := st.img.TopicByName(t.Topic); ok || st.created[t.Topic] {
		return errorf(kerr.TopicAlreadyExists, "topic %q already exists", t.Topic)
	}
	if other := st.collision(t.Topic); other != "" {
		return errorf(kerr.InvalidTopicException,
			"topic %q collides with existing topic %q: '.' and '_' are the same in metric names", t.Topic, other)
	}
	configs, err := requestConfigs(t.Configs)
	if err != nil {
		return err
	}
	assignment, err := c.assignTopic(st, t)
	if err != nil {
		return err
	}
	if err := metadata.ValidateTopicConfigs(configs); err != nil {
		return err
	}
	p.id = newTopicID(st.img, st.ids)
	p.assignment, p.configs = assignment, configs
	st.created[t.Topic] = true
	st.ids[p.id] = true
	st.collisions[metadata.TopicCollisionName(t.Topic)] = t.Topic
	st.partitions += len(assignment)
	return nil
}

// assignTopic returns the replica assignment: the client's, checked, or
// round-robin placement over the unfenced brokers.
func (c *Controller) assignTopic(st *createState, t *kmsg.CreateTopicsRequestTopic) ([][]int32, error) {
	budget := maxPartitionsPerRequest - st.partitions
	if len(t.ReplicaAssignment) > 0 {
		if t.NumPartitions != -1 || t.ReplicationFactor != -1 {
			return nil, errorf(kerr.InvalidRequest,
				"a replica assignment was given together with a number of partitions or a replication factor: use one or the other")
		}
		if len(t.ReplicaAssignment) > budget {
			return nil, errorf(kerr.InvalidPartitions, "at most %d partitions can be created by one request", maxPartitionsPerRequest)
		}
		assignment := make([][]int32, len(t.ReplicaAssignment))
		for _, a := range t.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= len(assignment) || assignment[a.Partition] != nil {
				return nil, errorf(kerr.InvalidReplicaAssignment,
					"the replica assignment must list partitions 0 to %d once each", len(assignment)-1)
			}
			assignment[a.Partition] = slices.Clone(a.Replicas)
			if assignment[a.Partition] == nil {
				assignment[a.Partition] = []int32{}
			}
		}
		return assignment, checkManualAssignment(st.img, assignment, len(assignment[0]))
	}
	np, rf := t.NumPartitions, t.ReplicationFactor
	if np == -1 {
		np = c.cfg.DefaultNumPartitions
	}
	if rf == -1 {
		rf = c.cfg.DefaultReplicationFactor
	}
	switch {
	case np <= 0:
		return nil, errorf(kerr.InvalidPartitions, "the number of partitions must be at least 1 (or -1 for the default), not %d", t.NumPartitions)
	case int(np) > budget:
		return nil, errorf(kerr.InvalidPartitions, "at most %d partitions can be created by one request", maxPartitionsPerRequest)
	case rf <= 0:
		return nil, errorf(kerr.InvalidReplicationFactor, "the replication factor must be at least 1 (or -1 for the default), not %d", t.ReplicationFactor)
	case int(rf) > len(st.brokers):
		return nil, errorf(kerr.InvalidReplicationFactor,
			"replication factor %d is larger than the %d available (registered, unfenced) broker(s)", rf, len(st.brokers))
	}
	return placeReplicas(rackAlternated(st.img, st.brokers), randomStart(len(st.brokers)), 0, int(np), int(rf)), nil
}

// requestConfigs turns a request's config list into a map, refusing null
// values and repeated keys.
func requestConfigs(cfgs []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, error) {
	if len(cfgs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(cfgs))
	for _, cfg := range cfgs {
		if cfg.Value == nil {
			return nil, errorf(kerr.InvalidConfig, "topic config %q has a null value", cfg.Name)
		}
		if _, ok := m[cfg.Name]; ok {
			return nil, errorf(kerr.InvalidConfig, "topic config %q is given more than once", cfg.Name)
		}
		m[cfg.Name] = *cfg.Value
	}
	return m, nil
}

func (c *Controller) createTopicResult(name string, p *topicPlan) kmsg.CreateTopicsResponseTopic {
	rt := kmsg.NewCreateTopicsResponseTopic()
	rt.Topic = name
	if p.err != nil {
		rt.ErrorCode, rt.ErrorMessage = errResult(p.err)
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		return rt
	}
	rt.TopicID = p.id
	rt.NumPartitions = int32(len(p.assignment))
	rt.ReplicationFactor = int16(len(p.assignment[0]))
	for _, e := range metadata.EffectiveTopicConfigs(p.configs, c.cfg.TopicConfigDefaults) {
		cfg := kmsg.NewCreateTopicsResponseTopicConfig()
		cfg.Name = e.Name
		if !e.Sensitive {
			v := e.Value
			cfg.Value = &v
		}
		cfg.ReadOnly = e.ReadOnly
		cfg.Source = int8(e.Source)
		cfg.IsSensitive = e.Sensitive
		rt.Configs = append(rt.Configs, cfg)
	}
	return rt
}
