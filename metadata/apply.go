package metadata

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Apply applies a batch of records, the contents of the log entry at
// offset, and returns the new image and what changed. The batch is applied
// atomically: if any record contradicts the image (see ErrInconsistent) the
// error is returned, no image is built, and the receiver is unchanged, as it
// always is. Apply is deterministic: the same image and batch give the same
// result on every node.
//
// offset must be greater than the image's offset, except that an empty
// batch at the image's own offset is accepted (a no-op).
func (i *Image) Apply(batch []Record, offset uint64) (*Image, *Delta, error) {
	if offset < i.offset || (offset == i.offset && len(batch) > 0) {
		return nil, nil, inconsistentf("batch offset %d is not after the image offset %d", offset, i.offset)
	}
	b := newBuilder(i, offset)
	for n, rec := range batch {
		if err := b.apply(rec); err != nil {
			return nil, nil, fmt.Errorf("record %d (%s) at offset %d: %w", n, rec.Type(), offset, err)
		}
	}
	next := b.finish()
	return next, b.delta(next), nil
}

// builder accumulates the changes of one batch on a clone of the base image.
// It copies each part of the image at most once per batch.
type builder struct {
	base   *Image
	img    *Image
	topics *cowWriter[[16]byte, *Topic]
	names  *cowWriter[string, [16]byte]

	ownedTopics   map[[16]byte]bool // topics cloned in this batch
	ownsBrokers   bool
	ownsFeatures  bool
	ownsBrkConfig map[string]bool // nil key map: the outer map not yet owned

	touchedTopics  map[[16]byte]struct{}
	touchedBrokers map[int32]struct{}
	changedBrkCfg  map[string]struct{}
	features       bool
	producerIDs    bool
	clusterID      bool
}

func newBuilder(base *Image, offset uint64) *builder {
	img := base.clone()
	img.offset = offset
	return &builder{
		base:           base,
		img:            img,
		topics:         newCowWriter(base.topics),
		names:          newCowWriter(base.names),
		ownedTopics:    map[[16]byte]bool{},
		touchedTopics:  map[[16]byte]struct{}{},
		touchedBrokers: map[int32]struct{}{},
		changedBrkCfg:  map[string]struct{}{},
	}
}

func (b *builder) finish() *Image {
	b.img.topics = b.topics.result()
	b.img.names = b.names.result()
	return b.img
}

func (b *builder) apply(rec Record) error {
	switch r := rec.(type) {
	case *BootstrapRecord:
		return b.bootstrap(r)
	case *FeatureLevelRecord:
		b.setFeature(r.Name, r.Level)
		return nil
	case *RegisterBrokerRecord:
		return b.registerBroker(r)
	case *FenceBrokerRecord:
		return b.setFenced(r.NodeID, r.BrokerEpoch, true)
	case *UnfenceBrokerRecord:
		return b.setFenced(r.NodeID, r.BrokerEpoch, false)
	case *UnregisterBrokerRecord:
		return b.unregisterBroker(r)
	case *TopicRecord:
		return b.createTopic(r)
	case *PartitionRecord:
		return b.putPartition(r)
	case *PartitionChangeRecord:
		return b.changePartition(r)
	case *RemoveTopicRecord:
		return b.removeTopic(r)
	case *ConfigRecord:
		return b.config(r)
	case *ProducerIDsRecord:
		return b.producerIDBlock(r)
	}
	return inconsistentf("record type %s cannot be applied", rec.Type())
}

func (b *builder) bootstrap(r *BootstrapRecord) error {
	if r.ClusterID == "" {
		return inconsistentf("bootstrap record without a cluster id")
	}
	if b.img.clusterID != "" && b.img.clusterID != r.ClusterID {
		return inconsistentf("bootstrap record for cluster %q in the log of cluster %q", r.ClusterID, b.img.clusterID)
	}
	if b.img.clusterID != r.ClusterID {
		b.img.clusterID = r.ClusterID
		b.clusterID = true
	}
	b.setFeature(MetadataVersionFeature, r.MetadataVersion)
	return nil
}

