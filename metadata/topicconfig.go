package metadata

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConfigDef describes one of Kafka's topic configs. Defaults, types and
// limits are Kafka 4.0's.
type ConfigDef struct {
	Name    string
	Default string
	Type    kmsg.ConfigType
	// Sensitive configs have their values hidden from DescribeConfigs.
	Sensitive bool
	Doc       string
	// BrokerSynonym is the broker config that sets the cluster default
	// (Kafka's "server default property").
	BrokerSynonym string
	// Implemented configs are accepted and enforced; the others are known
	// to be Kafka's but refused with INVALID_CONFIG "not supported yet".
	Implemented bool

	validate func(value string) error // nil: any value of the type
}

// ConfigEntry is one config of a topic as DescribeConfigs reports it.
type ConfigEntry struct {
	Name      string
	Value     string
	Source    kmsg.ConfigSource // DynamicTopicConfig, StaticBrokerConfig or DefaultConfig
	Default   string            // the catalog's default value
	IsDefault bool              // Source is DefaultConfig
	ReadOnly  bool
	Sensitive bool
	Type      kmsg.ConfigType
	Doc       string
}

// Names of the implemented topic configs.
const (
	ConfigCleanupPolicy               = "cleanup.policy"
	ConfigCompressionType             = "compression.type"
	ConfigDeleteRetentionMs           = "delete.retention.ms"
	ConfigFlushMessages               = "flush.messages"
	ConfigFlushMs                     = "flush.ms"
	ConfigIndexIntervalBytes          = "index.interval.bytes"
	ConfigMaxCompactionLagMs          = "max.compaction.lag.ms"
	ConfigMaxMessageBytes             = "max.message.bytes"
	ConfigMessageTimestampAfterMaxMs  = "message.timestamp.after.max.ms"
	ConfigMessageTimestampBeforeMaxMs = "message.timestamp.before.max.ms"
	ConfigMessageTimestampType        = "message.timestamp.type"
	ConfigMinCleanableDirtyRatio      = "min.cleanable.dirty.ratio"
	ConfigMinCompactionLagMs          = "min.compaction.lag.ms"
	ConfigMinInsyncReplicas           = "min.insync.replicas"
	ConfigRetentionBytes              = "retention.bytes"
	ConfigRetentionMs                 = "retention.ms"
	ConfigSegmentBytes                = "segment.bytes"
	ConfigSegmentIndexBytes           = "segment.index.bytes"
	ConfigSegmentMs                   = "segment.ms"
	ConfigUncleanLeaderElectionEnable = "unclean.leader.election.enable"
)

const maxLongString = "9223372036854775807"

