package main

// samsa server and samsa dev: start a node from settings and run it until a
// signal. The first SIGINT/SIGTERM shuts down gracefully; a second exits at
// once.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/broker"
	"github.com/samsa-io/samsa/controller"
	"github.com/samsa-io/samsa/gossip"
	"github.com/samsa-io/samsa/node"
	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/storage"
)

func newServerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Samsa node (controller, broker or both) from a config file, SAMSA_ variables and flags",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSettings(cmd.Flags(), nil, nil)
			if err != nil {
				return err
			}
			return runNode(cmd.Context(), s, cmd.ErrOrStderr(), nil)
		},
	}
	registerServerFlags(cmd.Flags())
	return cmd
}

// newLogger builds the node's logger: JSON, or human-readable console output.
func newLogger(s nodeSettings, w io.Writer) zerolog.Logger {
	// Millisecond timestamps: the default format drops them.
	zerolog.TimeFieldFormat = time.RFC3339Nano
	level, _ := zerolog.ParseLevel(s.LogLevel)
	if s.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// nodeConfig turns settings into the node's typed config.
func nodeConfig(s nodeSettings, log zerolog.Logger) (node.Config, error) {
	ctrlAddr, raftAddr := s.ControllerListener, s.RaftListener
	var err error
	if ctrlAddr == "" {
		if ctrlAddr, err = node.DerivePort(s.Listener, 1); err != nil {
			return node.Config{}, fmt.Errorf("listeners: %w", err)
		}
	}
	if raftAddr == "" {
		if raftAddr, err = node.DerivePort(s.Listener, 2); err != nil {
			return node.Config{}, fmt.Errorf("listeners: %w", err)
		}
	}
	voters, err := parseVoters(s.Voters)
	if err != nil {
		return node.Config{}, err
	}
	brokerOnly := !slices.Contains(s.Roles, node.RoleController)
	if err := checkBrokerOnly(s, brokerOnly); err != nil {
		return node.Config{}, err
	}
	severalVoters := len(voters) > 1 || s.JoinQuorum || brokerOnly
	if severalVoters && len(s.ControllerBootstrap) == 0 {
		return node.Config{}, errors.New("controller.quorum.bootstrap.servers must list the controller listener (host:port) of every voter when controller.quorum.voters names several, controller.quorum.join is set, or the node is broker-only")
	}
	for _, a := range s.ControllerBootstrap {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return node.Config{}, fmt.Errorf("controller.quorum.bootstrap.servers: %q is not host:port", a)
		}
	}
	ccfg := controller.DefaultConfig()
	ccfg.RaftBindAddr = raftAddr
	ccfg.ListenAddr = ctrlAddr
	ccfg.Voters = voters
	ccfg.Join = s.JoinQuorum
	ccfg.ClusterID = s.ClusterID
	ccfg.HeartbeatTimeout = s.QuorumFetchTimeout
	ccfg.ElectionTimeout = s.QuorumElectionTimeout
	ccfg.DefaultNumPartitions = s.NumPartitions
	ccfg.DefaultReplicationFactor = s.DefaultReplicationFactor
	ccfg.TopicConfigDefaults = s.TopicDefaults
	ccfg.AutoLeaderRebalance = s.AutoLeaderRebalance
	ccfg.LeaderImbalanceCheckInterval = s.LeaderImbalanceInterval
	ccfg.LeaderImbalancePerBrokerPercentage = s.LeaderImbalancePercent
	if brokerOnly {
		ccfg.RaftAdvertiseAddr = observerRaftAdvertise(s, raftAddr)
	}

	gcfg, err := gossipConfig(s, severalVoters)
	if err != nil {
		return node.Config{}, err
	}

	bcfg := broker.DefaultConfig()
	bcfg.ListenAddr = s.Listener
	if s.Advertised != "" {
		host, port, err := splitHostPort(s.Advertised)
		if err != nil {
			return node.Config{}, fmt.Errorf("advertised.listeners: %w", err)
		}
		bcfg.AdvertisedHost, bcfg.AdvertisedPort = host, port
	}
	bcfg.ControllerAddrs = s.ControllerBootstrap
	bcfg.Rack = s.Rack
	bcfg.AutoCreateTopics = s.AutoCreateTopics
	bcfg.Durability = storage.DurabilityFsync
	if s.Durability == "page-cache" {
		bcfg.Durability = storage.DurabilityPageCache
	}
	bcfg.TopicDefaults = s.TopicDefaults
	bcfg.RetentionCheckInterval = s.RetentionCheckInterval
	bcfg.ReplicaLagTimeMax = s.ReplicaLagTimeMax
	bcfg.ReplicaFetch.MaxWait, bcfg.ReplicaFetch.Backoff = s.ReplicaFetchWait, s.ReplicaFetchBackoff
	bcfg.ReplicaFetch.PartitionMaxBytes, bcfg.ReplicaFetch.MaxBytes = s.ReplicaFetchMaxBytes, s.ReplicaFetchRespMaxBytes
	bcfg.LeaderReplicationThrottledRate = s.LeaderThrottledRate
	bcfg.FollowerReplicationThrottledRate = s.FollowerThrottledRate
	g := s.Group
	bcfg.Group.NumPartitions, bcfg.Group.ReplicationFactor, bcfg.Group.SegmentBytes = g.NumPartitions, g.ReplicationFactor, g.SegmentBytes
	bcfg.Group.InitialRebalanceDelay = g.InitialRebalanceDelay
	bcfg.Group.MinSessionTimeout, bcfg.Group.MaxSessionTimeout = g.MinSessionTimeout, g.MaxSessionTimeout
	bcfg.Group.MaxSize, bcfg.Group.OffsetMetadataMaxBytes = g.MaxSize, g.OffsetMetadataMaxBytes
	bcfg.Group.OffsetsRetention, bcfg.Group.OffsetsRetentionCheckInterval = g.OffsetsRetention, g.OffsetsRetentionCheckInterval
	bcfg.Group.ConsumerHeartbeatInterval, bcfg.Group.ConsumerSessionTimeout = g.ConsumerHeartbeatInterval, g.ConsumerSessionTimeout
	bcfg.Group.ConsumerMaxSize = g.ConsumerMaxSize
	bcfg.StaticConfigs = s.Static
	bcfg.Server = protocol.DefaultServerConfig()
	bcfg.Server.Name = "PLAINTEXT"
	bcfg.Server.MaxRequestBytes = s.MaxRequestBytes
	bcfg.Server.IdleTimeout = s.IdleTimeout
	return node.Config{
		NodeID: s.NodeID, Roles: s.Roles, DataDir: s.DataDir,
		Controller: ccfg, Broker: bcfg, Gossip: gcfg, Logger: log,
		MaxOpenSegments: s.MaxOpenSegments,
	}, nil
}

