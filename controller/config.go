package controller

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"
	"github.com/samsa-io/samsa/metadata"
)

// Voter is one voting member of the controller quorum.
type Voter struct {
	ID   int32
	Addr string // Raft transport address (host:port) the other voters dial
}

// Config configures a Controller.
type Config struct {
	// NodeID is this node's id; it is also its Raft server id.
	NodeID int32
	// DataDir holds meta.properties and raft/ (the bolt log and stable
	// store, and snapshots/).
	DataDir string
	// RaftBindAddr is where the Raft transport listens ("127.0.0.1:0" in
	// tests).
	RaftBindAddr string
	// RaftListener, when set, is the Raft transport's listener, already
	// bound to RaftBindAddr: tests bind every voter's listener before
	// configuring the voters, so that no other process can take a port
	// between choosing it and binding it. The controller closes it.
	RaftListener net.Listener
	// RaftAdvertiseAddr is the address other voters dial; empty means the
	// bound address (with 127.0.0.1 for an unspecified host when this node
	// is the only voter).
	RaftAdvertiseAddr string
	// Voters is the bootstrap quorum: the voters a brand-new cluster starts
	// with, written into the Raft log when a voter first starts on an empty
	// DataDir. Empty means this node alone. Once the log exists, the Raft
	// configuration in it is authoritative: voters added or removed online
	// (AddVoter, RemoveVoter) change it, and this list is only consulted to
	// know the other voters' ids by address before the log says otherwise.
	Voters []Voter
	// Join makes this node join an existing quorum instead of bootstrapping
	// one: on an empty DataDir it writes no Raft configuration and waits
	// until the active controller adds it (AddVoter). It needs ClusterID.
	// A node that is not in Voters must join.
	Join bool
	// Observer makes this node a broker-only node's follower of the
	// metadata log: a Raft non-voter that never bootstraps, never votes
	// and never stands for election (see observers.go). It is added to
	// the quorum by the active controller when its broker registers with
	// a RAFT listener, and removed when the broker is unregistered. It
	// needs ClusterID, excludes Join, must not be in Voters, and serves no
	// controller listener of its own (ListenAddr should be empty).
	Observer bool
	// ClusterID is the expected cluster id. Empty: a new cluster gets a
	// random one (16 random bytes, base64url, like Kafka); an existing one
	// keeps its own. Set: a DataDir of another cluster is refused.
	ClusterID string
	// ListenAddr is the controller listener (Kafka protocol); empty
	// disables it.
	ListenAddr string

	// SnapshotThreshold is the number of log entries after which Raft takes
	// a snapshot, checked every SnapshotInterval; TrailingLogs are kept
	// behind a snapshot for followers that lag.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// HeartbeatTimeout and ElectionTimeout are Raft's; the leader lease is
	// half the heartbeat timeout.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration

	// DefaultNumPartitions and DefaultReplicationFactor replace -1 in
	// CreateTopics (Kafka's num.partitions and default.replication.factor).
	DefaultNumPartitions     int32
	DefaultReplicationFactor int16
	// Liveness is gossip's view of the nodes. When set, brokers register
	// fenced and the active controller fences and unfences them by it (see
	// liveness.go); nil (tests) registers brokers unfenced and never fences
	// them.
	Liveness Liveness
	// LivenessGrace is how long a new active controller waits before it
	// fences a registered broker that gossip has never reported.
	LivenessGrace time.Duration

	// AutoLeaderRebalance turns on preferred leader election (Kafka's
	// auto.leader.rebalance.enable): every LeaderImbalanceCheckInterval
	// the active controller moves leadership back to each partition's
	// preferred replica (the first of its replicas) when that replica is
	// unfenced and in the ISR, for every broker whose share of preferred
	// partitions it does not lead is above
	// LeaderImbalancePerBrokerPercentage (see elections.go).
	AutoLeaderRebalance                bool
	LeaderImbalanceCheckInterval       time.Duration
	LeaderImbalancePerBrokerPercentage int

	// TopicConfigDefaults are cluster-wide defaults of topic configs, keyed
	// by topic config name (retention.ms, not log.retention.ms); they are
	// reported with source STATIC_BROKER_CONFIG.
	TopicConfigDefaults map[string]string

	Logger zerolog.Logger
}

