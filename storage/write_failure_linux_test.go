//go:build linux

package storage

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"golang.org/x/sys/unix"
)

// A full disk during append (ENOSPC): the append fails
// with an error wrapping ErrIO (KAFKA_STORAGE_ERROR to the client), no part
// of the batch is ever visible, the log keeps its contents, and appends work
// again once space returns, before and after a reopen.
//
// The full disk is RLIMIT_FSIZE: with the limit a little above the active
// segment's size, write(2) writes a few bytes of the batch and then fails
// with EFBIG (Go ignores SIGXFSZ), the same partial-write-then-error shape
// as ENOSPC. The limit is process-wide, so this test must not run in
// parallel with others.
func TestAppendOnFullDiskFailsCleanly(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	cfg := smallConfig(t, t.TempDir())
	cfg.SegmentBytes = 1 << 20
	l := openLog(t, cfg)
	var want [][]byte
	for i := 0; i < 5; i++ {
		b := batch(2, 100, int64(i))
		mustAppend(t, l, b, 0)
		want = append(want, b)
	}
	if err := l.Sync(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	leo, active := l.LogEndOffset(), l.segs[len(l.segs)-1]
	size := active.size.Load()

	full := old
	full.Cur = uint64(size + 100) // room for 100 bytes of the next batch
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &full); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	_, err := l.Append(batch(5, 300, 99), 0, -1)
	restore := unix.Setrlimit(unix.RLIMIT_FSIZE, &old) // space returns
	if restore != nil {
		t.Fatalf("restoring RLIMIT_FSIZE: %v", restore)
	}
	if !errors.Is(err, ErrIO) || !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("Append on a full disk = %v, want ErrIO (KAFKA_STORAGE_ERROR)", err)
	}
	t.Logf("append on a full disk: %v", err)
	if l.LogEndOffset() != leo || active.size.Load() != size || fileLen(t, active.name()) != size {
		t.Fatalf("after the failed append: LEO %d (want %d), size %d, file %d bytes (want %d)",
			l.LogEndOffset(), leo, active.size.Load(), fileLen(t, active.name()), size)
	}
	checkContents(t, l, want)

	b := batch(1, 10, 100)
	if info := mustAppend(t, l, b, 0); info.BaseOffset != leo {
		t.Fatalf("append after space returned at offset %d, want %d", info.BaseOffset, leo)
	}
	want = append(want, b)
	if err := l.Sync(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	checkContents(t, l, want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkContents(t, openLog(t, cfg), want)
}

// A write failure that cannot even be cut back off the file (here: the
// segment's descriptor is read-only, so both the write and the truncate
// fail) fails the log: appends and syncs are refused with ErrIO until it is
// reopened, nothing of the failed batch is visible, and reopening recovers
// the contents and takes appends.
func TestAppendFailureThatCannotBeUndoneFailsLog(t *testing.T) {
	cfg := smallConfig(t, t.TempDir())
	cfg.SegmentBytes = 1 << 20
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for i := 0; i < 3; i++ {
		b := batch(2, 100, int64(i))
		mustAppend(t, l, b, 0)
		want = append(want, b)
	}
	active := l.segs[len(l.segs)-1]
	ro, err := os.Open(active.name())
	if err != nil {
		t.Fatal(err)
	}
	rw := active.log
	defer rw.Close()
	l.appendMu.Lock()
	active.log = ro // Close closes it
	l.appendMu.Unlock()

	leo := l.LogEndOffset()
	for i := 0; i < 2; i++ { // the first fails the write, the second is refused
		if _, err := l.Append(batch(1, 10, 50), 0, -1); !errors.Is(err, ErrIO) {
			t.Fatalf("Append %d with a failing file = %v, want ErrIO", i, err)
		}
	}
	if err := l.Sync(context.Background(), l.LogEndOffset()); l.DurableOffset() < leo && !errors.Is(err, ErrIO) {
		t.Fatalf("Sync on a failed log = %v, want ErrIO", err)
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("LEO %d after failed appends, want %d", l.LogEndOffset(), leo)
	}
	checkContents(t, l, want)
	_ = l.Close()

	r := openLog(t, cfg)
	checkContents(t, r, want)
	b := batch(1, 10, 60)
	if info := mustAppend(t, r, b, 0); info.BaseOffset != leo {
		t.Fatalf("append after reopen at %d, want %d", info.BaseOffset, leo)
	}
	checkContents(t, r, append(want, b))
}