// topicConfigs is the catalog, sorted by name.
var topicConfigs = []ConfigDef{
	{Name: ConfigCleanupPolicy, Default: "delete", Type: kmsg.ConfigTypeList, BrokerSynonym: "log.cleanup.policy", Implemented: true,
		Doc:      `What happens to old segments, a list of "delete" and "compact": "delete" removes them once past retention.ms or retention.bytes; "compact" keeps the latest record of every key (log compaction) and refuses records without a key. "compact,delete" does both.`,
		validate: validateCleanupPolicy},
	{Name: "compression.gzip.level", Default: "-1", Type: kmsg.ConfigTypeInt, BrokerSynonym: "compression.gzip.level",
		Doc: "Compression level when compression.type is gzip."},
	{Name: "compression.lz4.level", Default: "9", Type: kmsg.ConfigTypeInt, BrokerSynonym: "compression.lz4.level",
		Doc: "Compression level when compression.type is lz4."},
	{Name: ConfigCompressionType, Default: "producer", Type: kmsg.ConfigTypeString, BrokerSynonym: "compression.type", Implemented: true,
		Doc:      `The compression of stored batches. "producer" keeps each batch as the producer compressed it; recompression to a fixed codec is not supported yet.`,
		validate: validateCompressionType},
	{Name: "compression.zstd.level", Default: "3", Type: kmsg.ConfigTypeInt, BrokerSynonym: "compression.zstd.level",
		Doc: "Compression level when compression.type is zstd."},
	{Name: ConfigDeleteRetentionMs, Default: "86400000", Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.cleaner.delete.retention.ms", Implemented: true,
		Doc:      "How long a delete tombstone (a record with a null value) stays in a compacted topic after compaction first kept it; a consumer reading from the start within this time sees the deletion.",
		validate: longAtLeast(0)},
	{Name: "file.delete.delay.ms", Default: "60000", Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.segment.delete.delay.ms",
		Doc: "How long a deleted segment's files wait before removal from the file system."},
	{Name: ConfigFlushMessages, Default: maxLongString, Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.flush.interval.messages", Implemented: true,
		Doc:      "With durability page-cache: fsync a partition's log, in the background, once this many messages were appended since its last fsync. With durability fsync (the default) it has no effect: every acknowledged write is already fsynced.",
		validate: longAtLeast(1)},
	{Name: ConfigFlushMs, Default: maxLongString, Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.flush.interval.ms", Implemented: true,
		Doc:      "With durability page-cache: fsync a partition's log, in the background, once its oldest write not yet fsynced is this many milliseconds old. With durability fsync (the default) it has no effect: every acknowledged write is already fsynced.",
		validate: longAtLeast(0)},
	{Name: "follower.replication.throttled.replicas", Default: "", Type: kmsg.ConfigTypeList, BrokerSynonym: "follower.replication.throttled.replicas",
		Doc: "Replicas whose follower-side replication is throttled."},
	{Name: ConfigIndexIntervalBytes, Default: "4096", Type: kmsg.ConfigTypeInt, BrokerSynonym: "log.index.interval.bytes", Implemented: true,
		Doc:      "Bytes of log between two entries of the offset index.",
		validate: intAtLeast(0)},
	{Name: "leader.replication.throttled.replicas", Default: "", Type: kmsg.ConfigTypeList, BrokerSynonym: "leader.replication.throttled.replicas",
		Doc: "Replicas whose leader-side replication is throttled."},
	{Name: "local.retention.bytes", Default: "-2", Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.local.retention.bytes",
		Doc: "Bytes kept locally when tiered storage is enabled."},
	{Name: "local.retention.ms", Default: "-2", Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.local.retention.ms",
		Doc: "Milliseconds kept locally when tiered storage is enabled."},
	{Name: ConfigMaxCompactionLagMs, Default: maxLongString, Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.cleaner.max.compaction.lag.ms", Implemented: true,
		Doc:      "Longest time a record stays uncompacted in a compacted topic: a sealed segment older than this is compacted whatever min.cleanable.dirty.ratio says, and the active segment rolls after this long.",
		validate: longAtLeast(1)},
	{Name: ConfigMaxMessageBytes, Default: "1048588", Type: kmsg.ConfigTypeInt, BrokerSynonym: "message.max.bytes", Implemented: true,
		Doc:      "Largest record batch the topic accepts, after compression.",
		validate: intAtLeast(0)},
	{Name: "message.downconversion.enable", Default: "true", Type: kmsg.ConfigTypeBoolean, BrokerSynonym: "log.message.downconversion.enable",
		Doc: "Whether fetches may down-convert batches for old clients (a no-op since Kafka 4.0)."},
	{Name: ConfigMessageTimestampAfterMaxMs, Default: "3600000", Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.message.timestamp.after.max.ms", Implemented: true,
		Doc:      "How far in the future a CreateTime timestamp may be, relative to the broker's clock, before the batch is rejected.",
		validate: longAtLeast(0)},
	{Name: ConfigMessageTimestampBeforeMaxMs, Default: maxLongString, Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.message.timestamp.before.max.ms", Implemented: true,
		Doc:      "How far in the past a CreateTime timestamp may be, relative to the broker's clock, before the batch is rejected.",
		validate: longAtLeast(0)},
	{Name: ConfigMessageTimestampType, Default: "CreateTime", Type: kmsg.ConfigTypeString, BrokerSynonym: "log.message.timestamp.type", Implemented: true,
		Doc:      `Which timestamp records keep: "CreateTime" (the producer's) or "LogAppendTime" (the broker's, stamped on append).`,
		validate: oneOf("CreateTime", "LogAppendTime")},
	{Name: ConfigMinCleanableDirtyRatio, Default: "0.5", Type: kmsg.ConfigTypeDouble, BrokerSynonym: "log.cleaner.min.cleanable.ratio", Implemented: true,
		Doc:      "A compacted topic's partition is compacted once the bytes written since its last compaction are more than this share of its compactable bytes (0 to 1).",
		validate: doubleBetween(0, 1)},
	{Name: ConfigMinCompactionLagMs, Default: "0", Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.cleaner.min.compaction.lag.ms", Implemented: true,
		Doc:      "Shortest time a record stays uncompacted in a compacted topic: segments holding newer records are not compacted yet.",
		validate: longAtLeast(0)},
	{Name: ConfigMinInsyncReplicas, Default: "1", Type: kmsg.ConfigTypeInt, BrokerSynonym: "min.insync.replicas", Implemented: true,
		Doc:      "Fewest in-sync replicas for an acks=all write to succeed; fewer gives NOT_ENOUGH_REPLICAS.",
		validate: intAtLeast(1)},
	{Name: "preallocate", Default: "false", Type: kmsg.ConfigTypeBoolean, BrokerSynonym: "log.preallocate",
		Doc: "Whether new segment files are preallocated."},
	{Name: "remote.log.copy.disable", Default: "false", Type: kmsg.ConfigTypeBoolean, BrokerSynonym: "",
		Doc: "Stop copying segments to tiered storage."},
	{Name: "remote.log.delete.on.disable", Default: "false", Type: kmsg.ConfigTypeBoolean, BrokerSynonym: "",
		Doc: "Delete tiered data when tiered storage is disabled for the topic."},
	{Name: "remote.storage.enable", Default: "false", Type: kmsg.ConfigTypeBoolean, BrokerSynonym: "",
		Doc: "Enable tiered storage for the topic."},
	{Name: ConfigRetentionBytes, Default: "-1", Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.retention.bytes", Implemented: true,
		Doc: "Largest size a partition may grow to before its oldest segments are deleted; -1 for no limit."},
	{Name: ConfigRetentionMs, Default: "604800000", Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.retention.ms", Implemented: true,
		Doc:      "How long a segment is kept after its newest record; -1 for no limit.",
		validate: longAtLeast(-1)},
	{Name: ConfigSegmentBytes, Default: "1073741824", Type: kmsg.ConfigTypeInt, BrokerSynonym: "log.segment.bytes", Implemented: true,
		Doc:      "Size at which a segment is rolled (at least 1 MiB, Kafka 4.0's minimum).",
		validate: intAtLeast(1 << 20)},
	{Name: ConfigSegmentIndexBytes, Default: "10485760", Type: kmsg.ConfigTypeInt, BrokerSynonym: "log.index.size.max.bytes", Implemented: true,
		Doc:      "Largest size of a segment's offset and time indexes; a full index rolls the segment.",
		validate: intAtLeast(4)},
	{Name: "segment.jitter.ms", Default: "0", Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.roll.jitter.ms",
		Doc: "Random jitter subtracted from segment.ms."},
	{Name: ConfigSegmentMs, Default: "604800000", Type: kmsg.ConfigTypeLong, BrokerSynonym: "log.roll.ms", Implemented: true,
		Doc:      "Age at which a segment is rolled even if not full.",
		validate: longAtLeast(1)},
	{Name: ConfigUncleanLeaderElectionEnable, Default: "false", Type: kmsg.ConfigTypeBoolean, BrokerSynonym: "unclean.leader.election.enable", Implemented: true,
		Doc: "Whether a replica outside the ISR may become leader when every in-sync replica is down, losing the records only they had, rather than leave the partition without a leader."},
}

