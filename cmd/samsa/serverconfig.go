package main

// Server configuration: the keys a node understands, their defaults, and
// how a YAML file, SAMSA_ environment variables and flags combine (in that
// order of precedence, lowest first) through viper. Every key is
// implemented or rejected: an unknown key in the file, an unknown SAMSA_
// variable, or a value that does not parse stops the node with a message
// naming it. docs/configuration.md lists the same keys.

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/samsa-io/samsa/metadata"
)

// configKey is one server setting.
type configKey struct {
	name  string
	def   any
	usage string
}

// serverKeys are the node settings. Topic-default keys (Kafka's log.* and
// friends) are added from the topic config catalog by topicDefaultKeys.
var serverKeys = []configKey{
	{"node.id", 1, "this node's id, unique in the cluster"},
	{"roles", "controller,broker", "comma-separated roles: controller, broker (broker alone: a broker-only node, which follows the metadata log as a Raft non-voter; needs cluster.id, controller.quorum.bootstrap.servers and gossip.seeds)"},
	{"data.dir", "./samsa-data", "directory for the metadata log and partition logs"},
	{"listeners", "127.0.0.1:9092", "Kafka client listener, host:port (PLAINTEXT:// prefix allowed)"},
	{"advertised.listeners", "", "host:port clients are told to use (default: the listener)"},
	{"controller.listener", "", "controller listener host:port (default: Kafka port + 1)"},
	{"raft.listener", "", "Raft transport host:port (default: Kafka port + 2)"},
	{"controller.quorum.voters", "", "id@host:port of each voter's Raft address, comma-separated (default: this node alone); read only when a new cluster bootstraps: afterwards the Raft configuration (samsa cluster add-controller, remove-controller) is authoritative"},
	{"controller.quorum.join", false, "join an existing controller quorum instead of bootstrapping one: the node waits until samsa cluster add-controller adds it (needs cluster.id)"},
	{"controller.quorum.bootstrap.servers", "", "host:port of every voter's controller listener, comma-separated (default: this node's own; required with several voters)"},
	{"controller.quorum.fetch.timeout.ms", 1000, "a voter that hears nothing from the leader for this long (randomised up to twice) starts an election"},
	{"controller.quorum.election.timeout.ms", 1000, "a candidate that is not elected within this long starts another election"},
	{"cluster.id", "", "expected cluster id (default: generated at bootstrap)"},
	{"gossip.listener", "", "gossip (memberlist, UDP and TCP) host:port (default: the Kafka listener's host, port 7946)"},
	{"gossip.advertised.listener", "", "gossip host:port the other nodes reach this one at (default: the gossip listener)"},
	{"gossip.seeds", "", "gossip host:port of other nodes to join through, comma-separated (required with several voters)"},
	{"gossip.probe.interval.ms", 500, "how often a node probes another's liveness"},
	{"gossip.suspicion.mult", 6, "a node that misses its probes is declared dead after this many probe intervals (scaled by log10 of the cluster size) unless it refutes"},
	{"broker.rack", "", "rack of this broker"},
	{"num.partitions", 1, "partitions of auto-created topics and of CreateTopics with -1"},
	{"default.replication.factor", 1, "replication factor of auto-created topics and of CreateTopics with -1"},
	{"auto.create.topics.enable", true, "create unknown topics on first Metadata request"},
	{"durability", "fsync", "fsync (acks>=1 answered after fsync) or page-cache"},
	{"storage.max.open.segments", 0, "most sealed segment .log files kept open at once over all partitions; the least recently used are closed beyond it (0: half the process's descriptor limit)"},
	{"socket.request.max.bytes", 104857600, "largest request accepted, in bytes"},
	{"connections.max.idle.ms", 600000, "idle client connections are closed after this"},
	{"log.retention.check.interval.ms", 300000, "how often segments past retention are deleted and compacted topics cleaned"},
	{"replica.lag.time.max.ms", 30000, "a follower that has not caught up with the leader for this long leaves the ISR"},
	{"replica.fetch.wait.max.ms", 500, "longest a follower's fetch waits at the leader for new records (below replica.lag.time.max.ms)"},
	{"replica.fetch.max.bytes", 1048576, "bytes a follower asks for per partition and fetch (at least one batch is returned)"},
	{"replica.fetch.response.max.bytes", 10485760, "bytes a follower asks for per fetch over all partitions"},
	{"replica.fetch.backoff.ms", 1000, "pause before a follower retries a failed fetch"},
	{"leader.replication.throttled.rate", math.MaxInt64, "bytes per second this broker sends, as leader, to replicas a reassignment is adding until they are in sync (default: unlimited)"},
	{"follower.replication.throttled.rate", math.MaxInt64, "bytes per second this broker fetches, as a replica a reassignment is adding, until it is in sync (default: unlimited)"},
	{"auto.leader.rebalance.enable", true, "the active controller moves partition leadership back to preferred replicas (the first of each partition's replicas) when they are alive and in sync"},
	{"leader.imbalance.check.interval.seconds", 300, "how often the active controller checks the leader balance"},
	{"leader.imbalance.per.broker.percentage", 10, "leadership moves back to a broker's preferred partitions only when more than this share of them is led by others"},
	{"offsets.topic.num.partitions", 50, "partitions of __consumer_offsets when it is created"},
	{"offsets.topic.replication.factor", 3, "replicas of __consumer_offsets (capped at the live brokers)"},
	{"offsets.topic.segment.bytes", 104857600, "segment size of __consumer_offsets"},
	{"group.initial.rebalance.delay.ms", 3000, "how long the first rebalance of an empty group waits for more members"},
	{"group.min.session.timeout.ms", 6000, "smallest session timeout a group member may ask for"},
	{"group.max.session.timeout.ms", 1800000, "largest session timeout a group member may ask for"},
	{"group.max.size", 2147483647, "most members a consumer group may have"},
	{"group.consumer.heartbeat.interval.ms", 5000, "how often members of a KIP-848 consumer group heartbeat"},
	{"group.consumer.session.timeout.ms", 45000, "a KIP-848 consumer group member that has not heartbeaten for this long is removed"},
	{"group.consumer.max.size", 2147483647, "most members a KIP-848 consumer group may have"},
	{"offset.metadata.max.bytes", 4096, "longest metadata string an offset commit may carry"},
	{"offsets.retention.minutes", 10080, "how long the committed offsets of an empty group are kept"},
	{"offsets.retention.check.interval.ms", 600000, "how often expired offsets are removed"},
	{"log.level", "info", "debug, info, warn or error"},
	{"log.format", "json", "json or console"},
}

