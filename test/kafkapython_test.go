package test

// Compatibility with kafka-python (the pure-Python client, Debian's
// python3-kafka): a produce/consume round trip and consumer groups, driven
// by test/python/kafkapython_group.py against one node. The script does not
// pass api_version: kafka-python 2.0.2 probes with ApiVersions v0 and maps
// the ranges to a broker version with its own table, whose newest marker
// (DescribeAcls v2 for 2.5) Samsa lacks, so it settles on 2.4.0 (Produce v8
// is served). Every request version it then sends (Produce v7, Fetch v4,
// ListOffsets v1, Metadata v1, JoinGroup v2, OffsetCommit v2, OffsetFetch v1,
// ...) is the same it would send to a real 2.4+ broker and inside Samsa's
// ranges; a client pinned to api_version below 0.11 would send Produce v2 and
// Fetch v3, under the KIP-896 floors, as against Kafka 4.

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pythonWithKafkaPython returns a python3 that can import kafka
// (kafka-python), or skips the test.
func pythonWithKafkaPython(t *testing.T) string {
	t.Helper()
	return pythonWithModule(t, "kafka", "python3-kafka")
}

// kafkaPythonSummary is the JSON line kafkapython_group.py prints.
type kafkaPythonSummary struct {
	OK          bool               `json:"ok"`
	Library     string             `json:"library"`
	APIVersion  map[string]string  `json:"api_version"`
	Produced    int                `json:"produced"`
	Consumed    int                `json:"consumed"`
	Failures    []string           `json:"failures"`
	ClientLog   []string           `json:"client_log"`
	Split       map[string][]int32 `json:"split"`
	Assignments map[string][][]int `json:"assignments"`
	Timings     map[string]float64 `json:"timings"`
	ResumedFrom map[string]int64   `json:"resumed_from"`
	Committed   map[string]int64   `json:"committed"`
	EndOffsets  map[string]int64   `json:"end_offsets"`
	PartsUsed   []int32            `json:"partitions_used"`
	Duplicates  int                `json:"duplicates"`
}

// runKafkaPython runs kafkapython_group.py in mode and returns its summary,
// failing the test if it failed or printed none.
func runKafkaPython(t *testing.T, py string, args ...string) kafkaPythonSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join("python", "kafkapython_group.py")}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kafkapython_group.py %s still running after 90s\nstderr:\n%s", args[0], stderr.String())
	}
	var s kafkaPythonSummary
	if err := json.Unmarshal([]byte(lastLine(stdout.String())), &s); err != nil {
		t.Fatalf("kafkapython_group.py %s (%v) printed no JSON summary: %v\nstdout:\n%s\nstderr:\n%s",
			args[0], runErr, err, stdout.String(), stderr.String())
	}
	t.Logf("%s (api_version %v): produced %d, consumed %d", s.Library, s.APIVersion, s.Produced, s.Consumed)
	if len(s.ClientLog) > 0 {
		t.Logf("kafka-python logged:\n  %s", strings.Join(s.ClientLog, "\n  "))
	}
	if runErr != nil || !s.OK {
		t.Fatalf("kafkapython_group.py %s failed (%v): %s\nsummary: %s\nstderr:\n%s",
			args[0], runErr, strings.Join(s.Failures, "; "), lastLine(stdout.String()), stderr.String())
	}
	return s
}

// kafka-python's KafkaProducer (acks=all, gzip, keys, headers) and a
// group-less KafkaConsumer that assign()s every partition; then a consumer
// group of kafka-python members: two split a four-partition topic and read
// each record once, one closes and the other takes every partition within
// the session timeout, and a member started after the last commit resumes
// at the committed offsets without any committed record delivered again.
func TestKafkaPython(t *testing.T) {
	py := pythonWithKafkaPython(t)
	n := startGroupNode(t)
	adm := newAdmin(t, n.Bootstrap())

	t.Run("RoundTrip", func(t *testing.T) {
		const topic, partitions, count = "kafkapython-roundtrip", 3, 600
		createTopic(t, adm, topic, partitions, nil)
		s := runKafkaPython(t, py, "roundtrip", "--bootstrap", n.Bootstrap(), "--topic", topic,
			"--partitions", strconv.Itoa(partitions), "--count", strconv.Itoa(count), "--timeout", "30")
		if s.Produced != count || s.Consumed != count || s.Duplicates != 0 {
			t.Errorf("produced %d, consumed %d, duplicates %d; want %d, %d, 0", s.Produced, s.Consumed, s.Duplicates, count, count)
		}
		if len(s.PartsUsed) != partitions {
			t.Errorf("the keyed records went to partitions %v, want all %d", s.PartsUsed, partitions)
		}
		var total int64
		for _, e := range endOffsets(t, adm, topic) {
			total += e
		}
		if total != count {
			t.Errorf("the log holds %d records, want %d", total, count)
		}
	})

	t.Run("Group", func(t *testing.T) {
		const topic, partitions, group = "kafkapython-group", 4, "kafkapython-group"
		createTopic(t, adm, topic, partitions, nil)
		s := runKafkaPython(t, py, "group", "--bootstrap", n.Bootstrap(), "--topic", topic,
			"--partitions", strconv.Itoa(partitions), "--group", group, "--timeout", "45")
		t.Logf("split %v, handover %.2fs, resumed from %v, assignments %v",
			s.Split, s.Timings["handover_s"], s.ResumedFrom, s.Assignments)
		// What the script saw, checked against the broker: every record
		// committed, and the group left empty by the last member's close.
		ends := endOffsets(t, adm, topic)
		for p, end := range ends {
			if c := s.Committed[strconv.Itoa(int(p))]; c != end {
				t.Errorf("partition %d: the script committed %d, the log ends at %d", p, c, end)
			}
		}
		waitCommitted(t, adm, group, topic, ends)
		described, err := adm.DescribeGroups(testCtx(t), group)
		if err != nil {
			t.Fatalf("DescribeGroups %s: %v", group, err)
		}
		if d := described[group]; d.Err != nil || d.State != "Empty" || len(d.Members) != 0 {
			t.Errorf("group %s after every member closed: state %q, %d members, err %v; want Empty, 0", group, d.State, len(d.Members), d.Err)
		}
	})
}
