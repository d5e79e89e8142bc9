package metadata

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestValidateTopicName(t *testing.T) {
	good := []string{"a", "orders", "__consumer_offsets", "A-b_c.9", strings.Repeat("x", 249)}
	for _, n := range good {
		if err := ValidateTopicName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	bad := []string{"", ".", "..", strings.Repeat("x", 250), "a b", "ä", "a/b", "a\x00", "a:b"}
	for _, n := range bad {
		err := ValidateTopicName(n)
		if !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("%q: err = %v, want INVALID_TOPIC_EXCEPTION", n, err)
		}
	}
	if TopicCollisionName("a.b") != TopicCollisionName("a_b") {
		t.Error("a.b and a_b must collide")
	}
}

// TestValidateTopicConfigs checks the catalog rules: implemented keys are
// validated by type and range, known but unimplemented keys and unknown
// keys are refused with INVALID_CONFIG.
func TestValidateTopicConfigs(t *testing.T) {
	ok := map[string]string{
		"retention.ms": "-1", "retention.bytes": "-1", "segment.bytes": "1048576", "segment.ms": "1",
		"max.message.bytes": "0", "min.insync.replicas": "2", "message.timestamp.type": "LogAppendTime",
		"message.timestamp.before.max.ms": "0", "message.timestamp.after.max.ms": "9223372036854775807",
		"cleanup.policy": "delete", "compression.type": "producer", "unclean.leader.election.enable": "FALSE",
		"segment.index.bytes": "4", "index.interval.bytes": " 4096 ",
		"delete.retention.ms": "0", "min.compaction.lag.ms": "0", "max.compaction.lag.ms": "1",
		"min.cleanable.dirty.ratio": "0.01", "flush.messages": "1", "flush.ms": "0",
	}
	if err := ValidateTopicConfigs(ok); err != nil {
		t.Fatalf("valid configs refused: %v", err)
	}
	// Unclean leader election is implemented: true is accepted.
	if err := ValidateTopicConfig("unclean.leader.election.enable", "true"); err != nil {
		t.Fatalf("unclean.leader.election.enable=true refused: %v", err)
	}
	if !TopicConfigBool(map[string]string{"unclean.leader.election.enable": " True "}, "unclean.leader.election.enable") {
		t.Fatal("unclean.leader.election.enable=True read as false")
	}
	for _, policy := range []string{"compact", "delete", "compact,delete", " delete , compact "} {
		if err := ValidateTopicConfig("cleanup.policy", policy); err != nil {
			t.Fatalf("cleanup.policy=%q refused: %v", policy, err)
		}
	}
	for _, ratio := range []string{"0", "1", "0.5"} {
		if err := ValidateTopicConfig("min.cleanable.dirty.ratio", ratio); err != nil {
			t.Fatalf("min.cleanable.dirty.ratio=%s refused: %v", ratio, err)
		}
	}
	bad := map[string]string{ // key=value -> message fragment
		"retention.ms=abc":                          "must be a long",
		"retention.ms=-2":                           "at least -1",
		"segment.bytes=14":                          "at least 1048576",
		"segment.bytes=3000000000":                  "must be an int",
		"min.insync.replicas=0":                     "at least 1",
		"message.timestamp.type=Now":                "must be one of",
		"cleanup.policy=":                           `must be "delete", "compact" or "compact,delete"`,
		"cleanup.policy=delete,archive":             `must be a list of "delete" and "compact"`,
		"delete.retention.ms=-1":                    "at least 0",
		"min.compaction.lag.ms=-1":                  "at least 0",
		"max.compaction.lag.ms=0":                   "at least 1",
		"min.cleanable.dirty.ratio=1.5":             "between 0 and 1",
		"min.cleanable.dirty.ratio=NaN":             "between 0 and 1",
		"min.cleanable.dirty.ratio=half":            "must be a number",
		"compression.type=gzip":                     "not supported yet",
		"compression.type=brotli":                   "must be one of",
		"unclean.leader.election.enable=maybe":      "true or false",
		"flush.ms=-1":                               "at least 0",
		"flush.messages=0":                          "at least 1",
		"flush.messages=many":                       "must be a long",
		"preallocate=true":                          `topic config "preallocate" is not supported yet`,
		"remote.storage.enable=false":               "not supported yet",
		"message.downconversion.enable=true":        "not supported yet",
		"no.such.config=1":                          `unknown topic config "no.such.config"`,
		"log.retention.ms=1":                        "unknown topic config",
		"follower.replication.throttled.replicas=*": "not supported yet",
	}
	for kv, frag := range bad {
		k, v, _ := strings.Cut(kv, "=")
		err := ValidateTopicConfigs(map[string]string{k: v})
		if !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(err.Error(), frag) {
			t.Errorf("%s: err = %v, want INVALID_CONFIG containing %q", kv, err, frag)
		}
	}
}

