package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Admin manages the cluster: topics (create, list, describe, delete, add
// partitions, configs), the offset listings a consumer needs to know where
// a partition ends, consumer groups (groups.go), brokers and the
// controller quorum (cluster.go, brokers.go).
//
// Every call is one or a few requests to the cluster. ListTopics and
// DescribeTopic ask the cluster directly, never kgo's metadata cache, so
// they see a create or delete as soon as the cluster does. The offset
// listings find partition leaders through that cache (at most 5s old; kgo
// refreshes it when a broker answers NOT_LEADER).
type Admin struct {
	kcl *kgo.Client
	adm *kadm.Client
}

// TopicID is a topic's 16-byte id (KIP-516).
type TopicID [16]byte

// String renders the id as Kafka's tools do: URL-safe base64 without
// padding.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// IsZero reports whether the id is unset (a cluster without topic ids).
func (id TopicID) IsZero() bool { return id == TopicID{} }

// MarshalText implements encoding.TextMarshaler with String's form.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// ConfigSource says where a config value comes from (topic override, broker
// setting, default). Its String form is Kafka's: DYNAMIC_TOPIC_CONFIG, …
type ConfigSource = kmsg.ConfigSource

// ConfigSourceTopic is the source of a value set on the topic itself.
const ConfigSourceTopic = kmsg.ConfigSourceDynamicTopicConfig

// CreatedTopic is what the cluster reports about a topic it just created.
type CreatedTopic struct {
	Name              string
	ID                TopicID
	Partitions        int32 // -1 if the cluster did not say
	ReplicationFactor int16 // -1 if the cluster did not say
}

// TopicSummary is one line of ListTopics.
type TopicSummary struct {
	Name              string
	ID                TopicID
	Partitions        int
	ReplicationFactor int // replicas of the widest partition
	Internal          bool
}

// PartitionInfo describes one partition of a topic.
type PartitionInfo struct {
	Partition       int32
	Leader          int32 // -1 if there is no leader
	LeaderEpoch     int32
	Replicas        []int32
	ISR             []int32
	OfflineReplicas []int32
	Err             error // a partition-level error, such as LEADER_NOT_AVAILABLE
}

// ConfigEntry is one topic config as the cluster reports it.
type ConfigEntry struct {
	Name      string
	Value     string // empty if Sensitive or null
	Source    ConfigSource
	Sensitive bool
}

// IsOverride reports whether the value was set on the topic itself rather
// than inherited from the broker or the default.
func (e ConfigEntry) IsOverride() bool { return e.Source == ConfigSourceTopic }

// TopicDescription is a topic's metadata and configs.
type TopicDescription struct {
	Name       string
	ID         TopicID
	Internal   bool
	Partitions []PartitionInfo // sorted by partition
	Configs    []ConfigEntry   // sorted by name; every config, see IsOverride
}

// ReplicationFactor returns the replica count of the widest partition.
func (d TopicDescription) ReplicationFactor() int {
	rf := 0
	for _, p := range d.Partitions {
		rf = max(rf, len(p.Replicas))
	}
	return rf
}

// CreateTopic creates a topic. partitions and replicationFactor may be -1
// to take the broker's defaults; configs are topic configs by Kafka name
// (retention.ms, cleanup.policy, …) and may be nil. A topic that exists
// already fails with kerr.TopicAlreadyExists.
func (a *Admin) CreateTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, configs map[string]string) (CreatedTopic, error) {
	if err := checkTopicName(name); err != nil {
		return CreatedTopic{}, fmt.Errorf("create topic: %w", err)
	}
	var kc map[string]*string
	if len(configs) > 0 {
		kc = make(map[string]*string, len(configs))
		for k, v := range configs {
			kc[k] = kadm.StringPtr(v)
		}
	}
	resp, err := a.adm.CreateTopic(ctx, partitions, replicationFactor, kc, name)
	if err != nil {
		return CreatedTopic{}, topicErr("create topic", name, err, resp.ErrMessage)
	}
	return CreatedTopic{
		Name:              name,
		ID:                TopicID(resp.ID),
		Partitions:        resp.NumPartitions,
		ReplicationFactor: resp.ReplicationFactor,
	}, nil
}

