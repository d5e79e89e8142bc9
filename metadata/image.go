package metadata

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// Broker is a registered broker as the image knows it.
type Broker struct {
	ID            int32
	IncarnationID [16]byte
	Epoch         int64
	Listeners     []Listener // read-only
	Rack          string
	Fenced        bool
}

// Listener returns the broker's listener with the given name.
func (b Broker) Listener(name string) (Listener, bool) {
	for _, l := range b.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// Topic is a topic as the image knows it. Values reachable from an Image are
// shared by every image that did not change them: never modify them.
type Topic struct {
	ID         [16]byte
	Name       string
	Partitions []Partition       // index = partition id
	Configs    map[string]string // overrides only; nil when none
}

// Partition is one partition's assignment and epochs. While a reassignment
// is in progress (KIP-455), Replicas is the union of the original and the
// target replicas, AddingReplicas the targets that were not replicas and
// RemovingReplicas the original replicas that are not targets; both are nil
// otherwise.
type Partition struct {
	ID               int32
	Replicas         []int32
	ISR              []int32
	Leader           int32 // NoLeader when none
	LeaderEpoch      int32
	PartitionEpoch   int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Reassigning reports whether a reassignment of the partition is in
// progress.
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas is the replica set a reassignment in progress moves to
// (Replicas without RemovingReplicas, in order), or Replicas when none is.
func (p *Partition) TargetReplicas() []int32 {
	out := make([]int32, 0, len(p.Replicas))
	for _, r := range p.Replicas {
		if !slices.Contains(p.RemovingReplicas, r) {
			out = append(out, r)
		}
	}
	return out
}

// OriginalReplicas is the replica set before the reassignment in progress
// (Replicas without AddingReplicas, in order), or Replicas when none is.
func (p *Partition) OriginalReplicas() []int32 {
	out := make([]int32, 0, len(p.Replicas))
	for _, r := range p.Replicas {
		if !slices.Contains(p.AddingReplicas, r) {
			out = append(out, r)
		}
	}
	return out
}

// Partition returns partition p of the topic.
func (t *Topic) Partition(p int32) (Partition, bool) {
	if p < 0 || int(p) >= len(t.Partitions) {
		return Partition{}, false
	}
	return t.Partitions[p], true
}

// ReplicationFactor is the number of replicas of partition 0, or 0 for a
// topic without partitions.
func (t *Topic) ReplicationFactor() int {
	if len(t.Partitions) == 0 {
		return 0
	}
	return len(t.Partitions[0].Replicas)
}

func (p *Partition) equal(o *Partition) bool {
	return p.ID == o.ID && p.Leader == o.Leader && p.LeaderEpoch == o.LeaderEpoch &&
		p.PartitionEpoch == o.PartitionEpoch && slices.Equal(p.Replicas, o.Replicas) &&
		slices.Equal(p.ISR, o.ISR) && slices.Equal(p.AddingReplicas, o.AddingReplicas) &&
		slices.Equal(p.RemovingReplicas, o.RemovingReplicas)
}

// producerIDs is the state of the producer-id allocator.
type producerIDs struct {
	next        int64
	brokerID    int32
	brokerEpoch int64
}

// Image is an immutable snapshot of the cluster metadata at one offset of
// the metadata log. Apply returns a new Image and leaves the receiver as it
// was; the new image shares every part that did not change. An Image is
// safe to share between goroutines without locking, and so is everything
// its accessors return, as long as nobody modifies it.
type Image struct {
	offset          uint64
	clusterID       string
	metadataVersion int16
	features        map[string]int16 // never modified; replaced on change
	brokers         map[int32]Broker // never modified; replaced on change
	brokerConfigs   map[string]map[string]string
	topics          cowMap[[16]byte, *Topic]
	names           cowMap[string, [16]byte]
	producerIDs     producerIDs

	sorted struct {
		once    sync.Once
		topics  []*Topic
		brokers []Broker
	}
}

var emptyImage = &Image{}

// Empty returns the image before the first record.
func Empty() *Image { return emptyImage }

// Offset is the offset (Raft index) of the last batch applied.
func (i *Image) Offset() uint64 { return i.offset }

// ClusterID is the id set by the BootstrapRecord, or "" before it.
func (i *Image) ClusterID() string { return i.clusterID }

// MetadataVersion is the cluster's metadata version, 0 before bootstrap.
func (i *Image) MetadataVersion() int16 { return i.metadataVersion }

// FeatureLevel returns a finalized feature's level, 0 when not set.
func (i *Image) FeatureLevel(name string) int16 { return i.features[name] }

// Features returns a copy of the finalized feature levels.
func (i *Image) Features() map[string]int16 {
	out := make(map[string]int16, len(i.features))
	for k, v := range i.features {
		out[k] = v
	}
	return out
}

func (i *Image) sortOnce() {
	i.sorted.once.Do(func() {
		ts := make([]*Topic, 0, i.topics.len())
		i.topics.each(func(_ [16]byte, t *Topic) { ts = append(ts, t) })
		slices.SortFunc(ts, func(a, b *Topic) int { return strings.Compare(a.Name, b.Name) })
		bs := make([]Broker, 0, len(i.brokers))
		for _, b := range i.brokers {
			bs = append(bs, b)
		}
		slices.SortFunc(bs, func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
		i.sorted.topics, i.sorted.brokers = ts, bs
	})
}

// Brokers returns the registered brokers sorted by id. The slice is the
// caller's; the listeners are shared.
func (i *Image) Brokers() []Broker {
	i.sortOnce()
	return slices.Clone(i.sorted.brokers)
}

// Broker returns a registered broker.
func (i *Image) Broker(id int32) (Broker, bool) {
	b, ok := i.brokers[id]
	return b, ok
}

// UnfencedBrokers returns the ids of the registered, unfenced brokers in
// increasing order.
func (i *Image) UnfencedBrokers() []int32 {
	i.sortOnce()
	var ids []int32
	for _, b := range i.sorted.brokers {
		if !b.Fenced {
			ids = append(ids, b.ID)
		}
	}
	return ids
}

// NumTopics is the number of topics.
func (i *Image) NumTopics() int { return i.topics.len() }

// Topics returns every topic sorted by name. The slice is the caller's; the
// topics are shared and must not be modified.
func (i *Image) Topics() []*Topic {
	i.sortOnce()
	return slices.Clone(i.sorted.topics)
}

// TopicByName returns the topic with the given name.
func (i *Image) TopicByName(name string) (*Topic, bool) {
	id, ok := i.names.get(name, nameShard(name))
	if !ok {
		return nil, false
	}
	return i.TopicByID(id)
}

// TopicByID returns the topic with the given id.
func (i *Image) TopicByID(id [16]byte) (*Topic, bool) {
	return i.topics.get(id, idShard(id))
}

// BrokerConfigs returns the dynamic config overrides of a broker (read-only,
// nil when none).
func (i *Image) BrokerConfigs(id int32) map[string]string {
	return i.brokerConfigs[brokerResource(id)]
}

// ClusterBrokerConfigs returns the cluster-wide dynamic broker config
// defaults (read-only, nil when none).
func (i *Image) ClusterBrokerConfigs() map[string]string { return i.brokerConfigs[""] }

// NextProducerID is the first producer id of the next block to hand out.
func (i *Image) NextProducerID() int64 { return i.producerIDs.next }

// clone returns a shallow copy that shares every map; the builder replaces
// what it changes.
func (i *Image) clone() *Image {
	return &Image{
		offset:          i.offset,
		clusterID:       i.clusterID,
		metadataVersion: i.metadataVersion,
		features:        i.features,
		brokers:         i.brokers,
		brokerConfigs:   i.brokerConfigs,
		topics:          i.topics,
		names:           i.names,
		producerIDs:     i.producerIDs,
	}
}
