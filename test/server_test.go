package test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/test/harness"
)

// TestServerFromConfigFileServesClients checks `samsa server --config FILE`:
// the node is wired from a YAML file (free ports, a data directory, a topic
// default), logs JSON, serves a Kafka client, and exits 0 on SIGTERM.
func TestServerFromConfigFileServesClients(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "samsa.yaml")
	yaml := "node.id: 1\ndata.dir: " + filepath.Join(dir, "data") + "\nlisteners: 127.0.0.1:0\nnum.partitions: 2\nlog.retention.ms: 3600000\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(harness.Binary(t), "server", "--config", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	listener := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct {
				Message  string `json:"message"`
				Listener string `json:"listener"`
				Role     string `json:"role"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "broker serving" {
				listener <- line.Listener
			}
		}
	}()
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	var bootstrap string
	select {
	case bootstrap = <-listener:
	case err := <-exited:
		t.Fatalf("samsa server exited before serving: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("samsa server did not log \"broker serving\" within 60s")
	}

	cl := newKgo(t, bootstrap, kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("from-config"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	adm := newAdmin(t, bootstrap)
	td := waitTopicReady(t, adm, "from-config", 2)
	if len(td.Partitions) != 2 {
		t.Errorf("auto-created topic has %d partitions, want num.partitions=2", len(td.Partitions))
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "from-config")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range rc[0].Configs {
		if c.Key == "retention.ms" && c.MaybeValue() == "3600000" {
			found = true
		}
	}
	if !found {
		t.Errorf("retention.ms did not take the log.retention.ms default from the file: %+v", rc[0].Configs)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("samsa server did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("samsa server did not exit within 30s of SIGTERM")
	}
}
