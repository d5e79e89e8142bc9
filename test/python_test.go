package test

// Compatibility with confluent-kafka-python (librdkafka): an idempotent,
// lz4-compressed, acks=all producer and an assign()-based consumer, driven
// by test/python/roundtrip.py.

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

	"github.com/samsa-io/samsa/test/harness"
)

// pythonWithConfluentKafka returns a python3 that can import
// confluent_kafka, or skips the test.
func pythonWithConfluentKafka(t *testing.T) string {
	t.Helper()
	return pythonWithModule(t, "confluent_kafka", "python3-confluent-kafka")
}

// pythonWithModule returns the first of python3 (PATH) and /usr/bin/python3
// that can import module, or skips the test naming the Debian package that
// provides it.
func pythonWithModule(t *testing.T, module, debianPackage string) string {
	t.Helper()
	var tried []string
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			tried = append(tried, py+": not found")
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, path, "-c", "import "+module).CombinedOutput()
		cancel()
		if err == nil {
			return path
		}
		tried = append(tried, path+": "+strings.TrimSpace(lastLine(string(out))))
	}
	t.Skipf("no python3 can import %s (apt-get install %s): %s", module, debianPackage, strings.Join(tried, "; "))
	return ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// pythonSummary is the JSON line roundtrip.py prints.
type pythonSummary struct {
	OK             bool     `json:"ok"`
	Library        string   `json:"library"`
	Produced       int      `json:"produced"`
	Delivered      int      `json:"delivered"`
	Consumed       int      `json:"consumed"`
	Duplicates     int      `json:"duplicates"`
	Mismatches     []string `json:"mismatches"`
	DeliveryErrors []string `json:"delivery_errors"`
	ConsumeErrors  []string `json:"consume_errors"`
	ClientErrors   []string `json:"client_errors"`
}

// librdkafka's idempotent producer (KIP-98: InitProducerId, sequences) with
// lz4 and acks=all delivers every keyed record with its headers, and a
// Consumer that assign()s every partition at OFFSET_BEGINNING reads each
// back exactly once at its delivered offset, without a group coordinator.
func TestPythonConfluentKafkaRoundTrip(t *testing.T) {
	py := pythonWithConfluentKafka(t)
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic, partitions, count = "python-roundtrip", 3, 2000
	createTopic(t, adm, topic, partitions, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := filepath.Join("python", "roundtrip.py")
	cmd := exec.CommandContext(ctx, py, script, "--bootstrap", n.Bootstrap(), "--topic", topic,
		"--partitions", strconv.Itoa(partitions), "--count", strconv.Itoa(count), "--timeout", "60")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("roundtrip.py still running after 2 minutes\nstderr:\n%s", stderr.String())
	}
	var s pythonSummary
	if err := json.Unmarshal([]byte(lastLine(stdout.String())), &s); err != nil {
		t.Fatalf("roundtrip.py (%v) printed no JSON summary: %v\nstdout:\n%s\nstderr:\n%s", runErr, err, stdout.String(), stderr.String())
	}
	t.Logf("%s: produced %d, delivered %d, consumed %d", s.Library, s.Produced, s.Delivered, s.Consumed)
	if len(s.ClientErrors) > 0 {
		t.Logf("librdkafka reported client errors: %q", s.ClientErrors)
	}
	if runErr != nil || !s.OK {
		t.Errorf("roundtrip.py failed (%v): %+v\nstderr:\n%s", runErr, s, stderr.String())
	}
	if s.Delivered != count || s.Consumed != count || s.Duplicates != 0 {
		t.Errorf("delivered %d, consumed %d, duplicates %d; want %d, %d, 0", s.Delivered, s.Consumed, s.Duplicates, count, count)
	}
	var total int64
	for _, e := range endOffsets(t, adm, topic) {
		total += e
	}
	if total != count {
		t.Errorf("the log holds %d records, want %d (an idempotent retry was appended twice?)", total, count)
	}
}
