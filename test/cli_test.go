package test

// End-to-end tests of the samsa CLI's client commands (topic, produce,
// consume): the real binary (built once per test process by
// harness.Binary), run as a user would, against a real dev node.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-io/samsa/test/harness"
)

// cliTimeout bounds every CLI run, so a hang fails the test instead of the
// whole suite.
const cliTimeout = 60 * time.Second

type cliResult struct {
	stdout, stderr string
	err            error // non-nil when the command exited non-zero
}

// runCLI runs samsa with args against node, feeding stdin.
func runCLI(t *testing.T, node *harness.Node, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), append(args, "--bootstrap", node.Bootstrap())...)
	cmd.Env = append(os.Environ(), "SAMSA_BOOTSTRAP=")
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("samsa %s: still running after %s", strings.Join(args, " "), cliTimeout)
	}
	return cliResult{stdout.String(), stderr.String(), err}
}

// samsa runs the CLI and fails the test unless it exits zero.
func samsa(t *testing.T, node *harness.Node, stdin string, args ...string) cliResult {
	t.Helper()
	res := runCLI(t, node, stdin, args...)
	if res.err != nil {
		t.Fatalf("samsa %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.err, res.stdout, res.stderr)
	}
	return res
}

// samsaFails runs the CLI and fails the test unless it exits non-zero.
func samsaFails(t *testing.T, node *harness.Node, stdin string, args ...string) cliResult {
	t.Helper()
	res := runCLI(t, node, stdin, args...)
	var exitErr *exec.ExitError
	if !errors.As(res.err, &exitErr) {
		t.Fatalf("samsa %s: want a non-zero exit, got %v\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), res.err, res.stdout, res.stderr)
	}
	return res
}

// The JSON shapes the CLI prints, as much of them as the tests read.
type (
	topicListEntry struct {
		Name              string `json:"name"`
		Partitions        int    `json:"partitions"`
		ReplicationFactor int    `json:"replication_factor"`
	}
	topicDescription struct {
		Name       string `json:"name"`
		ID         string `json:"id"`
		Partitions []struct {
			Partition int32   `json:"partition"`
			Leader    int32   `json:"leader"`
			Replicas  []int32 `json:"replicas"`
			ISR       []int32 `json:"isr"`
		} `json:"partitions"`
		Configs []struct {
			Name   string `json:"name"`
			Value  string `json:"value"`
			Source string `json:"source"`
		} `json:"configs"`
	}
	consumedRecord struct {
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		Offset    int64   `json:"offset"`
		Timestamp int64   `json:"timestamp"`
		Key       *string `json:"key"`
		Value     *string `json:"value"`
		Headers   []struct {
			Key   string  `json:"key"`
			Value *string `json:"value"`
		} `json:"headers"`
	}
)

func describe(t *testing.T, node *harness.Node, topic string) (topicDescription, error) {
	t.Helper()
	res := runCLI(t, node, "", "topic", "describe", topic, "-o", "json")
	if res.err != nil {
		return topicDescription{}, fmt.Errorf("%v: %s", res.err, res.stderr)
	}
	var d topicDescription
	if err := json.Unmarshal([]byte(res.stdout), &d); err != nil {
		t.Fatalf("describe -o json printed something that is not JSON: %v\n%s", err, res.stdout)
	}
	return d, nil
}

func listTopics(t *testing.T, node *harness.Node) []topicListEntry {
	t.Helper()
	res := samsa(t, node, "", "topic", "list", "-o", "json")
	var topics []topicListEntry
	if err := json.Unmarshal([]byte(res.stdout), &topics); err != nil {
		t.Fatalf("list -o json printed something that is not a JSON array: %v\n%s", err, res.stdout)
	}
	return topics
}

func configValue(d topicDescription, name string) (string, bool) {
	for _, c := range d.Configs {
		if c.Name == name {
			return c.Value, true
		}
	}
	return "", false
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	slices.Sort(lines)
	return lines
}

// The whole life of a topic through the CLI: create, list, describe,
// produce with keys and headers, consume them back through a format
// template and as JSON, alter a config and see it, delete.
func TestCLITopicLifecycleRoundTripsRecords(t *testing.T) {
	node := harness.StartNode(t)
	const topic = "cli-orders"

	res := samsa(t, node, "", "topic", "create", topic,
		"--partitions", "3", "--replication-factor", "1", "--config", "retention.ms=3600000")
	if !strings.Contains(res.stdout, topic) {
		t.Errorf("create printed %q, want it to name the topic", res.stdout)
	}

	eventually(t, 10*time.Second, "the topic in the list", func() error {
		for _, e := range listTopics(t, node) {
			if e.Name == topic {
				if e.Partitions != 3 || e.ReplicationFactor != 1 {
					return fmt.Errorf("listed as %+v, want 3 partitions, replication factor 1", e)
				}
				return nil
			}
		}
		return fmt.Errorf("%s not listed", topic)
	})

	eventually(t, 10*time.Second, "every partition to have a leader", func() error {
		d, err := describe(t, node, topic)
		if err != nil {
			return err
		}
		if len(d.Partitions) != 3 {
			return fmt.Errorf("%d partitions, want 3", len(d.Partitions))
		}
		for _, p := range d.Partitions {
			if p.Leader < 0 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
				return fmt.Errorf("partition %d: leader %d replicas %v isr %v", p.Partition, p.Leader, p.Replicas, p.ISR)
			}
		}
		if v, ok := configValue(d, "retention.ms"); !ok || v != "3600000" {
			return fmt.Errorf("retention.ms = %q (set: %v), want the 3600000 given at create", v, ok)
		}
		return nil
	})
	table := samsa(t, node, "", "topic", "describe", topic).stdout
	for _, want := range []string{"PARTITION", "LEADER", "REPLICAS", "ISR", "retention.ms", "3600000"} {
		if !strings.Contains(table, want) {
			t.Errorf("describe table lacks %q:\n%s", want, table)
		}
	}

	res = samsa(t, node, "k1:v1\nk2:v2\nno key here\n:empty key\n", "produce", topic,
		"--key-separator", ":", "--header", "trace=abc", "--header", "n=1")
	if !strings.Contains(res.stderr, "produced 4 records") {
		t.Errorf("produce summary %q, want it to count 4 records", res.stderr)
	}

	res = samsa(t, node, "", "consume", topic, "--from", "beginning", "--format", `%k|%v|%h|%T`)
	want := []string{
		"k1|v1|trace=abc,n=1|" + topic,
		"k2|v2|trace=abc,n=1|" + topic,
		"|no key here|trace=abc,n=1|" + topic,
		"|empty key|trace=abc,n=1|" + topic,
	}
	slices.Sort(want)
	if got := sortedLines(res.stdout); !slices.Equal(got, want) {
		t.Errorf("consume printed\n%q\nwant (in any order)\n%q", got, want)
	}

	res = samsa(t, node, "", "consume", topic, "-o", "json")
	var nullKeys, emptyKeys int
	seen := map[string]bool{}
	for _, line := range sortedLines(res.stdout) {
		var r consumedRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("consume -o json line %q: %v", line, err)
		}
		if r.Topic != topic || r.Partition < 0 || r.Partition > 2 || r.Offset < 0 || r.Timestamp <= 0 || r.Value == nil {
			t.Errorf("record %+v", r)
			continue
		}
		seen[*r.Value] = true
		switch {
		case r.Key == nil:
			nullKeys++
		case *r.Key == "":
			emptyKeys++
		}
		if len(r.Headers) != 2 || r.Headers[0].Key != "trace" || r.Headers[1].Key != "n" {
			t.Errorf("headers %+v, want trace then n", r.Headers)
		}
	}
	if len(seen) != 4 || nullKeys != 1 || emptyKeys != 1 {
		t.Errorf("json: values %v, %d null keys, %d empty keys; want 4 values, 1 null key (no separator), 1 empty key", seen, nullKeys, emptyKeys)
	}

	samsa(t, node, "", "topic", "alter-config", topic, "--set", "retention.ms=60000", "--set", "message.timestamp.type=LogAppendTime")
	eventually(t, 10*time.Second, "the altered configs in describe", func() error {
		d, err := describe(t, node, topic)
		if err != nil {
			return err
		}
		if v, _ := configValue(d, "retention.ms"); v != "60000" {
			return fmt.Errorf("retention.ms = %q, want 60000", v)
		}
		if v, _ := configValue(d, "message.timestamp.type"); v != "LogAppendTime" {
			return fmt.Errorf("message.timestamp.type = %q, want LogAppendTime", v)
		}
		return nil
	})

	samsa(t, node, "", "topic", "alter-config", topic, "--delete", "message.timestamp.type")
	eventually(t, 10*time.Second, "message.timestamp.type to fall back to inherited", func() error {
		d, err := describe(t, node, topic)
		if err != nil {
			return err
		}
		if v, set := configValue(d, "message.timestamp.type"); set {
			return fmt.Errorf("message.timestamp.type still set on the topic: %q", v)
		}
		if v, _ := configValue(d, "retention.ms"); v != "60000" {
			return fmt.Errorf("deleting one config changed another: retention.ms = %q", v)
		}
		return nil
	})

	samsa(t, node, "", "topic", "delete", topic)
	eventually(t, 10*time.Second, "the topic to be gone", func() error {
		for _, e := range listTopics(t, node) {
			if e.Name == topic {
				return fmt.Errorf("%s still listed", topic)
			}
		}
		return nil
	})
	res = samsaFails(t, node, "", "topic", "describe", topic)
	if !strings.Contains(res.stderr, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("describe of a deleted topic said %q, want UNKNOWN_TOPIC_OR_PARTITION", res.stderr)
	}
}

