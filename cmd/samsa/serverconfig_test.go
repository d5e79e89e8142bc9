package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func settingsFrom(t *testing.T, yaml string, env map[string]string, args ...string) (nodeSettings, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	registerServerFlags(fs)
	if yaml != "" {
		path := filepath.Join(t.TempDir(), "samsa.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return loadSettings(fs, nil, nil)
}

// TestSettingsPrecedence checks the documented order: defaults < file <
// SAMSA_ environment < flags.
func TestSettingsPrecedence(t *testing.T) {
	yaml := "num.partitions: 3\nnode.id: 7\ndata.dir: /from/file\nlog.retention.ms: 1000\nroles: [controller, broker]\n"
	s, err := settingsFrom(t, yaml, map[string]string{"SAMSA_NUM_PARTITIONS": "4", "SAMSA_DATA_DIR": "/from/env"}, "--num.partitions", "5")
	if err != nil {
		t.Fatal(err)
	}
	if s.NumPartitions != 5 {
		t.Errorf("num.partitions = %d, want the flag's 5", s.NumPartitions)
	}
	if s.DataDir != "/from/env" {
		t.Errorf("data.dir = %q, want the environment's", s.DataDir)
	}
	if s.NodeID != 7 {
		t.Errorf("node.id = %d, want the file's 7", s.NodeID)
	}
	if s.TopicDefaults["retention.ms"] != "1000" {
		t.Errorf("log.retention.ms did not become the retention.ms default: %v", s.TopicDefaults)
	}
	if strings.Join(s.Roles, ",") != "controller,broker" {
		t.Errorf("roles = %v", s.Roles)
	}
	if s.Listener != "127.0.0.1:9092" || s.Durability != "fsync" {
		t.Errorf("defaults not applied: listener %q durability %q", s.Listener, s.Durability)
	}
}

// TestSettingsRejectUnknownAndInvalid checks config honesty: unknown keys,
// unknown SAMSA_ variables and bad values stop the node with the key named.
func TestSettingsRejectUnknownAndInvalid(t *testing.T) {
	cases := []struct {
		name, yaml string
		env        map[string]string
		args       []string
		want       string
	}{
		{name: "unknown file key", yaml: "num.partition: 3\n", want: `unknown configuration key "num.partition"`},
		{name: "nested file key", yaml: "log:\n  retention: 1\n", want: "unknown configuration key"},
		{name: "unknown env", env: map[string]string{"SAMSA_NUM_PARTITON": "3"}, want: "SAMSA_NUM_PARTITON"},
		{name: "bad int", args: []string{"--socket.request.max.bytes", "12"}, want: "socket.request.max.bytes"},
		{name: "bad durability", yaml: "durability: sometimes\n", want: "durability"},
		{name: "bad topic default", yaml: "log.cleanup.policy: archive\n", want: "log.cleanup.policy"},
		{name: "bad bool", env: map[string]string{"SAMSA_AUTO_CREATE_TOPICS_ENABLE": "maybe"}, want: "auto.create.topics.enable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := settingsFrom(t, c.yaml, c.env, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// TestNodeConfigDerivesPortsAndQuorum checks the derived controller and
// Raft ports, and that several voters need every voter's controller
// listener (controller.quorum.bootstrap.servers), which the broker then
// uses.
func TestNodeConfigDerivesPortsAndQuorum(t *testing.T) {
	s, err := settingsFrom(t, "", nil, "--listeners", "PLAINTEXT://127.0.0.1:19092")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := nodeConfig(s, newLogger(s, os.Stderr))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Controller.ListenAddr != "127.0.0.1:19093" || cfg.Controller.RaftBindAddr != "127.0.0.1:19094" ||
		cfg.Gossip.BindAddr != "127.0.0.1:7946" {
		t.Errorf("derived ports: controller %s raft %s gossip %s", cfg.Controller.ListenAddr, cfg.Controller.RaftBindAddr, cfg.Gossip.BindAddr)
	}
	s.Voters = "1@127.0.0.1:19094,2@127.0.0.1:29094,3@127.0.0.1:39094"
	if _, err := nodeConfig(s, newLogger(s, os.Stderr)); err == nil || !strings.Contains(err.Error(), "controller.quorum.bootstrap.servers") {
		t.Errorf("three voters without controller listeners: %v", err)
	}
	s, err = settingsFrom(t, "", nil, "--listeners", "127.0.0.1:19092", "--cluster.id", "c1",
		"--controller.quorum.voters", "1@127.0.0.1:19094,2@127.0.0.1:29094,3@127.0.0.1:39094",
		"--controller.quorum.bootstrap.servers", "127.0.0.1:19093, 127.0.0.1:29093,127.0.0.1:39093",
		"--controller.quorum.fetch.timeout.ms", "500")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodeConfig(s, newLogger(s, os.Stderr)); err == nil || !strings.Contains(err.Error(), "gossip.seeds") {
		t.Errorf("three voters without gossip seeds: %v", err)
	}
	s.GossipSeeds = []string{"127.0.0.1:27946", "127.0.0.1:37946"}
	cfg, err = nodeConfig(s, newLogger(s, os.Stderr))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gossip.BindAddr != "127.0.0.1:7946" || len(cfg.Gossip.Seeds) != 2 {
		t.Errorf("gossip config %+v, want 127.0.0.1:7946 and the two seeds", cfg.Gossip)
	}
	if got := strings.Join(cfg.Broker.ControllerAddrs, ","); got != "127.0.0.1:19093,127.0.0.1:29093,127.0.0.1:39093" {
		t.Errorf("broker controller addresses %q", got)
	}
	if len(cfg.Controller.Voters) != 3 || cfg.Controller.HeartbeatTimeout != 500*time.Millisecond {
		t.Errorf("controller config: voters %v, heartbeat timeout %v", cfg.Controller.Voters, cfg.Controller.HeartbeatTimeout)
	}
	if err := cfg.Controller.Validate(); err == nil {
		t.Error("controller config without a data dir validated") // DataDir is filled in by node.Start
	}
	cfg.Controller.DataDir = t.TempDir()
	if err := cfg.Controller.Validate(); err != nil {
		t.Errorf("three-voter controller config: %v", err)
	}
	s.Listener, s.Advertised = "0.0.0.0:19092", "kafka-1.internal:19092"
	if cfg, err = nodeConfig(s, newLogger(s, os.Stderr)); err != nil || cfg.Gossip.AdvertiseAddr != "kafka-1.internal:7946" {
		t.Errorf("gossip on all interfaces advertises %q (%v), want the advertised host with port 7946", cfg.Gossip.AdvertiseAddr, err)
	}
	s.ControllerBootstrap = []string{"nohost"}
	if _, err := nodeConfig(s, newLogger(s, os.Stderr)); err == nil {
		t.Error("a controller listener without a port was accepted")
	}
}

// TestLeaderRebalanceSettings checks Kafka's preferred-leader keys: their
// defaults (auto.leader.rebalance.enable true, every 300 s, above 10%),
// that they reach the controller's config, and their bounds.
func TestLeaderRebalanceSettings(t *testing.T) {
	s, err := settingsFrom(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := nodeConfig(s, newLogger(s, os.Stderr))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Controller; !c.AutoLeaderRebalance || c.LeaderImbalanceCheckInterval != 300*time.Second || c.LeaderImbalancePerBrokerPercentage != 10 {
		t.Errorf("defaults: %v %v %d", c.AutoLeaderRebalance, c.LeaderImbalanceCheckInterval, c.LeaderImbalancePerBrokerPercentage)
	}
	s, err = settingsFrom(t, "auto.leader.rebalance.enable: false\nleader.imbalance.check.interval.seconds: 2\nleader.imbalance.per.broker.percentage: 0\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = nodeConfig(s, newLogger(s, os.Stderr)); err != nil {
		t.Fatal(err)
	}
	if c := cfg.Controller; c.AutoLeaderRebalance || c.LeaderImbalanceCheckInterval != 2*time.Second || c.LeaderImbalancePerBrokerPercentage != 0 {
		t.Errorf("from the file: %v %v %d", c.AutoLeaderRebalance, c.LeaderImbalanceCheckInterval, c.LeaderImbalancePerBrokerPercentage)
	}
	for _, bad := range []string{"leader.imbalance.check.interval.seconds: 0\n", "leader.imbalance.per.broker.percentage: 101\n"} {
		if _, err := settingsFrom(t, bad, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
