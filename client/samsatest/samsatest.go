// Package samsatest starts real Samsa nodes inside a Go test: the same
// storage, Raft controller, gossip and broker as the samsa binary,
// listening on 127.0.0.1 and keeping their data in t.TempDir(). Everything
// it starts is stopped by t.Cleanup.
//
//	func TestOrders(t *testing.T) {
//		c := samsatest.Start(t, samsatest.WithTopic("orders", 3))
//		cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()))
//		...
//	}
//
// An Example function, which has no testing.TB, uses New and Close
// instead:
//
//	node, err := samsatest.New(samsatest.WithTopic("orders", 1))
//	...
//	defer node.Close()
//
// WithFastGroups shortens the group coordinator's timings, so that tests of
// consumer groups join and rebalance in milliseconds.
//
// # Three nodes and failover
//
// WithNodes(3) starts three nodes in the test process, each a controller
// quorum voter, a broker and a gossip member, as a three-server cluster
// would be. Topics are then replicated (WithTopic's replication factor is
// min(3, nodes) unless ReplicationFactor says otherwise), and a test can
// take a node away and bring it back:
//
//	c := samsatest.Start(t, samsatest.WithNodes(3),
//		samsatest.WithTopic("orders", 3, samsatest.TopicConfig("min.insync.replicas", "2")))
//	leader := c.Leader("orders", 0)
//	c.Kill(leader)    // the others notice through gossip and elect a new leader
//	next := c.Leader("orders", 0) // waits for the new leader
//	c.Restart(leader) // same data, same addresses; it catches up
//
// Kill is a crash as far as a process can crash part of itself: the node's
// gossip stops without saying goodbye, so the other nodes find out only
// when it misses its probes (about 1-2 s with the test timings, as a
// kill -9 would be noticed), its listeners and client connections close at
// once without answering in-flight requests, and its Raft stops without
// handing over leadership. What it cannot do is lose data the operating
// system had not written to disk: in-process, the page cache survives, so
// Kill tests failover (elections, retries, coordinator moves), not crash
// recovery. Restart(id) starts a killed or running node again on the same
// data directory and ports.
//
// The nodes' addresses are fixed before they start, because every voter
// must know the others' Raft, controller and gossip addresses: Start binds
// free ports, notes them, and releases the controller and gossip ones just
// before the nodes bind them (the Raft listeners are handed over bound).
// If another process takes one in between, Start starts the cluster again
// on fresh ports, up to three times.
//
// Importing samsatest links the server into the test binary; the client
// package itself does not import it, so programs using the SDK never do.
package samsatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/broker"
	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/controller"
	"github.com/samsa-io/samsa/gossip"
	"github.com/samsa-io/samsa/node"
)

// LogsEnv is the environment variable that, when set, routes every node's
// logs to t.Log as WithLogs does.
const LogsEnv = "SAMSA_TEST_LOGS"

// startTimeout bounds node start, topic creation, graceful stop, and the
// waits of Leader and Coordinator.
const startTimeout = 30 * time.Second

// startAttempts bounds the restarts of a cluster whose reserved ports were
// taken by another process before its nodes bound them.
const startAttempts = 3

// Timings of a several-node cluster, chosen for tests on a loaded machine:
// failures are noticed in seconds, not the production defaults' tens of
// seconds, without a busy process being declared dead.
const (
	// raftTimeout is the controller quorum's heartbeat and election
	// timeout: an election takes 0.3-0.6 s after the active controller
	// dies (1 s by default).
	raftTimeout = 300 * time.Millisecond
	// gossipProbe and gossipSuspicion: a killed node is declared dead
	// within about 1-2 s (about 4 s by default).
	gossipProbe     = 200 * time.Millisecond
	gossipSuspicion = 4
	// replicaBackoff is how long a follower waits before it fetches
	// again after a failure (replica.fetch.backoff.ms, 1 s by default).
	replicaBackoff = 100 * time.Millisecond
)

type topicSpec struct {
	name              string
	partitions        int32
	replicationFactor int16 // 0: min(3, nodes)
	configs           map[string]string
}

type options struct {
	nodes        int
	topics       []topicSpec
	logs         bool
	autoCreate   bool
	brokerConfig []func(*broker.Config)
	ctrlConfig   []func(*controller.Config)
}

// Option configures Start.
type Option func(*options)

