package test

// Compatibility with kcat (librdkafka's command-line client): metadata
// listing, keyed produce from stdin and a consume-to-end with a format
// string, run as a user would.

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/test/harness"
)

func kcatPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not on PATH (apt-get install kcat): skipping the librdkafka CLI compatibility test")
	}
	return path
}

// runKcat runs kcat with stdin and fails the test unless it exits zero
// within 30 seconds.
func runKcat(t *testing.T, kcat, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// kcat -L lists the broker and the topic with its partitions; kcat -P -K:
// produces keyed lines (plain and zstd-compressed); kcat -C -o beginning -e
// reads exactly those key=value pairs back and exits at the end.
func TestKcatMetadataProduceConsume(t *testing.T) {
	kcat := kcatPath(t)
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "kcat-keys"
	createTopic(t, adm, topic, 3, nil)

	meta := runKcat(t, kcat, "", "-b", n.Bootstrap(), "-L")
	for _, want := range []string{
		"1 brokers:",
		"broker 1 at " + n.Bootstrap(),
		fmt.Sprintf("topic %q with 3 partitions:", topic),
		"partition 0, leader 1, replicas: 1, isrs: 1",
	} {
		if !strings.Contains(meta, want) {
			t.Errorf("kcat -L output lacks %q:\n%s", want, meta)
		}
	}

	var want []string
	var input strings.Builder
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&input, "key-%02d:value %d\n", i, i)
		want = append(want, fmt.Sprintf("key-%02d=value %d", i, i))
	}
	runKcat(t, kcat, input.String(), "-b", n.Bootstrap(), "-P", "-t", topic, "-K:")
	input.Reset()
	for i := 30; i < 40; i++ {
		fmt.Fprintf(&input, "zkey-%02d:zstd value %d\n", i, i)
		want = append(want, fmt.Sprintf("zkey-%02d=zstd value %d", i, i))
	}
	runKcat(t, kcat, input.String(), "-b", n.Bootstrap(), "-P", "-t", topic, "-K:", "-z", "zstd")

	out := runKcat(t, kcat, "", "-b", n.Bootstrap(), "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", `%k=%s\n`)
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("kcat -C read back:\n%s\nwant (sorted):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