// topicDefaultKeys are the broker-level defaults of implemented topic
// configs, under Kafka's broker key names (log.retention.ms, …).
func topicDefaultKeys() map[string]metadata.ConfigDef {
	out := make(map[string]metadata.ConfigDef)
	for _, d := range metadata.ImplementedTopicConfigs() {
		if d.BrokerSynonym != "" {
			out[d.BrokerSynonym] = d
		}
	}
	return out
}

// nodeSettings is the parsed configuration.
type nodeSettings struct {
	NodeID                   int32
	Roles                    []string
	DataDir                  string
	Listener                 string
	Advertised               string
	ControllerListener       string
	RaftListener             string
	Voters                   string
	JoinQuorum               bool
	ControllerBootstrap      []string
	QuorumFetchTimeout       time.Duration
	QuorumElectionTimeout    time.Duration
	ClusterID                string
	GossipListener           string
	GossipAdvertised         string
	GossipSeeds              []string
	GossipProbeInterval      time.Duration
	GossipSuspicionMult      int
	Rack                     string
	NumPartitions            int32
	DefaultReplicationFactor int16
	AutoCreateTopics         bool
	Durability               string
	MaxOpenSegments          int // 0: storage's default
	MaxRequestBytes          int32
	IdleTimeout              time.Duration
	RetentionCheckInterval   time.Duration
	ReplicaLagTimeMax        time.Duration
	ReplicaFetchWait         time.Duration
	ReplicaFetchMaxBytes     int32
	ReplicaFetchRespMaxBytes int32
	ReplicaFetchBackoff      time.Duration
	LeaderThrottledRate      int64
	FollowerThrottledRate    int64
	AutoLeaderRebalance      bool
	LeaderImbalanceInterval  time.Duration
	LeaderImbalancePercent   int
	Group                    groupSettings
	LogLevel                 string
	LogFormat                string
	// TopicDefaults maps topic config names to broker-level defaults.
	TopicDefaults map[string]string
	// Static lists every setting as given, for DescribeConfigs.
	Static map[string]string
}

