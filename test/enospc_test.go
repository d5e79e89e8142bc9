//go:build linux

package test

// A real full disk at the broker: the partition directory is a 1 MiB tmpfs
// (mount -t tmpfs -o size=1m), filled by a file until write(2) answers
// ENOSPC. Before, the tests simulated this with RLIMIT_FSIZE (EFBIG).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"

	"github.com/samsa-io/samsa/storage"
	"github.com/samsa-io/samsa/test/harness"
)

// mountPartitionTmpfs mounts a tmpfs of size on dir (created) and unmounts
// it at the end of the test, after the node stops (cleanups run last
// registered first). It skips the test, saying why, when it cannot.
func mountPartitionTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a small tmpfs to fill needs root")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("skipping: mount -t tmpfs -o size=%s on %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
}

// fillFileSystem writes dir/filler until ENOSPC and returns its path.
func fillFileSystem(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range [][]byte{make([]byte, 64<<10), make([]byte, 512)} {
		for {
			if _, err := f.Write(chunk); err != nil {
				if !errors.Is(err, unix.ENOSPC) {
					t.Fatalf("filling %s: %v", dir, err)
				}
				break
			}
		}
	}
	return path
}

func recordValues(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value)
	}
	return out
}

// A produce to a partition whose disk is full is answered
// KAFKA_STORAGE_ERROR (a franz-go producer, with one try, gets
// kerr.KafkaStorageError); consumers never see any part of the failed
// batches; once space is freed the same producer's next records are
// accepted; and after a restart the partition holds exactly the
// acknowledged records, in order.
func TestProduceOnFullDiskAnswersStorageErrorAndRecovers(t *testing.T) {
	const topic = "enospc"
	data := t.TempDir()
	partDir := filepath.Join(data, "logs", storage.PartitionDirName(topic, 0))
	mountPartitionTmpfs(t, partDir, "1m")

	n := harness.StartNode(t, harness.WithDataDir(data), harness.WithAutoCreateTopics(false))
	createTopic(t, newAdmin(t, n.Bootstrap()), topic, 1, nil)
	producer := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic),
		kgo.DisableIdempotentWrite(), kgo.RecordRetries(1), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	var acked []string
	produce := func(value []byte) error {
		return producer.ProduceSync(testCtx(t), &kgo.Record{Value: value}).FirstErr()
	}
	for i := 0; i < 20; i++ {
		v := fmt.Sprintf("before-%02d-%s", i, bytes.Repeat([]byte{'x'}, 400))
		if err := produce([]byte(v)); err != nil {
			t.Fatalf("produce with space left: %v", err)
		}
		acked = append(acked, v)
	}
	filler := fillFileSystem(t, partDir)

	for i := 0; i < 3; i++ {
		err := produce(bytes.Repeat([]byte{'F'}, 16<<10)) // uncompressed, needs new pages: cannot fit
		if !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", err)
		}
	}
	if got := recordValues(consumeAll(t, n.Bootstrap(), topic)); fmt.Sprint(got) != fmt.Sprint(acked) {
		t.Fatalf("consumed after the failed produces:\n got %d records\nwant the %d acknowledged", len(got), len(acked))
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		v := fmt.Sprintf("after-%02d-%s", i, bytes.Repeat([]byte{'y'}, 8<<10))
		if err := produce([]byte(v)); err != nil {
			t.Fatalf("produce once space was freed: %v", err)
		}
		acked = append(acked, v)
	}

	n.Restart()
	if got := recordValues(consumeAll(t, n.Bootstrap(), topic)); fmt.Sprint(got) != fmt.Sprint(acked) {
		t.Fatalf("after restart: %d records, want exactly the %d acknowledged, in order", len(got), len(acked))
	}
}