// ListTopics returns the cluster's topics sorted by name, without internal
// topics such as __consumer_offsets.
func (a *Admin) ListTopics(ctx context.Context) ([]TopicSummary, error) {
	resp, err := a.metadata(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var out []TopicSummary
	for _, t := range resp.Topics {
		if t.IsInternal || t.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, topicErr("list topics", *t.Topic, err, "")
		}
		s := TopicSummary{Name: *t.Topic, ID: TopicID(t.TopicID), Partitions: len(t.Partitions)}
		for _, p := range t.Partitions {
			s.ReplicationFactor = max(s.ReplicationFactor, len(p.Replicas))
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DescribeTopic returns a topic's partitions (leader, replicas, ISR) and
// configs. A missing topic fails with kerr.UnknownTopicOrPartition.
func (a *Admin) DescribeTopic(ctx context.Context, name string) (TopicDescription, error) {
	if err := checkTopicName(name); err != nil {
		return TopicDescription{}, fmt.Errorf("describe topic: %w", err)
	}
	resp, err := a.metadata(ctx, []string{name})
	if err != nil {
		return TopicDescription{}, topicErr("describe topic", name, err, "")
	}
	if len(resp.Topics) != 1 {
		return TopicDescription{}, topicErr("describe topic", name,
			fmt.Errorf("metadata answered %d topics for 1 requested", len(resp.Topics)), "")
	}
	t := resp.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		return TopicDescription{}, topicErr("describe topic", name, err, "")
	}
	d := TopicDescription{Name: name, ID: TopicID(t.TopicID), Internal: t.IsInternal}
	for _, p := range t.Partitions {
		d.Partitions = append(d.Partitions, PartitionInfo{
			Partition:       p.Partition,
			Leader:          p.Leader,
			LeaderEpoch:     p.LeaderEpoch,
			Replicas:        p.Replicas,
			ISR:             p.ISR,
			OfflineReplicas: p.OfflineReplicas,
			Err:             kerr.ErrorForCode(p.ErrorCode),
		})
	}
	sort.Slice(d.Partitions, func(i, j int) bool { return d.Partitions[i].Partition < d.Partitions[j].Partition })

	if d.Configs, err = a.topicConfigs(ctx, name); err != nil {
		return TopicDescription{}, topicErr("describe topic configs", name, err, "")
	}
	return d, nil
}

// DeleteTopic deletes a topic. A missing topic fails with
// kerr.UnknownTopicOrPartition.
func (a *Admin) DeleteTopic(ctx context.Context, name string) error {
	if err := checkTopicName(name); err != nil {
		return fmt.Errorf("delete topic: %w", err)
	}
	resp, err := a.adm.DeleteTopic(ctx, name)
	if err != nil {
		return topicErr("delete topic", name, err, resp.ErrMessage)
	}
	return nil
}

// AlterTopicConfig changes a topic's configs in place with
// IncrementalAlterConfigs: keys in set get the given value, keys in remove
// go back to their inherited value. Other configs are left alone. A key
// may not appear in both.
func (a *Admin) AlterTopicConfig(ctx context.Context, name string, set map[string]string, remove []string) error {
	if err := checkTopicName(name); err != nil {
		return fmt.Errorf("alter topic config: %w", err)
	}
	alters, err := configAlters(set, remove)
	if err != nil {
		return topicErr("alter topic config", name, err, "")
	}
	resps, err := a.adm.AlterTopicConfigs(ctx, alters, name)
	if err != nil {
		return topicErr("alter topic config", name, err, "")
	}
	resp, err := resps.On(name, nil)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return topicErr("alter topic config", name, err, resp.ErrMessage)
	}
	return nil
}

// SetPartitionCount grows a topic to total partitions (CreatePartitions).
// Partitions can only be added: a total below the current count fails with
// kerr.InvalidPartitions. Keyed records of the topic map to other
// partitions afterwards, since the key hash is taken modulo the count.
func (a *Admin) SetPartitionCount(ctx context.Context, name string, total int32) error {
	if err := checkTopicName(name); err != nil {
		return fmt.Errorf("add partitions: %w", err)
	}
	if total < 1 {
		return topicErr("add partitions", name, invalidf("partition count %d", total), "")
	}
	resps, err := a.adm.UpdatePartitions(ctx, int(total), name)
	if err != nil {
		return topicErr("add partitions", name, err, "")
	}
	resp, err := resps.On(name, nil)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return topicErr("add partitions", name, err, resp.ErrMessage)
	}
	return nil
}