// TopicOption configures one topic of WithTopic.
type TopicOption func(*topicSpec)

// ReplicationFactor sets the topic's replication factor; the default is
// min(3, number of nodes), so 1 on one node.
func ReplicationFactor(n int16) TopicOption {
	return func(s *topicSpec) { s.replicationFactor = n }
}

// TopicConfig sets a topic config (Kafka's name: min.insync.replicas,
// retention.ms, cleanup.policy, …).
func TopicConfig(key, value string) TopicOption {
	return func(s *topicSpec) {
		if s.configs == nil {
			s.configs = map[string]string{}
		}
		s.configs[key] = value
	}
}

// WithTopic creates a topic with the given number of partitions before
// Start returns, replicated on min(3, nodes) brokers unless
// ReplicationFactor says otherwise. Start returns once every running node
// knows the topic and every partition has a leader.
func WithTopic(name string, partitions int32, opts ...TopicOption) Option {
	s := topicSpec{name: name, partitions: partitions}
	for _, opt := range opts {
		opt(&s)
	}
	return func(o *options) { o.topics = append(o.topics, s) }
}

// WithNodes sets the number of nodes (default 1). Each is a controller
// quorum voter, a broker and, with more than one, a gossip member. Three
// is the usual choice: a quorum that survives one node's loss. Node ids
// are 1 to n.
func WithNodes(n int) Option { return func(o *options) { o.nodes = n } }

// WithLogs routes the nodes' logs to t.Log. By default they are discarded,
// unless SAMSA_TEST_LOGS is set.
func WithLogs() Option { return func(o *options) { o.logs = true } }

// WithAutoCreateTopics sets auto.create.topics.enable; the default is
// false, so a test that writes to a topic it did not create fails with
// UNKNOWN_TOPIC_OR_PARTITION as it would against a production cluster
// configured that way.
func WithAutoCreateTopics(on bool) Option { return func(o *options) { o.autoCreate = on } }

// WithBrokerConfig adjusts every broker's configuration before the nodes
// start (topic defaults, group coordinator timeouts, …). It is an escape
// hatch: the fields belong to the server and may change between releases.
func WithBrokerConfig(fn func(*broker.Config)) Option {
	return func(o *options) { o.brokerConfig = append(o.brokerConfig, fn) }
}

// WithControllerConfig adjusts every node's controller configuration
// before the nodes start (snapshot thresholds, defaults for new topics,
// …). Like WithBrokerConfig it is an escape hatch: the fields belong to
// the server and may change between releases.
func WithControllerConfig(fn func(*controller.Config)) Option {
	return func(o *options) { o.ctrlConfig = append(o.ctrlConfig, fn) }
}

// WithFastGroups shortens the group coordinator's timings for tests: no
// initial rebalance delay (group.initial.rebalance.delay.ms, 3 s by
// default, which every new group waits), a minimum session timeout of
// 100 ms (group.min.session.timeout.ms, 6 s by default), so that members
// can use short sessions and a dead member is noticed quickly, and a
// one-partition __consumer_offsets (offsets.topic.num.partitions, 50 by
// default), which the first group creates. With several nodes that
// partition is replicated on min(3, nodes) brokers like any other, and its
// leader is every group's coordinator (Coordinator).
func WithFastGroups() Option {
	return WithBrokerConfig(func(c *broker.Config) {
		c.Group.InitialRebalanceDelay = 0
		c.Group.MinSessionTimeout = 100 * time.Millisecond
		c.Group.NumPartitions = 1
	})
}

// Cluster is a set of running in-process Samsa nodes.
type Cluster struct {
	t      testing.TB // nil for a Cluster from New
	o      options
	dir    string
	ownDir bool // New made dir; Close removes it
	log    zerolog.Logger

	// ops orders Kill, Restart and the final stop.
	ops   sync.Mutex
	nodes []*member
}

// member is one node of the cluster: its configuration (fixed addresses
// with several nodes) and the running node, if any.
type member struct {
	id  int32
	cfg node.Config

	mu    sync.Mutex
	n     *node.Node // nil while stopped or killed
	kafka string     // the Kafka listener's address, kept across restarts
}

func (m *member) running() *node.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

func (m *member) addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kafka
}

