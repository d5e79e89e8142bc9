package broker

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rs/zerolog"

	"github.com/samsa-io/samsa/broker/group"
	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/replication"
	"github.com/samsa-io/samsa/storage"
)

// Config configures a broker.
type Config struct {
	NodeID int32
	// ListenAddr is the Kafka listener's bind address (host:port; port 0
	// picks a free one).
	ListenAddr string
	// AdvertisedHost/AdvertisedPort are what clients are told to connect
	// to; empty/0 take the bound listener's host and port.
	AdvertisedHost string
	AdvertisedPort int32
	Rack           string
	// LogDir holds the partition logs.
	LogDir     string
	Durability storage.Durability
	// ControllerAddrs are the controller listeners (controller.quorum.bootstrap.servers).
	ControllerAddrs []string
	// ClusterID, when set, is the cluster id the broker registers with
	// without waiting for its image to have one, and RaftObserverAddr the
	// node's Raft transport address, named in the registration as a
	// listener called RAFT: a broker-only node follows the metadata log
	// only once its registration has made it a Raft non-voter
	// (controller/observers.go). Both are empty on a combined node.
	ClusterID        string
	RaftObserverAddr string
	// Liveness, when set, is told the broker's registration, and Start
	// waits until the controller unfences the broker (see Liveness).
	Liveness Liveness
	// AutoCreateTopics is auto.create.topics.enable: Metadata and Produce
	// for an unknown topic create it with the controller's defaults.
	AutoCreateTopics bool
	// RetentionCheckInterval is log.retention.check.interval.ms.
	RetentionCheckInterval time.Duration
	// ReplicaLagTimeMax is replica.lag.time.max.ms.
	ReplicaLagTimeMax time.Duration
	// ReplicaFetch holds replica.fetch.wait.max.ms, replica.fetch.max.bytes,
	// replica.fetch.response.max.bytes and replica.fetch.backoff.ms; the
	// broker fills in the rest.
	ReplicaFetch replication.FetcherConfig
	// LeaderReplicationThrottledRate is leader.replication.throttled.rate:
	// bytes per second this broker sends, as leader, to followers that a
	// reassignment is adding and that are not in the ISR yet
	// (replica_throttle.go). 0 or math.MaxInt64 (the default): unlimited.
	LeaderReplicationThrottledRate int64
	// FollowerReplicationThrottledRate is
	// follower.replication.throttled.rate: bytes per second this broker
	// fetches for the partitions a reassignment is adding it to, until it
	// is in their ISR. 0 or math.MaxInt64 (the default): unlimited.
	FollowerReplicationThrottledRate int64
	// ControllerTimeout bounds one forwarded admin request.
	ControllerTimeout time.Duration
	// TopicDefaults are broker-level overrides of topic config defaults
	// (Kafka's log.* broker keys mapped to topic key names).
	TopicDefaults map[string]string
	// StaticConfigs are the node's settings shown by DescribeConfigs for
	// the broker resource.
	StaticConfigs map[string]string
	// Group configures the group coordinator (offsets.topic.*, group.*).
	Group  group.Config
	Server protocol.ServerConfig
	Logger zerolog.Logger
}

// DefaultConfig returns a broker config with Kafka's defaults.
func DefaultConfig() Config {
	srv := protocol.DefaultServerConfig()
	srv.Name = "PLAINTEXT"
	return Config{
		NodeID:                           1,
		ListenAddr:                       "127.0.0.1:9092",
		Durability:                       storage.DurabilityFsync,
		AutoCreateTopics:                 true,
		ControllerTimeout:                30 * time.Second,
		RetentionCheckInterval:           5 * time.Minute,
		ReplicaLagTimeMax:                replication.DefaultReplicaLagTimeMaxMs * time.Millisecond,
		ReplicaFetch:                     replication.DefaultFetcherConfig(),
		LeaderReplicationThrottledRate:   math.MaxInt64,
		FollowerReplicationThrottledRate: math.MaxInt64,
		Group:                            group.DefaultConfig(),
		Server:                           srv,
		Logger:                           zerolog.Nop(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.NodeID < 0:
		return fmt.Errorf("node.id must not be negative, got %d", c.NodeID)
	case c.ListenAddr == "":
		return errors.New("broker listener address is not set")
	case c.LogDir == "":
		return errors.New("broker log directory is not set")
	case c.ControllerTimeout <= 0:
		return fmt.Errorf("controller request timeout must be positive, got %v", c.ControllerTimeout)
	case c.ReplicaLagTimeMax <= 0:
		return fmt.Errorf("replica.lag.time.max.ms must be positive, got %v", c.ReplicaLagTimeMax)
	case c.ReplicaFetch.MaxWait <= 0 || c.ReplicaFetch.MaxWait >= c.ReplicaLagTimeMax:
		return fmt.Errorf("replica.fetch.wait.max.ms must be positive and below replica.lag.time.max.ms, got %v", c.ReplicaFetch.MaxWait)
	case c.ReplicaFetch.PartitionMaxBytes <= 0 || c.ReplicaFetch.MaxBytes <= 0:
		return errors.New("replica.fetch.max.bytes and replica.fetch.response.max.bytes must be positive")
	case c.LeaderReplicationThrottledRate < 0:
		return fmt.Errorf("leader.replication.throttled.rate must not be negative, got %d", c.LeaderReplicationThrottledRate)
	case c.FollowerReplicationThrottledRate < 0:
		return fmt.Errorf("follower.replication.throttled.rate must not be negative, got %d", c.FollowerReplicationThrottledRate)
	case c.ReplicaFetch.Backoff <= 0:
		return fmt.Errorf("replica.fetch.backoff.ms must be positive, got %v", c.ReplicaFetch.Backoff)
	}
	return c.Server.Validate()
}
