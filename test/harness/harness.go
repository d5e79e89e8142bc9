// Package harness starts real Samsa nodes for tests: in-process nodes on
// 127.0.0.1:0 with their data in t.TempDir(), and samsa processes built from
// this tree that a test can SIGTERM or kill -9. Everything a harness starts
// is stopped by t.Cleanup.
package harness

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/samsa-io/samsa/broker"
	"github.com/samsa-io/samsa/controller"
	"github.com/samsa-io/samsa/node"
)

// Node is an in-process Samsa node (controller + broker).
type Node struct {
	*node.Node
	cfg node.Config
	t   testing.TB
}

type options struct {
	dataDir       string
	autoCreate    bool
	numPartitions int32
	topicDefaults map[string]string
	logToTest     bool
	brokerConfig  []func(*broker.Config)
	// retentionCheckInterval is log.retention.check.interval.ms; 0 keeps
	// the broker's default.
	retentionCheckInterval time.Duration
}

// Option configures StartNode.
type Option func(*options)

// WithDataDir keeps the node's data in dir (default: a fresh t.TempDir()).
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithAutoCreateTopics sets auto.create.topics.enable (default true).
func WithAutoCreateTopics(on bool) Option { return func(o *options) { o.autoCreate = on } }

// WithNumPartitions sets num.partitions (default 1).
func WithNumPartitions(n int32) Option { return func(o *options) { o.numPartitions = n } }

// WithTopicDefault sets a broker-level default for a topic config.
func WithTopicDefault(name, value string) Option {
	return func(o *options) { o.topicDefaults[name] = value }
}

// WithRetentionCheckInterval sets log.retention.check.interval.ms: how
// often the broker applies retention and compacts compacted topics
// (default: the broker's, 5 minutes).
func WithRetentionCheckInterval(d time.Duration) Option {
	return func(o *options) { o.retentionCheckInterval = d }
}

// WithBrokerConfig adjusts the broker's configuration (group coordinator
// timeouts, say) before the node starts.
func WithBrokerConfig(fn func(*broker.Config)) Option {
	return func(o *options) { o.brokerConfig = append(o.brokerConfig, fn) }
}

// WithLogs routes the node's logs to t.Log (default: only when
// SAMSA_TEST_LOGS is set, to keep failures readable).
func WithLogs() Option { return func(o *options) { o.logToTest = true } }

// StartNode starts a combined node and stops it when the test ends.
func StartNode(t testing.TB, opts ...Option) *Node {
	t.Helper()
	o := options{autoCreate: true, numPartitions: 1, topicDefaults: map[string]string{},
		logToTest: os.Getenv("SAMSA_TEST_LOGS") != ""}
	for _, opt := range opts {
		opt(&o)
	}
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	log := zerolog.Nop()
	if o.logToTest {
		log = zerolog.New(zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true}).With().Timestamp().Logger()
	}
	ccfg := controller.DefaultConfig()
	ccfg.RaftBindAddr = "127.0.0.1:0"
	ccfg.ListenAddr = "127.0.0.1:0"
	ccfg.DefaultNumPartitions = o.numPartitions
	ccfg.DefaultReplicationFactor = 1
	bcfg := broker.DefaultConfig()
	bcfg.ListenAddr = "127.0.0.1:0"
	bcfg.AutoCreateTopics = o.autoCreate
	bcfg.TopicDefaults = o.topicDefaults
	if o.retentionCheckInterval > 0 {
		bcfg.RetentionCheckInterval = o.retentionCheckInterval
	}
	for _, fn := range o.brokerConfig {
		fn(&bcfg)
	}
	cfg := node.Config{
		NodeID: 1, Roles: []string{node.RoleController, node.RoleBroker}, DataDir: o.dataDir,
		Controller: ccfg, Broker: bcfg, Logger: log,
	}
	n := &Node{cfg: cfg, t: t}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *Node) start() {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nd, err := node.Start(ctx, n.cfg)
	if err != nil {
		n.t.Fatalf("starting samsa node in %s: %v", n.cfg.DataDir, err)
	}
	n.Node = nd
}

func (n *Node) stop() {
	if n.Node == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Node.Shutdown(ctx); err != nil {
		n.t.Errorf("stopping samsa node: %v", err)
	}
	n.Node = nil
}

// Restart shuts the node down gracefully and starts it again on the same
// data directory; Bootstrap changes (new free ports).
func (n *Node) Restart() {
	n.t.Helper()
	n.stop()
	n.start()
}

// DataDir is the node's data directory.
func (n *Node) DataDir() string { return n.cfg.DataDir }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