func (b *builder) setFeature(name string, level int16) {
	if b.img.features[name] == level {
		return
	}
	if !b.ownsFeatures {
		b.img.features = maps.Clone(b.img.features)
		if b.img.features == nil {
			b.img.features = map[string]int16{}
		}
		b.ownsFeatures = true
	}
	if level == 0 {
		delete(b.img.features, name)
	} else {
		b.img.features[name] = level
	}
	if name == MetadataVersionFeature {
		b.img.metadataVersion = level
	}
	b.features = true
}

func (b *builder) putBroker(br Broker) {
	if !b.ownsBrokers {
		b.img.brokers = maps.Clone(b.img.brokers)
		if b.img.brokers == nil {
			b.img.brokers = map[int32]Broker{}
		}
		b.ownsBrokers = true
	}
	b.img.brokers[br.ID] = br
	b.touchedBrokers[br.ID] = struct{}{}
}

func (b *builder) registerBroker(r *RegisterBrokerRecord) error {
	if r.NodeID < 0 {
		return inconsistentf("broker id %d is negative", r.NodeID)
	}
	epoch := r.BrokerEpoch
	if epoch < 0 {
		epoch = int64(b.img.offset)
	}
	b.putBroker(Broker{
		ID:            r.NodeID,
		IncarnationID: r.IncarnationID,
		Epoch:         epoch,
		Listeners:     slices.Clone(r.Listeners),
		Rack:          r.Rack,
		Fenced:        r.Fenced,
	})
	return nil
}

func (b *builder) setFenced(id int32, epoch int64, fenced bool) error {
	br, ok := b.img.brokers[id]
	if !ok {
		return inconsistentf("broker %d is not registered", id)
	}
	if br.Epoch != epoch {
		return inconsistentf("broker %d has epoch %d, the record names epoch %d", id, br.Epoch, epoch)
	}
	if br.Fenced != fenced {
		br.Fenced = fenced
		b.putBroker(br)
	}
	return nil
}

func (b *builder) unregisterBroker(r *UnregisterBrokerRecord) error {
	br, ok := b.img.brokers[r.NodeID]
	if !ok {
		return inconsistentf("broker %d is not registered", r.NodeID)
	}
	if br.Epoch != r.BrokerEpoch {
		return inconsistentf("broker %d has epoch %d, the record names epoch %d", r.NodeID, br.Epoch, r.BrokerEpoch)
	}
	if !b.ownsBrokers {
		b.img.brokers = maps.Clone(b.img.brokers)
		b.ownsBrokers = true
	}
	delete(b.img.brokers, r.NodeID)
	b.touchedBrokers[r.NodeID] = struct{}{}
	return nil
}

// topicForWrite returns the topic with the given id, cloned once per batch
// so that it can be modified in place.
func (b *builder) topicForWrite(id [16]byte) (*Topic, error) {
	t, ok := b.topics.get(id, idShard(id))
	if !ok {
		return nil, inconsistentf("topic id %x does not exist", id)
	}
	if !b.ownedTopics[id] {
		t = &Topic{
			ID:         t.ID,
			Name:       t.Name,
			Partitions: slices.Clone(t.Partitions),
			Configs:    maps.Clone(t.Configs),
		}
		b.topics.set(id, idShard(id), t)
		b.ownedTopics[id] = true
	}
	b.touchedTopics[id] = struct{}{}
	return t, nil
}

