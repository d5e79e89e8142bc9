package broker

// Wiring between the broker and its group coordinator (package group):
// which __consumer_offsets partitions this broker leads, the creation of
// that topic on first use, and the checks against the image that the
// coordinator does not make itself.

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/broker/group"
	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/replication"
)

// offsetsTopicWait bounds how long a FindCoordinator waits for the
// __consumer_offsets it asked the controller to create.
const offsetsTopicWait = 10 * time.Second

// publishGroupLeadership tells the coordinator which __consumer_offsets
// partitions this broker leads in img. Called from PublishImage, after the
// partitions are applied and before the image is visible to handlers, so a
// client told (by FindCoordinator) that this broker coordinates gets
// COORDINATOR_LOAD_IN_PROGRESS rather than NOT_COORDINATOR.
func (b *Broker) publishGroupLeadership(img *metadata.Image) {
	t, ok := img.TopicByName(group.OffsetsTopic)
	if !ok {
		b.groups.SetLeadership(0, nil)
		return
	}
	led := map[int32]group.Leadership{}
	registered := b.registeredIn(img) // see PublishImage
	for _, p := range t.Partitions {
		if p.Leader != b.cfg.NodeID || !registered {
			continue
		}
		if part, ok := b.parts.Get(replication.TopicPartition{Topic: t.Name, Partition: p.ID}); ok {
			led[p.ID] = group.Leadership{Partition: part, Epoch: p.LeaderEpoch}
		}
	}
	b.groups.SetLeadership(int32(len(t.Partitions)), led)
}

// offsetsTopicReady reports whether __consumer_offsets exists with a
// leader for every partition.
func offsetsTopicReady(img *metadata.Image) bool {
	t, ok := img.TopicByName(group.OffsetsTopic)
	if !ok {
		return false
	}
	for _, p := range t.Partitions {
		if p.Leader == metadata.NoLeader {
			return false
		}
	}
	return true
}

// offsetsTopicConfigs are the configs Kafka gives __consumer_offsets:
// compacted, the producer's compression, offsets.topic.segment.bytes.
func (b *Broker) offsetsTopicConfigs() map[string]string {
	return map[string]string{
		metadata.ConfigCleanupPolicy:   "compact",
		metadata.ConfigCompressionType: "producer",
		metadata.ConfigSegmentBytes:    strconv.Itoa(int(b.cfg.Group.SegmentBytes)),
	}
}

// ensureOffsetsTopic creates __consumer_offsets through the controller, as
// Kafka does on the first FindCoordinator for a group, and waits until the
// image has it with leaders. The replication factor is
// offsets.topic.replication.factor, capped by the brokers alive.
func (b *Broker) ensureOffsetsTopic(ctx context.Context) error {
	img := b.Image()
	if offsetsTopicReady(img) {
		return nil
	}
	if _, exists := img.TopicByName(group.OffsetsTopic); !exists {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = int32(offsetsTopicWait / time.Millisecond)
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions = group.OffsetsTopic, b.cfg.Group.NumPartitions
		// min(offsets.topic.replication.factor, live brokers), as Kafka
		// does when it creates the topic on first use.
		t.ReplicationFactor = min(b.cfg.Group.ReplicationFactor, int16(len(img.UnfencedBrokers())))
		t.ReplicationFactor = max(t.ReplicationFactor, 1)
		for name, value := range b.offsetsTopicConfigs() {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = name, &value
			t.Configs = append(t.Configs, c)
		}
		req.Topics = append(req.Topics, t)
		resp, err := b.ctrl.send(ctx, req)
		if err != nil {
			return err
		}
		rt := resp.(*kmsg.CreateTopicsResponse).Topics[0]
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil && rt.ErrorCode != kerr.TopicAlreadyExists.Code {
			msg := ""
			if rt.ErrorMessage != nil {
				msg = *rt.ErrorMessage
			}
			b.log.Error().Err(err).Str("topic", group.OffsetsTopic).Str("message", msg).Msg("cannot create the offsets topic")
			return err
		}
		b.log.Info().Str("topic", group.OffsetsTopic).Int32("partitions", t.NumPartitions).
			Int16("replication_factor", t.ReplicationFactor).Msg("created the offsets topic")
	}
	wctx, cancel := context.WithTimeout(ctx, offsetsTopicWait)
	defer cancel()
	_, err := b.waitImage(wctx, offsetsTopicReady)
	return err
}

// coordinatorFor answers where the coordinator of key is: the leader of its
// __consumer_offsets partition.
func (b *Broker) coordinatorFor(img *metadata.Image, key string) (int32, string, int32, error) {
	t, ok := img.TopicByName(group.OffsetsTopic)
	if !ok || len(t.Partitions) == 0 {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	p, ok := t.Partition(group.PartitionFor(key, int32(len(t.Partitions))))
	if !ok || p.Leader == metadata.NoLeader {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	br, ok := img.Broker(p.Leader)
	if !ok || br.Fenced {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	l, ok := br.Listener(listenerName)
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	return p.Leader, l.Host, int32(l.Port), nil
}

// partitionCheck refuses topic partitions that are not in img.
func partitionCheck(img *metadata.Image) group.PartitionCheck {
	return func(topic string, partition int32) *kerr.Error {
		t, ok := img.TopicByName(topic)
		if !ok {
			return kerr.UnknownTopicOrPartition
		}
		if _, ok := t.Partition(partition); !ok {
			return kerr.UnknownTopicOrPartition
		}
		return nil
	}
}

// clientHost is the member address groups report, as Kafka prints it.
func clientHost(req *protocol.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	return "/" + host
}

func clientID(req *protocol.Request) string {
	if req.ClientID == nil {
		return ""
	}
	return *req.ClientID
}