func parseOptions(opts []Option) (options, error) {
	o := options{nodes: 1, logs: os.Getenv(LogsEnv) != ""}
	for _, opt := range opts {
		opt(&o)
	}
	if o.nodes < 1 || o.nodes > 9 {
		return o, fmt.Errorf("WithNodes(%d): want 1 to 9 nodes", o.nodes)
	}
	return o, nil
}

// Start starts a cluster (one node unless WithNodes says otherwise),
// creates the topics given by WithTopic, and registers its shutdown with
// t.Cleanup. It fails the test (t.Fatal) if the cluster cannot start.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o, err := parseOptions(opts)
	if err != nil {
		t.Fatalf("samsatest: %v", err)
	}
	log := zerolog.Nop()
	if o.logs {
		log = zerolog.New(zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true}).With().Timestamp().Logger()
	}
	c := &Cluster{t: t, o: o, dir: t.TempDir(), log: log}
	if err := c.startAll(); err != nil {
		t.Fatalf("samsatest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.stopAll(); err != nil {
			t.Errorf("samsatest: stopping the cluster: %v", err)
		}
	})
	if err := c.createTopics(o.topics); err != nil {
		t.Fatalf("samsatest: %v", err)
	}
	return c
}

// New starts a cluster as Start does, for code that has no testing.TB: an
// Example function, a TestMain. Its data goes to a new temporary
// directory; Close stops the nodes and removes it. WithLogs sends the logs
// to stderr.
func New(opts ...Option) (*Cluster, error) {
	o, err := parseOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("samsatest: %w", err)
	}
	log := zerolog.Nop()
	if o.logs {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true}).With().Timestamp().Logger()
	}
	dir, err := os.MkdirTemp("", "samsatest-")
	if err != nil {
		return nil, fmt.Errorf("samsatest: %w", err)
	}
	c := &Cluster{o: o, dir: dir, ownDir: true, log: log}
	if err := c.startAll(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("samsatest: %w", err)
	}
	if err := c.createTopics(o.topics); err != nil {
		c.Close()
		return nil, fmt.Errorf("samsatest: %w", err)
	}
	return c, nil
}

// Close stops the nodes of a Cluster from New and removes their data. A
// Cluster from Start is stopped by t.Cleanup; Close stops it earlier.
// Close is idempotent.
func (c *Cluster) Close() error {
	err := c.stopAll()
	if c.ownDir {
		if rerr := os.RemoveAll(c.dir); err == nil {
			err = rerr
		}
	}
	return err
}

// startAll configures and starts every node; with several nodes it starts
// the whole cluster again on fresh ports when a reserved port was taken.
func (c *Cluster) startAll() error {
	for attempt := 1; ; attempt++ {
		raftLns, err := c.configure()
		if err != nil {
			return err
		}
		err = c.startMembers(c.nodes)
		if err == nil {
			return nil // each controller owns its Raft listener now
		}
		c.killMembers(c.nodes)
		for _, ln := range raftLns {
			ln.Close() // those of nodes that failed before their controller took them
		}
		if !addrInUse(err) || attempt == startAttempts {
			return err
		}
		for _, m := range c.nodes {
			if rerr := os.RemoveAll(m.cfg.DataDir); rerr != nil {
				return errors.Join(err, rerr)
			}
		}
	}
}

