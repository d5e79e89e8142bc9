package broker

import (
	"slices"
	"strconv"
	"strings"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/replication"
	"github.com/samsa-io/samsa/storage"
)

// PublishImage applies a new metadata image: it opens or updates every
// partition the image assigns to this broker and closes or deletes the ones
// it no longer does. It is called by the controller's publisher goroutine,
// one image at a time, in log order.
func (b *Broker) PublishImage(img *metadata.Image, _ *metadata.Delta) {
	hosted := make(map[replication.TopicPartition]bool)
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if !slices.Contains(p.Replicas, b.cfg.NodeID) {
				continue
			}
			tp := replication.TopicPartition{Topic: t.Name, Partition: p.ID}
			hosted[tp] = true
			if _, err := b.parts.Apply(b.partitionSpec(t, p)); err != nil {
				b.log.Error().Err(err).Str("topic", t.Name).Int32("partition", p.ID).
					Int32("epoch", p.LeaderEpoch).Msg("cannot host partition")
			}
		}
	}
	for _, tp := range b.parts.Partitions() {
		if hosted[tp] {
			continue
		}
		_, topicLives := img.TopicByName(tp.Topic)
		// A partition whose topic is gone is deleted with its data; one
		// that merely moved to other brokers is closed.
		if err := b.parts.Remove(tp, !topicLives); err != nil {
			b.log.Error().Err(err).Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("removing partition")
		}
	}
	b.publishGroupLeadership(img)
	b.image.Store(img)
	b.imageMu.Lock()
	close(b.imageChanged)
	b.imageChanged = make(chan struct{})
	b.imageMu.Unlock()
}

func (b *Broker) partitionSpec(t *metadata.Topic, p metadata.Partition) replication.PartitionSpec {
	cfg := b.topicConfigLookup(t)
	scfg := storage.DefaultConfig("")
	scfg.SegmentBytes = cfg.int64("segment.bytes", scfg.SegmentBytes)
	scfg.SegmentMs = cfg.int64("segment.ms", scfg.SegmentMs)
	scfg.IndexIntervalBytes = int(cfg.int64("index.interval.bytes", int64(scfg.IndexIntervalBytes)))
	scfg.SegmentIndexBytes = int(cfg.int64("segment.index.bytes", int64(scfg.SegmentIndexBytes)))
	// Only DurabilityPageCache acts on these; fsync mode flushes before every ack.
	scfg.FlushMessages = cfg.int64(metadata.ConfigFlushMessages, scfg.FlushMessages)
	scfg.FlushMs = cfg.int64(metadata.ConfigFlushMs, scfg.FlushMs)
	pc := replication.DefaultPartitionConfig()
	pc.MaxMessageBytes = int(cfg.int64("max.message.bytes", int64(pc.MaxMessageBytes)))
	pc.LogAppendTime = cfg.value("message.timestamp.type") == "LogAppendTime"
	pc.TimestampBeforeMaxMs = cfg.int64("message.timestamp.before.max.ms", pc.TimestampBeforeMaxMs)
	pc.TimestampAfterMaxMs = cfg.int64("message.timestamp.after.max.ms", pc.TimestampAfterMaxMs)
	pc.MinInsyncReplicas = int(cfg.int64("min.insync.replicas", int64(pc.MinInsyncReplicas)))
	pc.RetentionMs = cfg.int64("retention.ms", pc.RetentionMs)
	pc.RetentionBytes = cfg.int64("retention.bytes", pc.RetentionBytes)
	policy := metadata.SplitConfigList(cfg.value("cleanup.policy"))
	pc.Delete, pc.Compact = slices.Contains(policy, "delete"), slices.Contains(policy, "compact")
	pc.Compaction.DeleteRetentionMs = cfg.int64("delete.retention.ms", pc.Compaction.DeleteRetentionMs)
	pc.Compaction.MinCompactionLagMs = cfg.int64("min.compaction.lag.ms", pc.Compaction.MinCompactionLagMs)
	pc.Compaction.MaxCompactionLagMs = cfg.int64("max.compaction.lag.ms", pc.Compaction.MaxCompactionLagMs)
	if ratio, err := strconv.ParseFloat(strings.TrimSpace(cfg.value("min.cleanable.dirty.ratio")), 64); err == nil {
		pc.Compaction.MinCleanableDirtyRatio = ratio
	}
	if pc.Compact {
		// Kafka rolls a compacted log's active segment by
		// max.compaction.lag.ms too, so that its records can be cleaned
		// in time (KIP-354).
		scfg.SegmentMs = min(scfg.SegmentMs, pc.Compaction.MaxCompactionLagMs)
	}
	return replication.PartitionSpec{
		TopicPartition: replication.TopicPartition{Topic: t.Name, Partition: p.ID},
		TopicID:        t.ID,
		State: replication.LeaderState{
			Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
			ISR: slices.Clone(p.ISR), Replicas: slices.Clone(p.Replicas),
		},
		Config:  pc,
		Storage: scfg,
	}
}

// topicConfig resolves a topic's effective config values: the topic's
// override, then the broker's default for topics, then Kafka's default.
type topicConfig struct {
	overrides, brokerDefaults map[string]string
}

func (b *Broker) topicConfigLookup(t *metadata.Topic) topicConfig {
	return topicConfig{overrides: t.Configs, brokerDefaults: b.cfg.TopicDefaults}
}

func (c topicConfig) value(name string) string {
	if v, ok := c.overrides[name]; ok {
		return v
	}
	if v, ok := c.brokerDefaults[name]; ok {
		return v
	}
	v, _ := metadata.TopicConfigDefault(name)
	return v
}

func (c topicConfig) int64(name string, fallback int64) int64 {
	v, err := strconv.ParseInt(c.value(name), 10, 64)
	if err != nil {
		return fallback
	}
	return v
}