// newConfigViper returns a viper that treats dotted Kafka-style names as
// flat keys and reads SAMSA_ variables (dots become underscores).
func newConfigViper() *viper.Viper {
	v := viper.NewWithOptions(viper.KeyDelimiter("::"))
	v.SetEnvPrefix("SAMSA")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	return v
}

// registerServerFlags adds one flag per key, named like the key.
func registerServerFlags(fs *pflag.FlagSet) {
	for _, k := range serverKeys {
		switch d := k.def.(type) {
		case int:
			fs.Int(k.name, d, k.usage)
		case bool:
			fs.Bool(k.name, d, k.usage)
		default:
			fs.String(k.name, fmt.Sprint(d), k.usage)
		}
	}
	fs.String("config", "", "YAML configuration file")
}

// loadSettings combines defaults (modeDefaults replace the built-in ones),
// the file, the environment, the flags that were set, and overrides (a
// mode's own flags that were set), in that order of precedence.
func loadSettings(fs *pflag.FlagSet, modeDefaults, overrides map[string]any) (nodeSettings, error) {
	v := newConfigViper()
	topicKeys := topicDefaultKeys()
	known := make(map[string]bool)
	for _, k := range serverKeys {
		v.SetDefault(k.name, k.def)
		known[k.name] = true
		if err := v.BindEnv(k.name); err != nil {
			return nodeSettings{}, err
		}
	}
	for name := range topicKeys {
		known[name] = true
		if err := v.BindEnv(name); err != nil {
			return nodeSettings{}, err
		}
	}
	for k, d := range modeDefaults {
		v.SetDefault(k, d)
	}
	if err := rejectUnknownEnv(known); err != nil {
		return nodeSettings{}, err
	}
	if path, _ := fs.GetString("config"); path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nodeSettings{}, fmt.Errorf("reading %s: %w", path, err)
		}
		for _, k := range v.AllKeys() {
			if !known[k] {
				return nodeSettings{}, fmt.Errorf("%s: unknown configuration key %q", path, k)
			}
		}
	}
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if known[f.Name] && err == nil {
			err = v.BindPFlag(f.Name, f)
		}
	})
	if err != nil {
		return nodeSettings{}, err
	}
	for k, val := range overrides {
		v.Set(k, val)
	}
	return parseSettings(v, topicKeys)
}

// rejectUnknownEnv refuses SAMSA_ variables that name no key, so that a
// typo is not silently ignored. SAMSA_BOOTSTRAP belongs to the CLI.
func rejectUnknownEnv(known map[string]bool) error {
	envNames := map[string]bool{"SAMSA_BOOTSTRAP": true}
	for k := range known {
		envNames["SAMSA_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = true
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SAMSA_") && !envNames[name] {
			return fmt.Errorf("unknown configuration variable %s", name)
		}
	}
	return nil
}