var topicConfigIndex = func() map[string]int {
	m := make(map[string]int, len(topicConfigs))
	for i, d := range topicConfigs {
		m[d.Name] = i
	}
	return m
}()

// TopicConfigDef returns the catalog entry of a topic config.
func TopicConfigDef(name string) (ConfigDef, bool) {
	i, ok := topicConfigIndex[name]
	if !ok {
		return ConfigDef{}, false
	}
	return topicConfigs[i], true
}

// TopicConfigDefault returns Kafka's default of a known topic config.
func TopicConfigDefault(name string) (string, bool) {
	d, ok := TopicConfigDef(name)
	return d.Default, ok
}

// KnownTopicConfigs returns every topic config of the catalog, sorted by
// name, implemented or not.
func KnownTopicConfigs() []ConfigDef { return slices.Clone(topicConfigs) }

// ImplementedTopicConfigs returns the topic configs Samsa accepts and
// enforces, sorted by name.
func ImplementedTopicConfigs() []ConfigDef {
	var out []ConfigDef
	for _, d := range topicConfigs {
		if d.Implemented {
			out = append(out, d)
		}
	}
	return out
}

// ValidateTopicConfig checks one key and value. Errors wrap
// kerr.InvalidConfig and their message is meant for the client.
func ValidateTopicConfig(name, value string) error {
	d, ok := TopicConfigDef(name)
	if !ok {
		return kafkaErrorf(kerr.InvalidConfig, "unknown topic config %q", name)
	}
	if !d.Implemented {
		return kafkaErrorf(kerr.InvalidConfig, "topic config %q is not supported yet", name)
	}
	if err := checkType(d.Type, value); err != nil {
		return kafkaErrorf(kerr.InvalidConfig, "invalid value %q for topic config %q: %v", value, name, err)
	}
	if d.validate != nil {
		if err := d.validate(value); err != nil {
			return kafkaErrorf(kerr.InvalidConfig, "invalid value %q for topic config %q: %v", value, name, err)
		}
	}
	return nil
}