// configure builds every node's configuration. One node binds port 0
// everywhere and has no gossip (nothing to fence it). Several nodes get
// their controller and gossip ports reserved here (bound, then released)
// and their Raft listeners bound, since every node needs the others'
// addresses before it starts; the caller closes the returned listeners
// if the start fails (a running controller owns and closes its own).
func (c *Cluster) configure() ([]net.Listener, error) {
	n := c.o.nodes
	c.nodes = nil
	if n == 1 {
		ccfg := controller.DefaultConfig()
		ccfg.RaftBindAddr = "127.0.0.1:0"
		ccfg.ListenAddr = "127.0.0.1:0"
		// A single voter elects itself after one heartbeat timeout: keep
		// it short so Start takes milliseconds, not seconds.
		ccfg.HeartbeatTimeout = 20 * time.Millisecond
		ccfg.ElectionTimeout = 20 * time.Millisecond
		c.nodes = []*member{{id: 1, kafka: "127.0.0.1:0", cfg: node.Config{
			NodeID: 1, Roles: []string{node.RoleController, node.RoleBroker}, DataDir: c.dir,
			Controller: c.controllerConfig(ccfg), Broker: c.brokerConfig(nil), Logger: c.log,
		}}}
		return nil, nil
	}

	var holders []io.Closer
	release := func() {
		for _, h := range holders {
			h.Close()
		}
	}
	var raftLns []net.Listener
	var voters []controller.Voter
	var ctrlAddrs, gossipAddrs []string
	for i := range n {
		raft, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			release()
			closeAll(raftLns)
			return nil, err
		}
		raftLns = append(raftLns, raft)
		voters = append(voters, controller.Voter{ID: int32(i + 1), Addr: raft.Addr().String()})
		ctrl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			release()
			closeAll(raftLns)
			return nil, err
		}
		holders = append(holders, ctrl)
		ctrlAddrs = append(ctrlAddrs, ctrl.Addr().String())
		g, gh, err := reserveTCPAndUDP()
		if err != nil {
			release()
			closeAll(raftLns)
			return nil, err
		}
		holders = append(holders, gh...)
		gossipAddrs = append(gossipAddrs, g)
	}
	clusterID := "samsatest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := range n {
		id := int32(i + 1)
		ccfg := controller.DefaultConfig()
		ccfg.RaftBindAddr = voters[i].Addr
		ccfg.RaftListener = raftLns[i]
		ccfg.ListenAddr = ctrlAddrs[i]
		ccfg.Voters = voters
		ccfg.ClusterID = clusterID
		ccfg.HeartbeatTimeout = raftTimeout
		ccfg.ElectionTimeout = raftTimeout

		gcfg := gossip.DefaultConfig()
		gcfg.BindAddr = gossipAddrs[i]
		for j, a := range gossipAddrs {
			if j != i {
				gcfg.Seeds = append(gcfg.Seeds, a)
			}
		}
		gcfg.ProbeInterval = gossipProbe
		gcfg.SuspicionMult = gossipSuspicion

		c.nodes = append(c.nodes, &member{id: id, kafka: "127.0.0.1:0", cfg: node.Config{
			NodeID:     id,
			Roles:      []string{node.RoleController, node.RoleBroker},
			DataDir:    filepath.Join(c.dir, "node-"+strconv.Itoa(int(id))),
			Controller: c.controllerConfig(ccfg),
			Broker:     c.brokerConfig(ctrlAddrs),
			Gossip:     gcfg,
			Logger:     c.log.With().Int32("node", id).Logger(),
		}})
	}
	release()
	return raftLns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

// reserveTCPAndUDP finds a port free for both TCP and UDP (gossip uses
// both) and returns it bound.
func reserveTCPAndUDP() (string, []io.Closer, error) {
	var lastErr error
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			ln.Close()
			lastErr = err
			continue
		}
		return addr, []io.Closer{ln, pc}, nil
	}
	return "", nil, fmt.Errorf("no port free for both TCP and UDP: %w", lastErr)
}

func (c *Cluster) controllerConfig(ccfg controller.Config) controller.Config {
	ccfg.DefaultNumPartitions = 1
	ccfg.DefaultReplicationFactor = int16(min(3, c.o.nodes))
	for _, fn := range c.o.ctrlConfig {
		fn(&ccfg)
	}
	return ccfg
}

func (c *Cluster) brokerConfig(ctrlAddrs []string) broker.Config {
	bcfg := broker.DefaultConfig()
	bcfg.ListenAddr = "127.0.0.1:0"
	bcfg.AutoCreateTopics = c.o.autoCreate
	bcfg.ControllerAddrs = ctrlAddrs
	if c.o.nodes > 1 {
		bcfg.ReplicaFetch.Backoff = replicaBackoff
	}
	for _, fn := range c.o.brokerConfig {
		fn(&bcfg)
	}
	return bcfg
}

