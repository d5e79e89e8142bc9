package main

import (
	"os"
	"strings"
	"testing"
)

// TestNodeConfigBrokerOnly checks a broker-only node's settings (roles:
// broker): it needs cluster.id, the voters' controller listeners and
// gossip seeds, refuses controller.quorum.join, runs its controller as a
// Raft observer, and, binding Raft on all interfaces, registers the
// advertised host with the Raft port.
func TestNodeConfigBrokerOnly(t *testing.T) {
	args := []string{"--roles", "broker", "--listeners", "0.0.0.0:19092", "--advertised.listeners", "kafka-4.internal:19092",
		"--controller.quorum.bootstrap.servers", "127.0.0.1:19093", "--gossip.seeds", "127.0.0.1:27946"}
	s, err := settingsFrom(t, "", nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodeConfig(s, newLogger(s, os.Stderr)); err == nil || !strings.Contains(err.Error(), "cluster.id") {
		t.Errorf("broker-only node without cluster.id: %v", err)
	}
	s.ClusterID = "c1"
	cfg, err := nodeConfig(s, newLogger(s, os.Stderr))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("broker-only node config: %v", err)
	}
	if got := cfg.Controller.RaftAdvertiseAddr; got != "kafka-4.internal:19094" {
		t.Errorf("raft advertise address %q, want kafka-4.internal:19094", got)
	}
	s.JoinQuorum = true
	if _, err := nodeConfig(s, newLogger(s, os.Stderr)); err == nil || !strings.Contains(err.Error(), "controller.quorum.join") {
		t.Errorf("broker-only node with controller.quorum.join: %v", err)
	}
	s.JoinQuorum, s.ControllerBootstrap = false, nil
	if _, err := nodeConfig(s, newLogger(s, os.Stderr)); err == nil || !strings.Contains(err.Error(), "controller.quorum.bootstrap.servers") {
		t.Errorf("broker-only node without controller listeners: %v", err)
	}
}
