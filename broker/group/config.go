package group

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rs/zerolog"
)

// OffsetsTopic is the internal topic that holds groups and committed
// offsets.
const OffsetsTopic = "__consumer_offsets"

// Config configures the group coordinator. Names in comments are Kafka's
// broker settings.
type Config struct {
	// NumPartitions is offsets.topic.num.partitions: the partition count of
	// __consumer_offsets when it is created. Once the topic exists, its real
	// partition count decides which partition a group hashes to.
	NumPartitions int32
	// ReplicationFactor is offsets.topic.replication.factor; the topic is
	// created with min(ReplicationFactor, live brokers) replicas.
	ReplicationFactor int16
	// SegmentBytes is offsets.topic.segment.bytes.
	SegmentBytes int32
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: how long
	// the first rebalance of an empty group waits for more members, extended
	// by the same delay each time one joins, up to the rebalance timeout.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout are
	// group.{min,max}.session.timeout.ms: the range a member's session
	// timeout must fall in (INVALID_SESSION_TIMEOUT otherwise).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// MaxSize is group.max.size: the most members a classic group may have.
	MaxSize int
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes: the longest
	// metadata string a commit may carry (OFFSET_METADATA_TOO_LARGE).
	OffsetMetadataMaxBytes int
	// OffsetsRetention is offsets.retention.minutes: how long the offsets of
	// an empty group (or of a standalone consumer) are kept.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms.
	OffsetsRetentionCheckInterval time.Duration
	// ConsumerHeartbeatInterval is group.consumer.heartbeat.interval.ms:
	// how often members of a KIP-848 consumer group heartbeat.
	ConsumerHeartbeatInterval time.Duration
	// ConsumerSessionTimeout is group.consumer.session.timeout.ms: a
	// consumer group member that has not heartbeaten for this long is
	// removed (in KIP-848 the broker, not the client, sets it).
	ConsumerSessionTimeout time.Duration
	// ConsumerMaxSize is group.consumer.max.size: the most members a
	// consumer group may have.
	ConsumerMaxSize int
	Logger          zerolog.Logger
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		NumPartitions:                 50,
		ReplicationFactor:             3,
		SegmentBytes:                  100 << 20,
		InitialRebalanceDelay:         3 * time.Second,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		MaxSize:                       math.MaxInt32,
		OffsetMetadataMaxBytes:        4096,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		ConsumerHeartbeatInterval:     5 * time.Second,
		ConsumerSessionTimeout:        45 * time.Second,
		ConsumerMaxSize:               math.MaxInt32,
		Logger:                        zerolog.Nop(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.NumPartitions < 1 {
		add("offsets.topic.num.partitions must be at least 1, got %d", c.NumPartitions)
	}
	if c.ReplicationFactor < 1 {
		add("offsets.topic.replication.factor must be at least 1, got %d", c.ReplicationFactor)
	}
	if c.SegmentBytes < 1<<10 {
		add("offsets.topic.segment.bytes must be at least 1024, got %d", c.SegmentBytes)
	}
	if c.InitialRebalanceDelay < 0 {
		add("group.initial.rebalance.delay.ms must not be negative, got %v", c.InitialRebalanceDelay)
	}
	if c.MinSessionTimeout <= 0 || c.MaxSessionTimeout < c.MinSessionTimeout {
		add("group session timeouts need 0 < group.min.session.timeout.ms (%v) <= group.max.session.timeout.ms (%v)",
			c.MinSessionTimeout, c.MaxSessionTimeout)
	}
	if c.MaxSize < 1 {
		add("group.max.size must be at least 1, got %d", c.MaxSize)
	}
	if c.OffsetMetadataMaxBytes < 0 {
		add("offset.metadata.max.bytes must not be negative, got %d", c.OffsetMetadataMaxBytes)
	}
	if c.OffsetsRetention <= 0 {
		add("offsets.retention.minutes must be positive, got %v", c.OffsetsRetention)
	}
	if c.OffsetsRetentionCheckInterval <= 0 {
		add("offsets.retention.check.interval.ms must be positive, got %v", c.OffsetsRetentionCheckInterval)
	}
	if c.ConsumerHeartbeatInterval <= 0 || c.ConsumerSessionTimeout <= c.ConsumerHeartbeatInterval {
		add("consumer groups need 0 < group.consumer.heartbeat.interval.ms (%v) < group.consumer.session.timeout.ms (%v)",
			c.ConsumerHeartbeatInterval, c.ConsumerSessionTimeout)
	}
	if c.ConsumerMaxSize < 1 {
		add("group.consumer.max.size must be at least 1, got %d", c.ConsumerMaxSize)
	}
	if len(errs) > 0 {
		return fmt.Errorf("group coordinator: %w", errors.Join(errs...))
	}
	return nil
}
