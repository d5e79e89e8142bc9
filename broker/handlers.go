package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/replication"
)

// registerHandlers is the broker's API table: each key with the versions
// its handler serves (Kafka 4.x ranges with the KIP-896 floors, capped where
// a newer version needs a feature Samsa does not have yet — see each file).
// ApiVersions is built from exactly this table.
func (b *Broker) registerHandlers(reg *protocol.Registry) {
	reg.Register(0, 3, 11, b.handleProduce)
	reg.Register(1, 4, 17, b.handleFetch)
	reg.Register(2, 1, 9, b.handleListOffsets)
	reg.Register(3, 0, 13, b.handleMetadata)
	reg.Register(8, 2, 9, b.handleOffsetCommit)
	reg.Register(9, 1, 9, b.handleOffsetFetch)
	reg.Register(10, 0, 6, b.handleFindCoordinator)
	reg.Register(11, 0, 9, b.handleJoinGroup)
	reg.Register(12, 0, 4, b.handleHeartbeat)
	reg.Register(13, 0, 5, b.handleLeaveGroup)
	reg.Register(14, 0, 5, b.handleSyncGroup)
	reg.Register(15, 0, 6, b.handleDescribeGroups)
	reg.Register(16, 0, 5, b.handleListGroups)
	reg.Register(19, 2, 7, b.handleCreateTopics)
	reg.Register(20, 1, 6, b.handleDeleteTopics)
	reg.Register(21, 0, 2, b.handleDeleteRecords)
	reg.Register(22, 0, 5, b.handleInitProducerID)
	reg.Register(23, 2, 4, b.handleOffsetForLeaderEpoch)
	reg.Register(32, 1, 4, b.handleDescribeConfigs)
	reg.Register(33, 0, 2, b.handleAlterConfigs)
	reg.Register(37, 0, 3, b.handleCreatePartitions)
	reg.Register(42, 0, 2, b.handleDeleteGroups)
	reg.Register(43, 0, 2, b.handleElectLeaders)
	reg.Register(44, 0, 1, b.handleIncrementalAlterConfigs)
	reg.Register(45, 0, 0, b.handleAlterPartitionReassignments)
	reg.Register(46, 0, 0, b.handleListPartitionReassignments)
	reg.Register(47, 0, 0, b.handleOffsetDelete)
	reg.Register(55, 0, 1, b.handleDescribeQuorum)
	reg.Register(60, 0, 2, b.handleDescribeCluster)
	reg.Register(64, 0, 0, b.handleUnregisterBroker)
	reg.Register(68, 0, 1, b.handleConsumerGroupHeartbeat)
	reg.Register(69, 0, 1, b.handleConsumerGroupDescribe)
	reg.Register(80, 0, 1, b.handleAddRaftVoter)
	reg.Register(81, 0, 0, b.handleRemoveRaftVoter)
}

// errUnknownTopicOrPartition is the answer for a topic or partition the
// metadata image does not have.
var errUnknownTopicOrPartition = fmt.Errorf("broker: unknown topic or partition: %w", kerr.UnknownTopicOrPartition)

// partition returns the local replica of topic/partition, or the error to
// answer: UNKNOWN_TOPIC_OR_PARTITION if the image lacks it,
// NOT_LEADER_OR_FOLLOWER if this broker does not host it.
func (b *Broker) partition(img *metadata.Image, topic string, partition int32) (*replication.Partition, error) {
	t, ok := img.TopicByName(topic)
	if !ok {
		return nil, errUnknownTopicOrPartition
	}
	if _, ok := t.Partition(partition); !ok {
		return nil, errUnknownTopicOrPartition
	}
	p, ok := b.parts.Get(replication.TopicPartition{Topic: topic, Partition: partition})
	if !ok {
		return nil, fmt.Errorf("broker %d does not host %s-%d: %w", b.cfg.NodeID, topic, partition, kerr.NotLeaderForPartition)
	}
	return p, nil
}

// topicByID resolves a topic id (Fetch v13+, Metadata v10+).
func topicNameByID(img *metadata.Image, id [16]byte) (string, bool) {
	t, ok := img.TopicByID(id)
	if !ok {
		return "", false
	}
	return t.Name, true
}