func TestCLIRefusesBadTopicRequests(t *testing.T) {
	node := harness.StartNode(t)
	samsa(t, node, "", "topic", "create", "dup", "--partitions", "1", "--replication-factor", "1")

	res := samsaFails(t, node, "", "topic", "create", "dup", "--partitions", "1", "--replication-factor", "1")
	if !strings.Contains(res.stderr, "TOPIC_ALREADY_EXISTS") {
		t.Errorf("second create said %q, want TOPIC_ALREADY_EXISTS", res.stderr)
	}
	res = samsaFails(t, node, "", "topic", "delete", "never-created")
	if !strings.Contains(res.stderr, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("delete of a missing topic said %q", res.stderr)
	}
	samsaFails(t, node, "", "topic", "create", "bad", "--config", "retention.ms")
	samsaFails(t, node, "", "topic", "alter-config", "dup")
	samsaFails(t, node, "", "topic", "list", "-o", "yaml")
}

// Without --follow, consume stops at the end offsets it saw at start: an
// empty topic prints nothing and exits at once.
func TestCLIConsumeOfEmptyTopicExitsAtOnce(t *testing.T) {
	node := harness.StartNode(t)
	samsa(t, node, "", "topic", "create", "empty", "--partitions", "2", "--replication-factor", "1")
	eventually(t, 10*time.Second, "the topic to be readable", func() error {
		res := runCLI(t, node, "", "consume", "empty")
		if res.err != nil {
			return fmt.Errorf("%v: %s", res.err, res.stderr)
		}
		if res.stdout != "" {
			t.Fatalf("empty topic printed %q", res.stdout)
		}
		return nil
	})
	samsaFails(t, node, "", "consume", "missing-topic")
	samsaFails(t, node, "", "consume", "empty", "--partition", "5")
}