func TestTopicConfigCatalog(t *testing.T) {
	want := []string{
		"cleanup.policy", "compression.type", "delete.retention.ms", "flush.messages", "flush.ms", "index.interval.bytes",
		"max.compaction.lag.ms", "max.message.bytes",
		"message.timestamp.after.max.ms", "message.timestamp.before.max.ms", "message.timestamp.type",
		"min.cleanable.dirty.ratio", "min.compaction.lag.ms",
		"min.insync.replicas", "retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes",
		"segment.ms", "unclean.leader.election.enable",
	}
	var got []string
	for _, d := range ImplementedTopicConfigs() {
		got = append(got, d.Name)
		if err := ValidateTopicConfig(d.Name, d.Default); err != nil {
			t.Errorf("default of %s is refused: %v", d.Name, err)
		}
		if d.Doc == "" {
			t.Errorf("%s has no doc", d.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("implemented = %v\nwant        %v", got, want)
	}
	all := KnownTopicConfigs()
	if !slices.IsSortedFunc(all, func(a, b ConfigDef) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatal("catalog not sorted by name")
	}
	for name, def := range map[string]string{
		"max.message.bytes": "1048588", "segment.bytes": "1073741824", "retention.ms": "604800000",
		"message.timestamp.after.max.ms": "3600000", "message.timestamp.before.max.ms": "9223372036854775807",
		"flush.messages": "9223372036854775807", "flush.ms": "9223372036854775807", "delete.retention.ms": "86400000",
		"min.cleanable.dirty.ratio": "0.5", "min.compaction.lag.ms": "0", "max.compaction.lag.ms": "9223372036854775807",
	} {
		if got, ok := TopicConfigDefault(name); !ok || got != def {
			t.Errorf("default of %s = %q, %v; want %q", name, got, ok, def)
		}
	}
}

func TestEffectiveTopicConfigs(t *testing.T) {
	entries := EffectiveTopicConfigs(
		map[string]string{"retention.ms": "1000"},
		map[string]string{"retention.ms": "5", "segment.ms": "60000"},
	)
	byName := map[string]ConfigEntry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	if len(entries) != len(ImplementedTopicConfigs()) {
		t.Fatalf("%d entries", len(entries))
	}
	check := func(name, value string, src kmsg.ConfigSource) {
		t.Helper()
		e := byName[name]
		if e.Value != value || e.Source != src || e.IsDefault != (src == kmsg.ConfigSourceDefaultConfig) {
			t.Errorf("%s = %+v; want %s from %s", name, e, value, src)
		}
	}
	check("retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig)
	check("segment.ms", "60000", kmsg.ConfigSourceStaticBrokerConfig)
	check("max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)

	if got := TopicConfigInt64(map[string]string{"retention.ms": "1000"}, "retention.ms"); got != 1000 {
		t.Errorf("TopicConfigInt64 override = %d", got)
	}
	if got := TopicConfigInt64(nil, "segment.bytes"); got != 1073741824 {
		t.Errorf("TopicConfigInt64 default = %d", got)
	}
	if TopicConfigBool(nil, "unclean.leader.election.enable") || TopicConfigString(nil, "message.timestamp.type") != "CreateTime" {
		t.Error("bool or string default wrong")
	}
}