func parseSettings(v *viper.Viper, topicKeys map[string]metadata.ConfigDef) (nodeSettings, error) {
	p := settingsParser{v: v}
	s := nodeSettings{
		NodeID:                   int32(p.intIn("node.id", 0, 1<<31-1)),
		Roles:                    rolesOf(v.Get("roles")),
		DataDir:                  p.nonEmpty("data.dir"),
		Listener:                 strings.TrimPrefix(p.nonEmpty("listeners"), "PLAINTEXT://"),
		Advertised:               strings.TrimPrefix(v.GetString("advertised.listeners"), "PLAINTEXT://"),
		ControllerListener:       v.GetString("controller.listener"),
		RaftListener:             v.GetString("raft.listener"),
		Voters:                   v.GetString("controller.quorum.voters"),
		JoinQuorum:               p.boolean("controller.quorum.join"),
		ControllerBootstrap:      splitList(v.GetString("controller.quorum.bootstrap.servers")),
		QuorumFetchTimeout:       time.Duration(p.intIn("controller.quorum.fetch.timeout.ms", 10, 1<<31-1)) * time.Millisecond,
		QuorumElectionTimeout:    time.Duration(p.intIn("controller.quorum.election.timeout.ms", 10, 1<<31-1)) * time.Millisecond,
		ClusterID:                v.GetString("cluster.id"),
		GossipListener:           v.GetString("gossip.listener"),
		GossipAdvertised:         v.GetString("gossip.advertised.listener"),
		GossipSeeds:              splitList(v.GetString("gossip.seeds")),
		GossipProbeInterval:      time.Duration(p.intIn("gossip.probe.interval.ms", 10, 1<<31-1)) * time.Millisecond,
		GossipSuspicionMult:      int(p.intIn("gossip.suspicion.mult", 2, 1000)),
		Rack:                     v.GetString("broker.rack"),
		NumPartitions:            int32(p.intIn("num.partitions", 1, 1<<31-1)),
		DefaultReplicationFactor: int16(p.intIn("default.replication.factor", 1, 1<<15-1)),
		AutoCreateTopics:         p.boolean("auto.create.topics.enable"),
		Durability:               p.oneOf("durability", "fsync", "page-cache"),
		MaxOpenSegments:          int(p.intIn("storage.max.open.segments", 0, 1<<30)),
		MaxRequestBytes:          int32(p.intIn("socket.request.max.bytes", 1024, 1<<31-1)),
		IdleTimeout:              time.Duration(p.intIn("connections.max.idle.ms", 1, 1<<62)) * time.Millisecond,
		RetentionCheckInterval:   time.Duration(p.intIn("log.retention.check.interval.ms", 1, 1<<62)) * time.Millisecond,
		ReplicaLagTimeMax:        time.Duration(p.intIn("replica.lag.time.max.ms", 10, 1<<31-1)) * time.Millisecond,
		ReplicaFetchWait:         time.Duration(p.intIn("replica.fetch.wait.max.ms", 1, 1<<31-1)) * time.Millisecond,
		ReplicaFetchMaxBytes:     int32(p.intIn("replica.fetch.max.bytes", 1024, 1<<31-1)),
		ReplicaFetchRespMaxBytes: int32(p.intIn("replica.fetch.response.max.bytes", 1024, 1<<31-1)),
		ReplicaFetchBackoff:      time.Duration(p.intIn("replica.fetch.backoff.ms", 1, 1<<31-1)) * time.Millisecond,
		LeaderThrottledRate:      p.intIn("leader.replication.throttled.rate", 1, math.MaxInt64),
		FollowerThrottledRate:    p.intIn("follower.replication.throttled.rate", 1, math.MaxInt64),
		AutoLeaderRebalance:      p.boolean("auto.leader.rebalance.enable"),
		LeaderImbalanceInterval:  time.Duration(p.intIn("leader.imbalance.check.interval.seconds", 1, 1<<31-1)) * time.Second,
		LeaderImbalancePercent:   int(p.intIn("leader.imbalance.per.broker.percentage", 0, 100)),
		Group:                    parseGroupSettings(&p),
		LogLevel:                 p.oneOf("log.level", "debug", "info", "warn", "error"),
		LogFormat:                p.oneOf("log.format", "json", "console"),
		TopicDefaults:            make(map[string]string),
		Static:                   make(map[string]string),
	}
	for brokerKey, def := range topicKeys {
		if !v.IsSet(brokerKey) {
			continue
		}
		val := v.GetString(brokerKey)
		if err := metadata.ValidateTopicConfig(def.Name, val); err != nil {
			p.fail(fmt.Errorf("%s: %w", brokerKey, err))
		}
		s.TopicDefaults[def.Name] = val
	}
	keys := v.AllKeys()
	sort.Strings(keys)
	for _, k := range keys {
		s.Static[k] = v.GetString(k)
	}
	return s, p.err
}

