// Package samsatest starts a real Samsa node inside a Go test: the same
// storage, Raft controller and broker as the samsa binary, listening on
// 127.0.0.1 with free ports and keeping its data in t.TempDir(). Everything
// it starts is stopped by t.Cleanup.
//
//	func TestOrders(t *testing.T) {
//		c := samsatest.Start(t, samsatest.WithTopic("orders", 3))
//		cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()))
//		...
//	}
//
// # Scope
//
// This first cut runs one node (controller and broker in one process). A
// test can Restart it (graceful stop, then start on the same data) to check
// what survives. Three-node in-process clusters, and killing one node of
// them to test failover, are not available yet.
//
// Importing samsatest links the server into the test binary; the client
// package itself does not import it, so programs using the SDK never do.
package samsatest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/samsa-io/samsa/broker"
	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/controller"
	"github.com/samsa-io/samsa/node"
)

// LogsEnv is the environment variable that, when set, routes every node's
// logs to t.Log as WithLogs does.
const LogsEnv = "SAMSA_TEST_LOGS"

// startTimeout bounds node start, topic creation and graceful stop.
const startTimeout = 30 * time.Second

type topicSpec struct {
	name       string
	partitions int32
}

type options struct {
	topics       []topicSpec
	logs         bool
	autoCreate   bool
	brokerConfig []func(*broker.Config)
}

// Option configures Start.
type Option func(*options)

// WithTopic creates a topic with the given number of partitions (and
// replication factor 1) before Start returns.
func WithTopic(name string, partitions int32) Option {
	return func(o *options) { o.topics = append(o.topics, topicSpec{name, partitions}) }
}

// WithLogs routes the node's logs to t.Log. By default they are discarded,
// unless SAMSA_TEST_LOGS is set.
func WithLogs() Option { return func(o *options) { o.logs = true } }

// WithAutoCreateTopics sets auto.create.topics.enable; the default is
// false, so a test that writes to a topic it did not create fails with
// UNKNOWN_TOPIC_OR_PARTITION as it would against a production cluster
// configured that way.
func WithAutoCreateTopics(on bool) Option { return func(o *options) { o.autoCreate = on } }

// WithBrokerConfig adjusts the broker's configuration before the node
// starts (topic defaults, group coordinator timeouts, …). It is an escape
// hatch: the fields belong to the server and may change between releases.
func WithBrokerConfig(fn func(*broker.Config)) Option {
	return func(o *options) { o.brokerConfig = append(o.brokerConfig, fn) }
}

// Cluster is a running in-process Samsa node.
type Cluster struct {
	t   testing.TB
	cfg node.Config

	mu   sync.Mutex
	node *node.Node // nil while stopped
}

// Start starts a one-node Samsa cluster, creates the topics given by
// WithTopic, and registers its shutdown with t.Cleanup. It fails the test
// (t.Fatal) if the node cannot start.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := options{logs: os.Getenv(LogsEnv) != ""}
	for _, opt := range opts {
		opt(&o)
	}
	log := zerolog.Nop()
	if o.logs {
		log = zerolog.New(zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true}).With().Timestamp().Logger()
	}

	ccfg := controller.DefaultConfig()
	ccfg.RaftBindAddr = "127.0.0.1:0"
	ccfg.ListenAddr = "127.0.0.1:0"
	ccfg.DefaultNumPartitions = 1
	ccfg.DefaultReplicationFactor = 1
	// A single voter elects itself after one heartbeat timeout: keep it
	// short so Start takes milliseconds, not seconds.
	ccfg.HeartbeatTimeout = 20 * time.Millisecond
	ccfg.ElectionTimeout = 20 * time.Millisecond

	bcfg := broker.DefaultConfig()
	bcfg.ListenAddr = "127.0.0.1:0"
	bcfg.AutoCreateTopics = o.autoCreate
	for _, fn := range o.brokerConfig {
		fn(&bcfg)
	}

	c := &Cluster{t: t, cfg: node.Config{
		NodeID:     1,
		Roles:      []string{node.RoleController, node.RoleBroker},
		DataDir:    t.TempDir(),
		Controller: ccfg,
		Broker:     bcfg,
		Logger:     log,
	}}
	if err := c.start(); err != nil {
		t.Fatalf("samsatest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("samsatest: stopping node: %v", err)
		}
	})
	if len(o.topics) > 0 {
		if err := c.createTopics(o.topics); err != nil {
			t.Fatalf("samsatest: %v", err)
		}
	}
	return c
}

// Bootstrap returns the node's Kafka listener, host:port, to pass to
// client.WithBootstrap. It changes after Restart (a new free port).
func (c *Cluster) Bootstrap() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.node == nil {
		return ""
	}
	return c.node.Bootstrap()
}

// DataDir returns the directory holding the node's logs and metadata.
func (c *Cluster) DataDir() string { return c.cfg.DataDir }

// Restart stops the node gracefully (in-flight requests answered, logs
// synced and closed) and starts it again on the same data directory.
// Clients built before it must be rebuilt with the new Bootstrap address.
func (c *Cluster) Restart() {
	c.t.Helper()
	if err := c.stop(); err != nil {
		c.t.Fatalf("samsatest: restart: stopping: %v", err)
	}
	if err := c.start(); err != nil {
		c.t.Fatalf("samsatest: restart: %v", err)
	}
}

func (c *Cluster) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	n, err := node.Start(ctx, c.cfg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.node = n
	c.mu.Unlock()
	return nil
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	n := c.node
	c.node = nil
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return n.Shutdown(ctx)
}

func (c *Cluster) createTopics(topics []topicSpec) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()), client.WithClientID("samsatest"))
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, tp := range topics {
		if _, err := cl.Admin().CreateTopic(ctx, tp.name, tp.partitions, 1, nil); err != nil {
			return err
		}
	}
	return nil
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