// checkBrokerOnly refuses settings a broker-only node (roles: broker)
// cannot use: it follows the metadata log as a Raft non-voter, added by
// the active controller when it registers, so it must name the quorum's
// cluster id and never joins as a voter.
func checkBrokerOnly(s nodeSettings, brokerOnly bool) error {
	switch {
	case !brokerOnly:
		return nil
	case s.JoinQuorum:
		return errors.New("controller.quorum.join is for controllers: a broker-only node (roles: broker) follows the metadata log as a non-voter without it")
	case s.ClusterID == "":
		return errors.New("cluster.id must be set on a broker-only node (roles: broker): it registers with the quorum's cluster id before it has any metadata")
	}
	return nil
}

// observerRaftAdvertise is the Raft address a broker-only node registers:
// its raft.listener, or, when that binds all interfaces, the host clients
// are told (advertised.listeners) with the Raft port ("" otherwise: the
// controller then refuses to advertise an unspecified address).
func observerRaftAdvertise(s nodeSettings, raftAddr string) string {
	if !bindsAllInterfaces(raftAddr) || s.Advertised == "" {
		return ""
	}
	ahost, _, err1 := net.SplitHostPort(s.Advertised)
	_, rport, err2 := net.SplitHostPort(raftAddr)
	if err1 != nil || err2 != nil {
		return ""
	}
	return net.JoinHostPort(ahost, rport)
}

func bindsAllInterfaces(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "" || (ip != nil && ip.IsUnspecified())
}

// defaultGossipPort is memberlist's customary port.
const defaultGossipPort = "7946"

