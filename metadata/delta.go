package metadata

import (
	"maps"
	"slices"
	"strings"
)

// Delta describes how an image differs from the one before it. Lists are
// sorted (topics by name then id, brokers by id) so that every consumer
// sees changes in the same order. A topic deleted and re-created under the
// same name in one batch appears in DeletedTopics and in CreatedTopics with
// different ids: handle deletions first.
type Delta struct {
	// Offset is the offset of the new image.
	Offset uint64
	// CreatedTopics are topics absent from the old image, as in the new one.
	CreatedTopics []*Topic
	// DeletedTopics are topics absent from the new image, as in the old one.
	DeletedTopics []*Topic
	// ChangedTopics are topics in both images whose partitions or configs
	// differ.
	ChangedTopics []TopicDelta
	// ChangedBrokers are the ids of brokers registered, re-registered,
	// fenced or unfenced.
	ChangedBrokers []int32
	// ChangedBrokerConfigs are the broker config resources changed: broker
	// ids in decimal, "" for the cluster default.
	ChangedBrokerConfigs []string
	ClusterIDChanged     bool
	FeaturesChanged      bool
	ProducerIDsChanged   bool
}

// TopicDelta is the change to one topic present in both images.
type TopicDelta struct {
	Old, New          *Topic
	CreatedPartitions []int32 // partitions absent from Old
	ChangedPartitions []int32 // partitions whose assignment or epochs differ
	ConfigsChanged    bool
}

// Empty reports whether the delta holds no change.
func (d *Delta) Empty() bool {
	return len(d.CreatedTopics) == 0 && len(d.DeletedTopics) == 0 && len(d.ChangedTopics) == 0 &&
		len(d.ChangedBrokers) == 0 && len(d.ChangedBrokerConfigs) == 0 &&
		!d.ClusterIDChanged && !d.FeaturesChanged && !d.ProducerIDsChanged
}

func (b *builder) delta(next *Image) *Delta {
	d := &Delta{
		Offset:             next.offset,
		ClusterIDChanged:   b.clusterID,
		FeaturesChanged:    b.features,
		ProducerIDsChanged: b.producerIDs,
	}
	for id := range b.touchedBrokers {
		if !brokerEqual(b.base.brokers[id], next.brokers[id]) {
			d.ChangedBrokers = append(d.ChangedBrokers, id)
		}
	}
	slices.Sort(d.ChangedBrokers)
	for r := range b.changedBrkCfg {
		if !maps.Equal(b.base.brokerConfigs[r], next.brokerConfigs[r]) {
			d.ChangedBrokerConfigs = append(d.ChangedBrokerConfigs, r)
		}
	}
	slices.Sort(d.ChangedBrokerConfigs)
	diffTopics(d, b.base, next, b.touchedTopics)
	return d
}

// Diff returns the delta that takes prev to next, for consumers that jump
// between images without applying the batches in between (a snapshot
// restore, a new subscriber starting from Empty()).
func Diff(prev, next *Image) *Delta {
	d := &Delta{
		Offset:             next.offset,
		ClusterIDChanged:   prev.clusterID != next.clusterID,
		FeaturesChanged:    !maps.Equal(prev.features, next.features),
		ProducerIDsChanged: prev.producerIDs != next.producerIDs,
	}
	for id, b := range next.brokers {
		if old, ok := prev.brokers[id]; !ok || !brokerEqual(old, b) {
			d.ChangedBrokers = append(d.ChangedBrokers, id)
		}
	}
	for id := range prev.brokers {
		if _, ok := next.brokers[id]; !ok {
			d.ChangedBrokers = append(d.ChangedBrokers, id)
		}
	}
	slices.Sort(d.ChangedBrokers)
	for r, cfg := range next.brokerConfigs {
		if !maps.Equal(prev.brokerConfigs[r], cfg) {
			d.ChangedBrokerConfigs = append(d.ChangedBrokerConfigs, r)
		}
	}
	for r := range prev.brokerConfigs {
		if _, ok := next.brokerConfigs[r]; !ok {
			d.ChangedBrokerConfigs = append(d.ChangedBrokerConfigs, r)
		}
	}
	slices.Sort(d.ChangedBrokerConfigs)
	ids := map[[16]byte]struct{}{}
	prev.topics.each(func(id [16]byte, _ *Topic) { ids[id] = struct{}{} })
	next.topics.each(func(id [16]byte, _ *Topic) { ids[id] = struct{}{} })
	diffTopics(d, prev, next, ids)
	return d
}

// diffTopics fills the topic lists of d by comparing the given topics of
// prev and next.
func diffTopics(d *Delta, prev, next *Image, ids map[[16]byte]struct{}) {
	for id := range ids {
		old, inOld := prev.TopicByID(id)
		cur, inNew := next.TopicByID(id)
		switch {
		case inOld && !inNew:
			d.DeletedTopics = append(d.DeletedTopics, old)
		case !inOld && inNew:
			d.CreatedTopics = append(d.CreatedTopics, cur)
		case inOld && inNew && old != cur:
			if td, changed := diffTopic(old, cur); changed {
				d.ChangedTopics = append(d.ChangedTopics, td)
			}
		}
	}
	slices.SortFunc(d.CreatedTopics, compareTopics)
	slices.SortFunc(d.DeletedTopics, compareTopics)
	slices.SortFunc(d.ChangedTopics, func(a, b TopicDelta) int { return compareTopics(a.New, b.New) })
}

func diffTopic(old, cur *Topic) (TopicDelta, bool) {
	td := TopicDelta{Old: old, New: cur, ConfigsChanged: !maps.Equal(old.Configs, cur.Configs)}
	for p := range cur.Partitions {
		if p >= len(old.Partitions) {
			td.CreatedPartitions = append(td.CreatedPartitions, int32(p))
		} else if !old.Partitions[p].equal(&cur.Partitions[p]) {
			td.ChangedPartitions = append(td.ChangedPartitions, int32(p))
		}
	}
	changed := td.ConfigsChanged || len(td.CreatedPartitions) > 0 || len(td.ChangedPartitions) > 0
	return td, changed
}

func compareTopics(a, b *Topic) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return slices.Compare(a.ID[:], b.ID[:])
}

func brokerEqual(a, b Broker) bool {
	return a.ID == b.ID && a.IncarnationID == b.IncarnationID && a.Epoch == b.Epoch &&
		a.Rack == b.Rack && a.Fenced == b.Fenced && slices.Equal(a.Listeners, b.Listeners)
}