// settingsParser reads typed values, keeping the first error.
type settingsParser struct {
	v   *viper.Viper
	err error
}

func (p *settingsParser) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

func (p *settingsParser) intIn(key string, lo, hi int64) int64 {
	raw := p.v.GetString(key)
	n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || n < lo || n > hi {
		p.fail(fmt.Errorf("%s: %q is not an integer in [%d, %d]", key, raw, lo, hi))
	}
	return n
}

func (p *settingsParser) boolean(key string) bool {
	raw := p.v.GetString(key)
	b, err := strconv.ParseBool(raw)
	if err != nil {
		p.fail(fmt.Errorf("%s: %q is not true or false", key, raw))
	}
	return b
}

func (p *settingsParser) oneOf(key string, allowed ...string) string {
	raw := p.v.GetString(key)
	for _, a := range allowed {
		if raw == a {
			return raw
		}
	}
	p.fail(fmt.Errorf("%s: %q is not one of %s", key, raw, strings.Join(allowed, ", ")))
	return raw
}

func (p *settingsParser) nonEmpty(key string) string {
	raw := p.v.GetString(key)
	if raw == "" {
		p.fail(fmt.Errorf("%s must be set", key))
	}
	return raw
}

// rolesOf accepts a YAML list or a comma-separated string.
func rolesOf(raw any) []string {
	if list, ok := raw.([]any); ok {
		var out []string
		for _, r := range list {
			out = append(out, strings.TrimSpace(fmt.Sprint(r)))
		}
		return out
	}
	return splitRoles(fmt.Sprint(raw))
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func splitRoles(s string) []string {
	var out []string
	for _, r := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '[' || r == ']' }) {
		out = append(out, strings.TrimSpace(r))
	}
	return out
}

// groupSettings are the consumer-group coordinator's keys.
type groupSettings struct {
	NumPartitions                 int32
	ReplicationFactor             int16
	SegmentBytes                  int32
	InitialRebalanceDelay         time.Duration
	MinSessionTimeout             time.Duration
	MaxSessionTimeout             time.Duration
	MaxSize                       int
	OffsetMetadataMaxBytes        int
	OffsetsRetention              time.Duration
	OffsetsRetentionCheckInterval time.Duration
	ConsumerHeartbeatInterval     time.Duration
	ConsumerSessionTimeout        time.Duration
	ConsumerMaxSize               int
}

func parseGroupSettings(p *settingsParser) groupSettings {
	ms := func(key string, lo int64) time.Duration {
		return time.Duration(p.intIn(key, lo, 1<<40)) * time.Millisecond
	}
	return groupSettings{
		NumPartitions:                 int32(p.intIn("offsets.topic.num.partitions", 1, 1<<31-1)),
		ReplicationFactor:             int16(p.intIn("offsets.topic.replication.factor", 1, 1<<15-1)),
		SegmentBytes:                  int32(p.intIn("offsets.topic.segment.bytes", 1<<20, 1<<31-1)),
		InitialRebalanceDelay:         ms("group.initial.rebalance.delay.ms", 0),
		MinSessionTimeout:             ms("group.min.session.timeout.ms", 1),
		MaxSessionTimeout:             ms("group.max.session.timeout.ms", 1),
		MaxSize:                       int(p.intIn("group.max.size", 1, 1<<31-1)),
		OffsetMetadataMaxBytes:        int(p.intIn("offset.metadata.max.bytes", 0, 1<<31-1)),
		OffsetsRetention:              time.Duration(p.intIn("offsets.retention.minutes", 1, 1<<31-1)) * time.Minute,
		OffsetsRetentionCheckInterval: ms("offsets.retention.check.interval.ms", 1),
		ConsumerHeartbeatInterval:     ms("group.consumer.heartbeat.interval.ms", 1),
		ConsumerSessionTimeout:        ms("group.consumer.session.timeout.ms", 1),
		ConsumerMaxSize:               int(p.intIn("group.consumer.max.size", 1, 1<<31-1)),
	}
}