func TestCLIProduceAndConsumeOnePartitionFromAnOffset(t *testing.T) {
	node := harness.StartNode(t)
	samsa(t, node, "", "topic", "create", "p", "--partitions", "2", "--replication-factor", "1")
	eventually(t, 10*time.Second, "the topic to take records", func() error {
		if res := runCLI(t, node, "r0\nr1\nr2\nr3\n", "produce", "p", "--partition", "1"); res.err != nil {
			return fmt.Errorf("%v: %s", res.err, res.stderr)
		}
		return nil
	})

	res := samsa(t, node, "", "consume", "p", "--partition", "1", "--from", "2", "--format", "%p/%o=%v")
	if got, want := res.stdout, "1/2=r2\n1/3=r3\n"; got != want {
		t.Errorf("consume --partition 1 --from 2 printed %q, want %q", got, want)
	}
	res = samsa(t, node, "", "consume", "p", "--partition", "0")
	if res.stdout != "" {
		t.Errorf("partition 0 should be empty, printed %q", res.stdout)
	}
	res = samsa(t, node, "", "consume", "p", "--count", "1", "--format", "%o")
	if res.stdout != "0\n" {
		t.Errorf("--count 1 printed %q, want one record", res.stdout)
	}
	res = samsa(t, node, "", "consume", "p", "--from", "end")
	if res.stdout != "" {
		t.Errorf("--from end without --follow printed %q", res.stdout)
	}

	// A failed produce shows in the exit status and the summary.
	res = samsaFails(t, node, "x\n", "produce", "p", "--partition", "7")
	if !strings.Contains(res.stderr, "no partition 7") {
		t.Errorf("produce to a missing partition said %q", res.stderr)
	}
	samsaFails(t, node, "x\n", "produce", "p", "--acks", "2")
	samsaFails(t, node, "x\n", "produce", "p", "--compression", "brotli")

	for _, comp := range []string{"gzip", "snappy", "lz4", "zstd"} {
		samsa(t, node, comp+"\n", "produce", "p", "--partition", "0", "--compression", comp, "--acks", "1")
	}
	res = samsa(t, node, "", "consume", "p", "--partition", "0")
	if got, want := res.stdout, "gzip\nsnappy\nlz4\nzstd\n"; got != want {
		t.Errorf("compressed records read back as %q, want %q", got, want)
	}
}

// --follow keeps printing new records until SIGINT, which ends it cleanly
// (exit status 0).
func TestCLIConsumeFollowEndsCleanlyOnSIGINT(t *testing.T) {
	node := harness.StartNode(t)
	samsa(t, node, "", "topic", "create", "live", "--partitions", "1", "--replication-factor", "1")
	eventually(t, 10*time.Second, "the topic to take records", func() error {
		if res := runCLI(t, node, "first\n", "produce", "live"); res.err != nil {
			return fmt.Errorf("%v: %s", res.err, res.stderr)
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), "consume", "live", "--follow", "--bootstrap", node.Bootstrap())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got, ok := <-lines:
			if !ok || got != want {
				t.Fatalf("follow printed %q (open %v), want %q; stderr: %s", got, ok, want, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("follow did not print %q; stderr: %s", want, stderr.String())
		}
	}

	expect("first")
	samsa(t, node, "second\n", "produce", "live")
	expect("second")

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("consume --follow after SIGINT: %v (want exit 0); stderr: %s", err, stderr.String())
	}
}
