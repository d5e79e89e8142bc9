package storage

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestPinnedRegionsOutliveSegmentDeletion checks the zero-copy lifetime
// rule: regions pinned before retention deletes their segment still read
// back exactly the batches that Read found, while an unpinned ReadResult
// of the same segment is refused.
func TestPinnedRegionsOutliveSegmentDeletion(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	var want []byte
	for i := 0; i < 3; i++ {
		mustAppend(t, l, batch(10, 1000, time.Now().UnixMilli()), 0)
	}
	rr, err := l.Read(0, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	if want, err = rr.Bytes(); err != nil {
		t.Fatal(err)
	}
	pinned, err := rr.Pin()
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Release()
	if pinned.Size != int64(len(want)) {
		t.Fatalf("pinned %d bytes, read %d", pinned.Size, len(want))
	}
	// Replace the whole log: every segment file is unlinked.
	if err := l.TruncateFullyAndStartAt(l.LogEndOffset() + 100); err != nil {
		t.Fatal(err)
	}
	if _, err := rr.Bytes(); err == nil {
		t.Fatal("an unpinned read of a removed segment still returned bytes")
	}
	var got []byte
	for _, rg := range pinned.Regions {
		buf := make([]byte, rg.Len)
		if _, err := rg.File.ReadAt(buf, rg.Pos); err != nil {
			t.Fatalf("reading pinned region after the segment was removed: %v", err)
		}
		got = append(got, buf...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("pinned regions changed after the segment was removed")
	}
	if err := pinned.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := rr.Pin(); err == nil || errors.Is(err, ErrPinUnsupported) {
		t.Fatalf("pinning a stale read: %v, want a truncation error", err)
	}
}