// ValidateTopicConfigs checks a set of topic config overrides, in key
// order, and returns the first error.
func ValidateTopicConfigs(cfgs map[string]string) error {
	for _, k := range sortedKeys(cfgs) {
		if err := ValidateTopicConfig(k, cfgs[k]); err != nil {
			return err
		}
	}
	return nil
}

// EffectiveTopicConfigs returns every implemented topic config with its
// value for a topic: the topic's override, else the broker-level default
// (brokerDefaults is keyed by topic config name), else Kafka's default.
// Entries are sorted by name.
func EffectiveTopicConfigs(overrides, brokerDefaults map[string]string) []ConfigEntry {
	var out []ConfigEntry
	for _, d := range topicConfigs {
		if !d.Implemented {
			continue
		}
		e := ConfigEntry{Name: d.Name, Default: d.Default, Sensitive: d.Sensitive, Type: d.Type, Doc: d.Doc}
		if v, ok := overrides[d.Name]; ok {
			e.Value, e.Source = v, kmsg.ConfigSourceDynamicTopicConfig
		} else if v, ok := brokerDefaults[d.Name]; ok {
			e.Value, e.Source = v, kmsg.ConfigSourceStaticBrokerConfig
		} else {
			e.Value, e.Source, e.IsDefault = d.Default, kmsg.ConfigSourceDefaultConfig, true
		}
		out = append(out, e)
	}
	return out
}

// TopicConfigString returns a topic's value for a config: its override, or
// the catalog default ("" for an unknown name).
func TopicConfigString(overrides map[string]string, name string) string {
	if v, ok := overrides[name]; ok {
		return v
	}
	v, _ := TopicConfigDefault(name)
	return v
}

// TopicConfigInt64 returns a numeric config of a topic: its override, or
// the catalog default. Overrides are validated before they are stored, so a
// value that does not parse (or an unknown name) falls back to the default
// (0 for an unknown name).
func TopicConfigInt64(overrides map[string]string, name string) int64 {
	if v, ok := overrides[name]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n
		}
	}
	v, _ := TopicConfigDefault(name)
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// TopicConfigBool returns a boolean config of a topic, like TopicConfigInt64.
func TopicConfigBool(overrides map[string]string, name string) bool {
	if v, ok := overrides[name]; ok {
		if b, err := parseBool(v); err == nil {
			return b
		}
	}
	v, _ := TopicConfigDefault(name)
	b, _ := parseBool(v)
	return b
}

func checkType(t kmsg.ConfigType, v string) error {
	switch t {
	case kmsg.ConfigTypeInt:
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32); err != nil {
			return fmt.Errorf("must be an int between %d and %d", math.MinInt32, math.MaxInt32)
		}
	case kmsg.ConfigTypeLong:
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
			return fmt.Errorf("must be a long integer")
		}
	case kmsg.ConfigTypeBoolean:
		if _, err := parseBool(v); err != nil {
			return err
		}
	case kmsg.ConfigTypeDouble:
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return fmt.Errorf("must be a number")
		}
	}
	return nil
}

// parseBool accepts Kafka's spellings: true or false in any case, with
// surrounding spaces.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("must be true or false")
}

func intAtLeast(min int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if n < min {
			return fmt.Errorf("must be at least %d", min)
		}
		return nil
	}
}

func longAtLeast(min int64) func(string) error { return intAtLeast(min) }

func doubleBetween(lo, hi float64) func(string) error {
	return func(v string) error {
		f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !(f >= lo && f <= hi) {
			return fmt.Errorf("must be between %g and %g", lo, hi)
		}
		return nil
	}
}

func oneOf(values ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(values, v) {
			return nil
		}
		return fmt.Errorf("must be one of %s", strings.Join(values, ", "))
	}
}

// splitList splits a Kafka LIST value: comma separated, items trimmed,
// empty value = empty list.
func splitList(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	items := strings.Split(v, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	return items
}

func validateCleanupPolicy(v string) error {
	items := splitList(v)
	if len(items) == 0 {
		return fmt.Errorf(`must be "delete", "compact" or "compact,delete"`)
	}
	for _, it := range items {
		if it != "delete" && it != "compact" {
			return fmt.Errorf(`must be a list of "delete" and "compact"`)
		}
	}
	return nil
}

func validateCompressionType(v string) error {
	switch v {
	case "producer":
		return nil
	case "uncompressed", "gzip", "snappy", "lz4", "zstd":
		return fmt.Errorf(`compression.type %q is not supported yet: only "producer" is accepted`, v)
	}
	return fmt.Errorf("must be one of uncompressed, zstd, lz4, snappy, gzip, producer")
}

// SplitConfigList splits a LIST config value as Kafka does (comma
// separated, items trimmed).
func SplitConfigList(v string) []string { return splitList(v) }