func (b *builder) createTopic(r *TopicRecord) error {
	if r.ID == ([16]byte{}) {
		return inconsistentf("topic %q has the zero id", r.Name)
	}
	if r.Name == "" {
		return inconsistentf("topic %x has an empty name", r.ID)
	}
	if _, ok := b.topics.get(r.ID, idShard(r.ID)); ok {
		return inconsistentf("topic id %x already exists", r.ID)
	}
	if _, ok := b.names.get(r.Name, nameShard(r.Name)); ok {
		return inconsistentf("topic %q already exists", r.Name)
	}
	b.topics.set(r.ID, idShard(r.ID), &Topic{ID: r.ID, Name: r.Name})
	b.names.set(r.Name, nameShard(r.Name), r.ID)
	b.ownedTopics[r.ID] = true
	b.touchedTopics[r.ID] = struct{}{}
	return nil
}

func (b *builder) putPartition(r *PartitionRecord) error {
	t, err := b.topicForWrite(r.TopicID)
	if err != nil {
		return err
	}
	if r.Partition < 0 || int(r.Partition) > len(t.Partitions) {
		return inconsistentf("topic %q has %d partitions, cannot put partition %d", t.Name, len(t.Partitions), r.Partition)
	}
	if len(r.Replicas) == 0 {
		return inconsistentf("partition %s-%d has no replicas", t.Name, r.Partition)
	}
	p := Partition{
		ID:               r.Partition,
		Replicas:         slices.Clone(r.Replicas),
		ISR:              slices.Clone(r.ISR),
		Leader:           r.Leader,
		LeaderEpoch:      r.LeaderEpoch,
		PartitionEpoch:   r.PartitionEpoch,
		AddingReplicas:   nonEmpty(r.AddingReplicas),
		RemovingReplicas: nonEmpty(r.RemovingReplicas),
	}
	if err := checkReassignment(t.Name, &p); err != nil {
		return err
	}
	if int(r.Partition) == len(t.Partitions) {
		t.Partitions = append(t.Partitions, p)
	} else {
		t.Partitions[r.Partition] = p
	}
	return nil
}

// changePartition applies Kafka's epoch rules: a different leader bumps the
// leader epoch; any actual change of leader, ISR, replicas or reassignment
// state bumps the partition epoch.
func (b *builder) changePartition(r *PartitionChangeRecord) error {
	t, ok := b.topics.get(r.TopicID, idShard(r.TopicID))
	if !ok {
		return inconsistentf("topic id %x does not exist", r.TopicID)
	}
	if r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
		return inconsistentf("partition %s-%d does not exist", t.Name, r.Partition)
	}
	p := t.Partitions[r.Partition]
	changed := false
	if r.Leader != nil && *r.Leader != p.Leader {
		p.Leader = *r.Leader
		p.LeaderEpoch++
		changed = true
	}
	if r.ISR != nil && !slices.Equal(r.ISR, p.ISR) {
		p.ISR = slices.Clone(r.ISR)
		changed = true
	}
	if r.Replicas != nil && !slices.Equal(r.Replicas, p.Replicas) {
		if len(r.Replicas) == 0 {
			return inconsistentf("partition %s-%d cannot have no replicas", t.Name, r.Partition)
		}
		p.Replicas = slices.Clone(r.Replicas)
		changed = true
	}
	if r.AddingReplicas != nil && !slices.Equal(nonEmpty(r.AddingReplicas), p.AddingReplicas) {
		p.AddingReplicas = nonEmpty(r.AddingReplicas)
		changed = true
	}
	if r.RemovingReplicas != nil && !slices.Equal(nonEmpty(r.RemovingReplicas), p.RemovingReplicas) {
		p.RemovingReplicas = nonEmpty(r.RemovingReplicas)
		changed = true
	}
	if !changed {
		return nil
	}
	if err := checkReassignment(t.Name, &p); err != nil {
		return err
	}
	p.PartitionEpoch++
	t, _ = b.topicForWrite(r.TopicID)
	t.Partitions[r.Partition] = p
	return nil
}