// DescribeBrokerConfigs returns one broker's configs, sorted by name.
func (a *Admin) DescribeBrokerConfigs(ctx context.Context, broker int32) ([]ConfigEntry, error) {
	rcs, err := a.adm.DescribeBrokerConfigs(ctx, broker)
	if err == nil && len(rcs) != 1 {
		err = fmt.Errorf("the cluster described %d resources for 1 requested", len(rcs))
	}
	if err == nil {
		err = rcs[0].Err
		if err != nil && rcs[0].ErrMessage != "" {
			err = fmt.Errorf("%w: %s", err, rcs[0].ErrMessage)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("describe broker %d configs: %w", broker, err)
	}
	return configEntries(rcs[0].Configs), nil
}

// ListStartOffsets returns each partition's log start offset (the oldest
// offset still readable).
func (a *Admin) ListStartOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	return a.listOffsets(ctx, "list start offsets", topic, a.adm.ListStartOffsets)
}

// ListEndOffsets returns each partition's end offset: the high watermark,
// one past the last offset a consumer can read.
func (a *Admin) ListEndOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	return a.listOffsets(ctx, "list end offsets", topic, a.adm.ListEndOffsets)
}

func (a *Admin) listOffsets(ctx context.Context, op, topic string,
	list func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
	if err := checkTopicName(topic); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	listed, err := list(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, topicErr(op, topic, err, "")
	}
	ps, ok := listed[topic]
	if !ok {
		return nil, topicErr(op, topic, kerr.UnknownTopicOrPartition, "")
	}
	out := make(map[int32]int64, len(ps))
	for p, o := range ps {
		out[p] = o.Offset
	}
	return out, nil
}

// metadata asks the cluster directly (never kgo's metadata cache, which may
// be a few seconds old) about topics; nil means every topic.
func (a *Admin) metadata(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
	}
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	return req.RequestWith(ctx, a.kcl)
}

func (a *Admin) topicConfigs(ctx context.Context, name string) ([]ConfigEntry, error) {
	rcs, err := a.adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return nil, err
	}
	rc, err := rcs.On(name, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		if rc.ErrMessage != "" {
			return nil, fmt.Errorf("%w: %s", err, rc.ErrMessage)
		}
		return nil, err
	}
	return configEntries(rc.Configs), nil
}

func configEntries(cs []kadm.Config) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(cs))
	for _, c := range cs {
		out = append(out, ConfigEntry{
			Name:      c.Key,
			Value:     c.MaybeValue(),
			Source:    c.Source,
			Sensitive: c.Sensitive,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// configAlters turns set/remove into incremental alter operations, in a
// stable order.
func configAlters(set map[string]string, remove []string) ([]kadm.AlterConfig, error) {
	if len(set) == 0 && len(remove) == 0 {
		return nil, invalidf("no config to set or remove")
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		if k == "" {
			return nil, invalidf("empty config name")
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	alters := make([]kadm.AlterConfig, 0, len(set)+len(remove))
	for _, k := range keys {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(set[k])})
	}
	for _, k := range remove {
		if k == "" {
			return nil, invalidf("empty config name")
		}
		if _, ok := set[k]; ok {
			return nil, invalidf("config %q both set and removed", k)
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return alters, nil
}

func checkTopicName(name string) error {
	if name == "" {
		return invalidf("empty topic name")
	}
	return nil
}

// topicErr wraps err with the operation and topic, adding the cluster's
// error message when it says more than the error code does.
func topicErr(op, topic string, err error, msg string) error {
	var ke *kerr.Error
	if msg != "" && (!errors.As(err, &ke) || msg != ke.Description) {
		return fmt.Errorf("%s %q: %w: %s", op, topic, err, msg)
	}
	return fmt.Errorf("%s %q: %w", op, topic, err)
}
