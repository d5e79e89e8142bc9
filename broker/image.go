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
	registered := b.registeredIn(img)
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if !slices.Contains(p.Replicas, b.cfg.NodeID) {
				continue
			}
			tp := replication.TopicPartition{Topic: t.Name, Partition: p.ID}
			hosted[tp] = true
			spec := b.partitionSpec(t, p)
			if !registered {
				// The leaderships in this image were given to an earlier
				// process of this node, whose log may be gone (a lost
				// disk): this process takes no role until its own
				// registration is in the image. By then the controller has
				// fenced the old one and moved its leaderships to other
				// in-sync replicas, so followers never truncate to a log
				// this process lost.
				spec.State.Leader = metadata.NoLeader
			}
			if _, err := b.parts.Apply(spec); err != nil {
				b.log.Error().Err(err).Str("topic", t.Name).Int32("partition", p.ID).
					Int32("epoch", p.LeaderEpoch).Msg("cannot host partition")
			}
		}
	}
	for _, tp := range b.parts.Partitions() {
		if hosted[tp] {
			continue
		}
		// The topic is gone, or a reassignment took this broker out of
		// the partition's replicas: either way the replica is deleted with
		// its data, as Kafka's StopReplica(delete) does. A reassignment
		// back here later copies the log from the leader again.
		if err := b.parts.Remove(tp, true); err != nil {
			b.log.Error().Err(err).Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("removing partition")
		} else if _, topicLives := img.TopicByName(tp.Topic); topicLives {
			b.log.Info().Str("topic", tp.Topic).Int32("partition", tp.Partition).
				Msg("no longer a replica: partition closed and its data deleted")
		}
	}
	if registered && !b.straysChecked {
		// The first image with this process's registration is the first
		// one known to be current: it holds every change committed before
		// the registration, including the topics deleted and the
		// partitions moved away while this broker was down. Their
		// directories are left over from then.
		b.straysChecked = true
		if _, err := b.parts.RemoveStrays(func(tp replication.TopicPartition) bool { return hosted[tp] }); err != nil {
			b.log.Error().Err(err).Msg("removing stray partition directories")
		}
	}
	b.publishGroupLeadership(img)
	b.image.Store(img)
	b.imageMu.Lock()
	close(b.imageChanged)
	b.imageChanged = make(chan struct{})
	b.imageMu.Unlock()
}

// registeredIn reports whether img holds this process's registration (its
// incarnation id), not an earlier process's.
func (b *Broker) registeredIn(img *metadata.Image) bool {
	br, ok := img.Broker(b.cfg.NodeID)
	return ok && br.IncarnationID == b.incarnation
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
			Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
			ISR: slices.Clone(p.ISR), Replicas: slices.Clone(p.Replicas),
			AddingReplicas: slices.Clone(p.AddingReplicas),
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
