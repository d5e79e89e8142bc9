package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		{name: "bad topic default", yaml: "log.cleanup.policy: compact\n", want: "log.cleanup.policy"},
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

// TestNodeConfigDerivesPortsAndRefusesVoters checks the derived controller
// and Raft ports and that multi-voter quorums are refused for now.
func TestNodeConfigDerivesPortsAndRefusesVoters(t *testing.T) {
	s, err := settingsFrom(t, "", nil, "--listeners", "PLAINTEXT://127.0.0.1:19092")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := nodeConfig(s, newLogger(s, os.Stderr))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Controller.ListenAddr != "127.0.0.1:19093" || cfg.Controller.RaftBindAddr != "127.0.0.1:19094" {
		t.Errorf("derived ports: controller %s raft %s", cfg.Controller.ListenAddr, cfg.Controller.RaftBindAddr)
	}
	s.Voters = "1@127.0.0.1:1,2@127.0.0.1:2"
	if _, err := nodeConfig(s, newLogger(s, os.Stderr)); err == nil {
		t.Error("two voters accepted")
	}
}