// DefaultConfig returns a single-voter configuration on the default ports;
// DataDir must still be set.
func DefaultConfig() Config {
	return Config{
		NodeID:                             1,
		RaftBindAddr:                       "0.0.0.0:9094",
		ListenAddr:                         "0.0.0.0:9093",
		SnapshotThreshold:                  8192,
		SnapshotInterval:                   2 * time.Minute,
		TrailingLogs:                       10240,
		HeartbeatTimeout:                   time.Second,
		ElectionTimeout:                    time.Second,
		DefaultNumPartitions:               1,
		DefaultReplicationFactor:           1,
		LivenessGrace:                      5 * time.Second,
		AutoLeaderRebalance:                true,
		LeaderImbalanceCheckInterval:       300 * time.Second,
		LeaderImbalancePerBrokerPercentage: 10,
		Logger:                             zerolog.Nop(),
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.NodeID < 0 {
		add("node id %d is negative", c.NodeID)
	}
	if c.DataDir == "" {
		add("data dir is not set")
	}
	if _, _, err := net.SplitHostPort(c.RaftBindAddr); err != nil {
		add("raft bind address %q: %v", c.RaftBindAddr, err)
	}
	if c.RaftAdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.RaftAdvertiseAddr); err != nil {
			add("raft advertise address %q: %v", c.RaftAdvertiseAddr, err)
		}
	}
	if c.ListenAddr != "" {
		if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
			add("listen address %q: %v", c.ListenAddr, err)
		}
	}
	errs = append(errs, c.validateVoters()...)
	if c.Join && c.ClusterID == "" {
		add("joining an existing quorum needs the cluster id: set it to the quorum's")
	}
	if c.Observer {
		errs = append(errs, c.validateObserver()...)
	}
	if c.ClusterID != "" && !validClusterID(c.ClusterID) {
		add("cluster id %q: want 1 to 64 characters from [A-Za-z0-9_-]", c.ClusterID)
	}
	if c.SnapshotInterval < 5*time.Millisecond {
		add("snapshot interval %v is below 5ms", c.SnapshotInterval)
	}
	if c.HeartbeatTimeout < 10*time.Millisecond {
		add("heartbeat timeout %v is below 10ms", c.HeartbeatTimeout)
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		add("election timeout %v is below the heartbeat timeout %v", c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.LivenessGrace < 0 {
		add("liveness grace %v is negative", c.LivenessGrace)
	}
	if c.AutoLeaderRebalance && c.LeaderImbalanceCheckInterval < time.Millisecond {
		add("leader imbalance check interval %v is below 1ms", c.LeaderImbalanceCheckInterval)
	}
	if c.LeaderImbalancePerBrokerPercentage < 0 || c.LeaderImbalancePerBrokerPercentage > 100 {
		add("leader imbalance per broker percentage %d is not in [0, 100]", c.LeaderImbalancePerBrokerPercentage)
	}
	if c.DefaultNumPartitions < 1 {
		add("default number of partitions %d is below 1", c.DefaultNumPartitions)
	}
	if c.DefaultReplicationFactor < 1 {
		add("default replication factor %d is below 1", c.DefaultReplicationFactor)
	}
	if err := metadata.ValidateTopicConfigs(c.TopicConfigDefaults); err != nil {
		add("topic config defaults: %v", err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("controller config: %w", errors.Join(errs...))
	}
	return nil
}

func (c Config) validateVoters() []error {
	if len(c.Voters) == 0 {
		return nil
	}
	var errs []error
	seen := map[int32]bool{}
	self := false
	for _, v := range c.Voters {
		if seen[v.ID] {
			errs = append(errs, fmt.Errorf("voter %d listed twice", v.ID))
		}
		seen[v.ID] = true
		self = self || v.ID == c.NodeID
		if _, _, err := net.SplitHostPort(v.Addr); err != nil {
			errs = append(errs, fmt.Errorf("voter %d address %q: %v", v.ID, v.Addr, err))
		}
	}
	if !self && !c.Join && !c.Observer {
		errs = append(errs, fmt.Errorf("voters do not include this node (%d): a node added to a running quorum must join it (controller.quorum.join)", c.NodeID))
	}
	if len(c.Voters) > 1 && c.ClusterID == "" {
		errs = append(errs, errors.New("the cluster id must be configured when there are several voters"))
	}
	if err := c.checkSelfAddr(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// checkSelfAddr catches a node started with another voter's id: the voter
// list's address for this node must be the one it advertises, and must have
// the port it binds (the host may differ: binding all interfaces, or NAT).
func (c Config) checkSelfAddr() error {
	self, ok := c.selfVoter()
	if !ok || c.singleVoter() {
		return nil
	}
	if c.RaftAdvertiseAddr != "" && c.RaftAdvertiseAddr != self.Addr {
		return fmt.Errorf("the voter list names %s for this node (%d), but its raft advertise address is %s: check node.id and controller.quorum.voters",
			self.Addr, c.NodeID, c.RaftAdvertiseAddr)
	}
	_, bindPort, err1 := net.SplitHostPort(c.RaftBindAddr)
	_, selfPort, err2 := net.SplitHostPort(self.Addr)
	if err1 == nil && err2 == nil && c.RaftAdvertiseAddr == "" && bindPort != "0" && bindPort != selfPort {
		return fmt.Errorf("the voter list names %s for this node (%d), but its raft transport binds %s: check node.id, raft.listener and controller.quorum.voters",
			self.Addr, c.NodeID, c.RaftBindAddr)
	}
	return nil
}

// selfVoter returns this node's entry in the voter list.
func (c Config) selfVoter() (Voter, bool) {
	for _, v := range c.Voters {
		if v.ID == c.NodeID {
			return v, true
		}
	}
	return Voter{}, false
}

// singleVoter reports whether this node is the whole bootstrap quorum (and
// does not join another).
func (c Config) singleVoter() bool {
	return !c.Join && !c.Observer && (len(c.Voters) == 0 || (len(c.Voters) == 1 && c.Voters[0].ID == c.NodeID))
}

func validClusterID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