// gossipConfig builds the gossip settings: the listener defaults to the
// Kafka listener's host with port 7946 (port 0 when the Kafka port is 0, as
// in tests), and a node of a multi-voter cluster must have seeds.
func gossipConfig(s nodeSettings, severalVoters bool) (gossip.Config, error) {
	gcfg := gossip.DefaultConfig()
	gcfg.BindAddr = s.GossipListener
	if gcfg.BindAddr == "" {
		host, port, err := net.SplitHostPort(s.Listener)
		if err != nil {
			return gossip.Config{}, fmt.Errorf("listeners: %w", err)
		}
		if port != "0" {
			port = defaultGossipPort
		}
		gcfg.BindAddr = net.JoinHostPort(host, port)
	}
	gcfg.AdvertiseAddr = s.GossipAdvertised
	if gcfg.AdvertiseAddr == "" && s.Advertised != "" && bindsAllInterfaces(gcfg.BindAddr) {
		// Binding all interfaces, gossip must tell the others one address:
		// the host clients are told (advertised.listeners) is the natural
		// one; memberlist would otherwise guess a private IP.
		ahost, _, err := net.SplitHostPort(s.Advertised)
		_, gport, _ := net.SplitHostPort(gcfg.BindAddr)
		if err == nil {
			gcfg.AdvertiseAddr = net.JoinHostPort(ahost, gport)
		}
	}
	gcfg.Seeds = s.GossipSeeds
	gcfg.ProbeInterval = s.GossipProbeInterval
	gcfg.SuspicionMult = s.GossipSuspicionMult
	if severalVoters && len(gcfg.Seeds) == 0 {
		return gossip.Config{}, errors.New("gossip.seeds must list other nodes' gossip addresses (host:port) when controller.quorum.voters names several: without gossip the controller would fence every other broker")
	}
	gcfg.NodeID = s.NodeID
	if err := gcfg.Validate(); err != nil {
		return gossip.Config{}, err
	}
	return gcfg, nil
}

func splitHostPort(addr string) (string, int32, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%q has no valid port", addr)
	}
	return host, int32(port), nil
}

// parseVoters parses "1@host:port,2@host:port".
func parseVoters(s string) ([]controller.Voter, error) {
	var out []controller.Voter
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		idStr, addr, ok := strings.Cut(part, "@")
		id, err := strconv.ParseInt(idStr, 10, 32)
		if !ok || err != nil || addr == "" {
			return nil, fmt.Errorf("controller.quorum.voters: %q is not id@host:port", part)
		}
		out = append(out, controller.Voter{ID: int32(id), Addr: addr})
	}
	return out, nil
}

// runNode starts the node, calls started (if set) once it serves, and runs
// until ctx ends or a signal arrives.
func runNode(ctx context.Context, s nodeSettings, logOut io.Writer, started func(*node.Node)) error {
	log := newLogger(s, logOut)
	cfg, err := nodeConfig(s, log)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	// A signal during startup cancels it; the watcher stops as soon as
	// the node is up so that the next signal reaches the loop below.
	startCtx, cancelStart := context.WithCancel(ctx)
	defer cancelStart()
	startDone := make(chan struct{})
	watcherDone := make(chan struct{})
	var signalledDuringStart os.Signal
	go func() {
		defer close(watcherDone)
		select {
		case sig := <-sigs:
			signalledDuringStart = sig
			cancelStart()
		case <-startDone:
		}
	}()
	n, err := node.Start(startCtx, cfg)
	close(startDone)
	<-watcherDone
	if err != nil {
		return err
	}
	if signalledDuringStart != nil {
		// The start finished before it noticed the cancellation: the
		// signal still asks for a shutdown.
		log.Info().Str("signal", signalledDuringStart.String()).Msg("signal during startup; shutting down")
		return shutdownNode(n, log, sigs)
	}
	if started != nil {
		started(n)
	}
	select {
	case sig := <-sigs:
		log.Info().Str("signal", sig.String()).Msg("shutting down; send the signal again to exit at once")
	case <-ctx.Done():
	}
	return shutdownNode(n, log, sigs)
}

// shutdownNode stops the node gracefully within 30 s; another signal on
// sigs meanwhile exits at once.
func shutdownNode(n *node.Node, log zerolog.Logger, sigs <-chan os.Signal) error {
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "samsa: second signal, exiting now")
		os.Exit(1)
	}()
	grace, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Shutdown(grace); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info().Msg("stopped")
	return nil
}