// checkReassignment checks a partition's reassignment state: adding and
// removing replicas are replicas, and none is both.
func checkReassignment(topic string, p *Partition) error {
	for _, id := range p.AddingReplicas {
		if !slices.Contains(p.Replicas, id) || slices.Contains(p.RemovingReplicas, id) {
			return inconsistentf("partition %s-%d: adding replica %d is not a replica, or is also being removed", topic, p.ID, id)
		}
	}
	for _, id := range p.RemovingReplicas {
		if !slices.Contains(p.Replicas, id) {
			return inconsistentf("partition %s-%d: removing replica %d is not a replica", topic, p.ID, id)
		}
	}
	return nil
}

// nonEmpty returns a copy of ids, or nil when it is empty, so that images
// compare equal however they were built.
func nonEmpty(ids []int32) []int32 {
	if len(ids) == 0 {
		return nil
	}
	return slices.Clone(ids)
}

func (b *builder) removeTopic(r *RemoveTopicRecord) error {
	t, ok := b.topics.get(r.ID, idShard(r.ID))
	if !ok {
		return inconsistentf("topic id %x does not exist", r.ID)
	}
	b.topics.delete(r.ID, idShard(r.ID))
	b.names.delete(t.Name, nameShard(t.Name))
	delete(b.ownedTopics, r.ID)
	b.touchedTopics[r.ID] = struct{}{}
	return nil
}

func (b *builder) config(r *ConfigRecord) error {
	if r.Name == "" {
		return inconsistentf("config record without a key")
	}
	switch r.ResourceType {
	case ConfigResourceTopic:
		id, ok := b.names.get(r.ResourceName, nameShard(r.ResourceName))
		if !ok {
			return inconsistentf("config for unknown topic %q", r.ResourceName)
		}
		t, err := b.topicForWrite(id)
		if err != nil {
			return err
		}
		t.Configs = setConfig(t.Configs, r.Name, r.Value)
		return nil
	case ConfigResourceBroker:
		if r.ResourceName != "" {
			if _, err := strconv.ParseInt(r.ResourceName, 10, 32); err != nil {
				return inconsistentf("broker config resource %q is not a broker id", r.ResourceName)
			}
		}
		b.brokerConfigForWrite(r.ResourceName, r.Name, r.Value)
		return nil
	}
	return inconsistentf("config resource type %d is not supported", r.ResourceType)
}

func (b *builder) brokerConfigForWrite(resource, key string, value *string) {
	if b.ownsBrkConfig == nil {
		b.img.brokerConfigs = maps.Clone(b.img.brokerConfigs)
		if b.img.brokerConfigs == nil {
			b.img.brokerConfigs = map[string]map[string]string{}
		}
		b.ownsBrkConfig = map[string]bool{}
	}
	cfg := b.img.brokerConfigs[resource]
	if !b.ownsBrkConfig[resource] {
		cfg = maps.Clone(cfg)
		b.ownsBrkConfig[resource] = true
	}
	cfg = setConfig(cfg, key, value)
	if cfg == nil {
		delete(b.img.brokerConfigs, resource)
	} else {
		b.img.brokerConfigs[resource] = cfg
	}
	b.changedBrkCfg[resource] = struct{}{}
}

// setConfig sets or deletes a key of a map the caller owns; it returns nil
// for an empty map so that images compare equal however they were built.
func setConfig(m map[string]string, key string, value *string) map[string]string {
	if value == nil {
		delete(m, key)
	} else {
		if m == nil {
			m = map[string]string{}
		}
		m[key] = *value
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func (b *builder) producerIDBlock(r *ProducerIDsRecord) error {
	if r.NextProducerID <= b.img.producerIDs.next {
		return inconsistentf("next producer id %d does not move past %d", r.NextProducerID, b.img.producerIDs.next)
	}
	b.img.producerIDs = producerIDs{next: r.NextProducerID, brokerID: r.BrokerID, brokerEpoch: r.BrokerEpoch}
	b.producerIDs = true
	return nil
}
