//go:build linux

package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"golang.org/x/sys/unix"
)

// mountTmpfs mounts a tmpfs of the given size ("1m") on a new directory
// and unmounts it when the test ends (after the test's other cleanups,
// which run first). It skips the test, saying why, when it cannot: not
// root, or no permission to mount (a container without CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a small tmpfs to fill needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("skipping: mount -t tmpfs -o size=%s on %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system is full and returns
// its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	// The last chunk may have been written in part: fill byte by byte
	// what the page cache granularity left.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			return path
		}
	}
}

// A full disk (a real ENOSPC from a 1 MiB tmpfs) fails an append with
// ErrIO, which the protocol answers as KAFKA_STORAGE_ERROR, naming the
// cause; the partial write is cut off, so no reader and no recovery ever
// sees part of a batch; the log is not failed, so once space is freed the
// next append succeeds; and recovery (a crash image and a clean reopen)
// gives back exactly the acknowledged batches.
func TestAppendOnFullDiskFailsCleanlyAndRecovers(t *testing.T) {
	mnt := mountTmpfs(t, "1m")
	dir := filepath.Join(mnt, "full-0")
	l := openLog(t, testConfig(t, dir))
	var acked []byte
	appendAcked := func(b []byte) {
		t.Helper()
		if err := appendAndSync(l, b); err != nil {
			t.Fatalf("append with space left: %v", err)
		}
		acked = append(acked, b...)
	}
	for i := 0; i < 20; i++ {
		appendAcked(batch(4, 500, int64(i)))
	}
	filler := fillDisk(t, mnt)

	leo, size := l.LogEndOffset(), l.Size()
	big := batch(8, 2000, 100) // spans several pages: cannot fit in the last one
	for i := 0; i < 3; i++ {
		_, err := l.Append(bytes.Clone(big), 0, -1)
		if err == nil {
			t.Fatal("append on a full disk succeeded")
		}
		if !errors.Is(err, ErrIO) || !errors.Is(err, kerr.KafkaStorageError) || !strings.Contains(err.Error(), "no space left on device") {
			t.Fatalf("append on a full disk: %v; want ErrIO (KAFKA_STORAGE_ERROR) naming ENOSPC", err)
		}
	}
	if l.LogEndOffset() != leo || l.Size() != size || fileLen(t, segFile(dir, 0, logSuffix)) != size {
		t.Fatalf("after failed appends: LEO %d size %d file %d, want %d %d %d",
			l.LogEndOffset(), l.Size(), fileLen(t, segFile(dir, 0, logSuffix)), leo, size, size)
	}
	if err := l.failure(); err != nil {
		t.Fatalf("a failed write that was cut back failed the log: %v", err)
	}
	if got := readAll(t, l, 0, l.LogEndOffset()); !bytes.Equal(got, acked) {
		t.Fatal("reads after the failed appends differ from the acknowledged batches")
	}
	crashWhileFull := filepath.Join(t.TempDir(), "crash-0")
	copyDir(t, dir, crashWhileFull)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	appendAcked(bytes.Clone(big))
	appendAcked(batch(1, 10, 200))

	lc := openLog(t, testConfig(t, crashWhileFull))
	if got := readAll(t, lc, 0, lc.LogEndOffset()); !bytes.Equal(got, acked[:size]) {
		t.Fatalf("recovery of the image taken while full: %d bytes, want the %d acknowledged", len(got), size)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, testConfig(t, dir))
	if got := readAll(t, l2, 0, l2.LogEndOffset()); !bytes.Equal(got, acked) {
		t.Fatal("reopened log differs from the acknowledged batches")
	}
}