// startMembers starts the given nodes concurrently (voters wait for each
// other's quorum) and waits until every one serves.
func (c *Cluster) startMembers(ms []*member) error {
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			if err := m.start(); err != nil {
				errs[i] = fmt.Errorf("node %d: %w", m.id, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// start starts the node on its Kafka port of last time (a free one the
// first time), or on a free one if that was taken meanwhile. Callers hold
// Cluster.ops (or own the cluster alone), so nothing else starts or stops
// m meanwhile; m.mu is held only to read and publish its state.
func (m *member) start() error {
	m.mu.Lock()
	running, cfg := m.n != nil, m.cfg
	cfg.Broker.ListenAddr = m.kafka
	// The Raft listener handed over for the first start is the
	// controller's (or closed) after it: later starts bind the address.
	m.cfg.Controller.RaftListener = nil
	m.mu.Unlock()
	if running {
		return nil
	}
	n, err := startNode(cfg)
	if err != nil && addrInUse(err) && !strings.HasSuffix(cfg.Broker.ListenAddr, ":0") {
		cfg.Broker.ListenAddr = "127.0.0.1:0"
		cfg.Controller.RaftListener = nil
		n, err = startNode(cfg)
	}
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.n, m.kafka = n, n.Bootstrap()
	m.mu.Unlock()
	return nil
}

func startNode(cfg node.Config) (*node.Node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return node.Start(ctx, cfg)
}

func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// stop shuts the node down gracefully: it leaves gossip, so it is fenced
// at once, lets the controller move its leaderships away, answers
// in-flight requests and syncs its logs. Without a quorum (hurry) nothing
// can move, and waiting for it would only time out: the node then stops
// without waiting for anything, as Shutdown does when its context is over.
func (m *member) stop(hurry bool) error {
	m.mu.Lock()
	n := m.n
	m.n = nil
	m.mu.Unlock()
	if n == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	if hurry {
		cancel()
	}
	defer cancel()
	err := n.Shutdown(ctx)
	if hurry && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (m *member) kill() error {
	m.mu.Lock()
	n := m.n
	m.n = nil
	m.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.Kill()
}

func (c *Cluster) killMembers(ms []*member) {
	for _, m := range ms {
		m.kill()
	}
}

// stopAll stops every running node gracefully, one after the other: each
// leaves gossip while the others still run to hear it (nodes leaving at
// once wait for each other's leave broadcasts until they time out).
func (c *Cluster) stopAll() error {
	c.ops.Lock()
	defer c.ops.Unlock()
	return c.stopMembers(c.nodes)
}

// stopMembers stops the given nodes gracefully, one after the other. A node
// stopped when the nodes still running are too few for a controller quorum
// stops without waiting for its leaderships to move (nothing can commit
// the move).
func (c *Cluster) stopMembers(ms []*member) error {
	var errs []error
	for _, m := range ms {
		if err := m.stop(c.withoutQuorum()); err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", m.id, err))
		}
	}
	return errors.Join(errs...)
}

// withoutQuorum reports whether the running nodes, less one about to stop,
// are too few to commit anything (never for a one-node cluster, which has
// nothing to hand over).
func (c *Cluster) withoutQuorum() bool {
	if len(c.nodes) == 1 {
		return false
	}
	running := 0
	for _, m := range c.nodes {
		if m.running() != nil {
			running++
		}
	}
	return running-1 < len(c.nodes)/2+1
}

// fail reports a failure of a helper: t.Fatalf for a Cluster from Start,
// a panic for one from New, which has no test to fail.
func (c *Cluster) fail(format string, args ...any) {
	if c.t != nil {
		c.t.Helper()
		c.t.Fatalf(format, args...)
		return
	}
	panic(fmt.Sprintf(format, args...))
}

func (c *Cluster) member(id int32) *member {
	for _, m := range c.nodes {
		if m.id == id {
			return m
		}
	}
	return nil
}

// Bootstrap returns every node's Kafka listener, host:port, comma-separated,
// to pass to client.WithBootstrap (which splits it). A killed node's
// address stays in the list: clients skip a node that does not answer.
// The addresses stay the same across Kill and Restart, unless a node's
// port was taken by another process while it was down; it then gets a new
// one, and Bootstrap says so.
func (c *Cluster) Bootstrap() string {
	addrs := make([]string, 0, len(c.nodes))
	for _, m := range c.nodes {
		if a := m.addr(); !strings.HasSuffix(a, ":0") {
			addrs = append(addrs, a)
		}
	}
	return strings.Join(addrs, ",")
}

// NodeBootstrap returns node id's Kafka listener, host:port.
func (c *Cluster) NodeBootstrap(id int32) string {
	m := c.member(id)
	if m == nil {
		return ""
	}
	return m.addr()
}

// NodeIDs returns the nodes' ids, 1 to n.
func (c *Cluster) NodeIDs() []int32 {
	ids := make([]int32, len(c.nodes))
	for i, m := range c.nodes {
		ids[i] = m.id
	}
	return ids
}

// Running reports whether node id runs (it was not killed, or was
// restarted since).
func (c *Cluster) Running(id int32) bool {
	m := c.member(id)
	return m != nil && m.running() != nil
}

// DataDir returns the directory holding the nodes' logs and metadata; with
// several nodes, node i's are in DataDir()/node-i.
func (c *Cluster) DataDir() string { return c.dir }

// Kill crashes node id (see the package documentation for what that means
// in-process): it stops at once, and the other nodes notice through gossip
// after about 1-2 s, fence its broker, and elect new leaders for its
// partitions (and, if it was the active controller, a new one). It stays
// down until Restart(id). Killing a node that is down does nothing.
//
// Kill may be called from any goroutine, for instance in the middle of a
// stream of produces.
func (c *Cluster) Kill(id int32) {
	m := c.member(id)
	if m == nil {
		c.fail("samsatest: kill: no node %d (ids are 1 to %d)", id, len(c.nodes))
		return
	}
	c.ops.Lock()
	defer c.ops.Unlock()
	if err := m.kill(); err != nil && c.t != nil {
		c.t.Errorf("samsatest: kill node %d: %v", id, err)
	}
}

// Restart stops the given nodes gracefully (in-flight requests answered,
// logs synced and closed) if they run, and starts them again on the same
// data directories and addresses, together, returning once each serves
// again; no ids means every node. A killed node is just started again. A
// graceful stop lets the controller move the node's leaderships away
// first, unless too few other nodes run for a controller quorum to commit
// the move. A restarted broker is fenced until it is back in the cluster,
// and then catches up with the partitions it follows before it rejoins
// their ISRs.
//
// Restart fails the test (t.Fatal) if a node does not start, so call it
// from the test's goroutine; on a Cluster from New, which has no test to
// fail, a failed restart panics.
func (c *Cluster) Restart(ids ...int32) {
	if c.t != nil {
		c.t.Helper()
	}
	ms := c.nodes
	if len(ids) > 0 {
		ms = nil
		for _, id := range ids {
			m := c.member(id)
			if m == nil {
				c.fail("samsatest: restart: no node %d (ids are 1 to %d)", id, len(c.nodes))
				return
			}
			ms = append(ms, m)
		}
	}
	c.ops.Lock()
	defer c.ops.Unlock()
	if err := c.stopMembers(ms); err != nil {
		c.fail("samsatest: restart: stopping: %v", err)
		return
	}
	if err := c.startMembers(ms); err != nil {
		c.fail("samsatest: restart: %v", err)
	}
}

// Leader returns the id of the node leading partition of topic. It waits
// (up to 30 s) until a running node leads it: right after Kill of the
// leader, it returns the newly elected one. Nodes may briefly disagree
// while a change spreads; Leader takes the answer with the highest leader
// epoch. It fails the test if no running node leads the partition in
// time, so call it from the test's goroutine.
func (c *Cluster) Leader(topic string, partition int32) int32 {
	if c.t != nil {
		c.t.Helper()
	}
	var last error
	deadline := time.Now().Add(startTimeout)
	for {
		leader, err := c.leader(topic, partition)
		if err == nil {
			return leader
		}
		last = err
		if time.Now().After(deadline) {
			c.fail("samsatest: no leader of %s-%d on a running node within %v: %v", topic, partition, startTimeout, last)
			return -1
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// leader asks every running node for the partition's leader and returns
// the one named with the highest leader epoch, if it runs.
func (c *Cluster) leader(topic string, partition int32) (int32, error) {
	leader, epoch := int32(-1), int32(-1)
	var errs []error
	for _, m := range c.nodes {
		if m.running() == nil {
			continue
		}
		l, e, err := partitionLeader(m.addr(), topic, partition)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", m.id, err))
			continue
		}
		if e > epoch {
			leader, epoch = l, e
		}
	}
	if leader < 0 {
		if len(errs) == 0 {
			errs = append(errs, errors.New("no leader"))
		}
		return -1, errors.Join(errs...)
	}
	if !c.Running(leader) {
		return -1, fmt.Errorf("node %d, which leads at epoch %d, is down", leader, epoch)
	}
	return leader, nil
}

// request sends req to the node at addr itself (not to whichever broker a
// client would route it to) and returns the answer.
func request(addr string, req kmsg.Request) (kmsg.Response, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("samsatest"))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	seeds := cl.SeedBrokers()
	if len(seeds) != 1 {
		return nil, fmt.Errorf("%d seed brokers for %s", len(seeds), addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return seeds[0].Request(ctx, req)
}

// partitionLeader asks one node's Metadata for a partition's leader and
// leader epoch.
func partitionLeader(addr, topic string, partition int32) (leader, epoch int32, err error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	resp, err := request(addr, req)
	if err != nil {
		return -1, -1, err
	}
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return -1, -1, err
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && p.Leader < 0 {
					return -1, -1, err
				}
				return p.Leader, p.LeaderEpoch, nil
			}
		}
	}
	return -1, -1, fmt.Errorf("%s has no partition %d here", topic, partition)
}

// Coordinator returns the id of the node coordinating the consumer group
// (the leader of its __consumer_offsets partition). The first call for a
// cluster creates __consumer_offsets, as a group consumer's first request
// would. Like Leader it waits (up to 30 s) until a running node is named,
// so right after Kill of the coordinator it returns the new one; it fails
// the test otherwise.
func (c *Cluster) Coordinator(group string) int32 {
	if c.t != nil {
		c.t.Helper()
	}
	var last error
	deadline := time.Now().Add(startTimeout)
	for {
		id, err := c.coordinator(group)
		if err == nil {
			return id
		}
		last = err
		if time.Now().After(deadline) {
			c.fail("samsatest: no coordinator for group %q on a running node within %v: %v", group, startTimeout, last)
			return -1
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func (c *Cluster) coordinator(group string) (int32, error) {
	var errs []error
	for _, m := range c.nodes {
		if m.running() == nil {
			continue
		}
		id, err := findCoordinator(m.addr(), group)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", m.id, err))
			continue
		}
		if !c.Running(id) {
			errs = append(errs, fmt.Errorf("node %d names node %d, which is down", m.id, id))
			continue
		}
		return id, nil
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no node runs"))
	}
	return -1, errors.Join(errs...)
}

func findCoordinator(addr, group string) (int32, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = group
	req.CoordinatorKeys = []string{group}
	resp, err := request(addr, req)
	if err != nil {
		return -1, err
	}
	r := resp.(*kmsg.FindCoordinatorResponse)
	if r.Version < 4 {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return -1, err
		}
		return r.NodeID, nil
	}
	if len(r.Coordinators) != 1 {
		return -1, fmt.Errorf("FindCoordinator answered %d coordinators for 1 group", len(r.Coordinators))
	}
	co := r.Coordinators[0]
	if err := kerr.ErrorForCode(co.ErrorCode); err != nil {
		return -1, err
	}
	return co.NodeID, nil
}

// createTopics creates the topics of WithTopic and waits until every
// running node knows each of them with a leader for every partition.
func (c *Cluster) createTopics(topics []topicSpec) error {
	if len(topics) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()), client.WithClientID("samsatest"))
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, tp := range topics {
		rf := tp.replicationFactor
		if rf == 0 {
			rf = int16(min(3, len(c.nodes)))
		}
		if _, err := cl.Admin().CreateTopic(ctx, tp.name, tp.partitions, rf, tp.configs); err != nil {
			return err
		}
	}
	for _, tp := range topics {
		if err := c.waitTopic(ctx, tp.name, tp.partitions); err != nil {
			return err
		}
	}
	return nil
}

// waitTopic waits until every running node's Metadata has every partition
// of topic with a leader.
func (c *Cluster) waitTopic(ctx context.Context, topic string, partitions int32) error {
	for {
		var errs []error
		for _, m := range c.nodes {
			if m.running() == nil {
				continue
			}
			for p := range partitions {
				if l, _, err := partitionLeader(m.addr(), topic, p); err != nil || l < 0 {
					errs = append(errs, fmt.Errorf("node %d: %s-%d: leader %d, %v", m.id, topic, p, l, err))
				}
			}
		}
		if len(errs) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s not ready on every node: %w", topic, errors.Join(errs...))
		case <-time.After(10 * time.Millisecond): // polling interval
		}
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
