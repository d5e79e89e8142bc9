package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func snapshotOffsets(t testing.TB, dir string) []int64 {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range es {
		if off, ok := parseSegmentFileName(e.Name(), snapshotSuffix); ok {
			out = append(out, off)
		}
	}
	return out
}

func mustLatestSnapshot(t testing.TB, l *Log, wantOffset int64, wantData string) {
	t.Helper()
	off, data, ok, err := l.LatestProducerSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if wantOffset < 0 {
		if ok {
			t.Fatalf("LatestProducerSnapshot = %d %q, want none", off, data)
		}
		return
	}
	if !ok || off != wantOffset || string(data) != wantData {
		t.Fatalf("LatestProducerSnapshot = %d %q %v, want %d %q", off, data, ok, wantOffset, wantData)
	}
}

// Snapshots are <20-digit offset>.snapshot files; the newest two are kept;
// a damaged one is never returned (the next older one is, and the damaged
// file is deleted); offsets outside the log are refused; a leftover
// temporary file is removed by Open.
func TestProducerSnapshotWriteKeepAndDamage(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, testConfig(t, dir))
	mustLatestSnapshot(t, l, -1, "")
	mustAppend(t, l, batch(10, 1, 0), 0)
	for _, off := range []int64{0, 5, 10} {
		if err := l.WriteProducerSnapshot(off, []byte(fmt.Sprint("state@", off))); err != nil {
			t.Fatal(err)
		}
	}
	if got := snapshotOffsets(t, dir); !slices.Equal(got, []int64{5, 10}) {
		t.Fatalf("snapshot files %v, want [5 10]", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000010.snapshot")); err != nil {
		t.Fatal(err)
	}
	mustLatestSnapshot(t, l, 10, "state@10")
	for _, bad := range []int64{-1, 11} {
		if err := l.WriteProducerSnapshot(bad, nil); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("WriteProducerSnapshot(%d) = %v", bad, err)
		}
	}

	// Flip one byte of the newest: it must not be trusted.
	path := filepath.Join(dir, snapshotFileName(10))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	mustLatestSnapshot(t, l, 5, "state@5")
	if got := snapshotOffsets(t, dir); !slices.Equal(got, []int64{5}) {
		t.Fatalf("snapshot files %v after finding a damaged one, want [5]", got)
	}
	// Truncated to its header: damaged too.
	if err := os.Truncate(filepath.Join(dir, snapshotFileName(5)), 10); err != nil {
		t.Fatal(err)
	}
	mustLatestSnapshot(t, l, -1, "")

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, snapshotFileName(3)+tmpSuffix)
	if err := os.WriteFile(tmp, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	openLog(t, testConfig(t, dir))
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover %s not removed by Open (%v)", tmp, err)
	}
}

// Snapshots follow the log: TruncateTo deletes those above the new end,
// retention those below the new start, TruncateFullyAndStartAt all of
// them, and Open those above the end recovery found.
func TestProducerSnapshotsFollowTheLog(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.SegmentBytes = 400
	l := openLog(t, cfg)
	for l.LogEndOffset() < 40 {
		mustAppend(t, l, batch(2, 50, 0), 0)
	}
	for _, off := range []int64{20, 30} {
		if err := l.WriteProducerSnapshot(off, []byte("s")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateTo(25); err != nil {
		t.Fatal(err)
	}
	if got := snapshotOffsets(t, dir); !slices.Equal(got, []int64{20}) {
		t.Fatalf("after TruncateTo(25): snapshots %v, want [20]", got)
	}
	if err := l.WriteProducerSnapshot(l.LogEndOffset(), []byte("s")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.DeleteRecordsBefore(22); err != nil {
		t.Fatal(err)
	}
	if got := snapshotOffsets(t, dir); !slices.Equal(got, []int64{l.LogEndOffset()}) {
		t.Fatalf("after moving the log start to 22: snapshots %v, want [%d]", got, l.LogEndOffset())
	}

	// A snapshot written for records a crash then lost.
	crashed := filepath.Join(t.TempDir(), "crashed-0")
	copyDir(t, dir, crashed)
	if err := os.WriteFile(filepath.Join(crashed, snapshotFileName(1000)), encodeSnapshot(1000, []byte("s")), 0o644); err != nil {
		t.Fatal(err)
	}
	lc := openLog(t, testConfig(t, crashed))
	if got := snapshotOffsets(t, crashed); slices.Contains(got, 1000) {
		t.Fatalf("Open kept a snapshot above the log end %d: %v", lc.LogEndOffset(), got)
	}

	if err := l.TruncateFullyAndStartAt(500); err != nil {
		t.Fatal(err)
	}
	if got := snapshotOffsets(t, dir); len(got) != 0 {
		t.Fatalf("after TruncateFullyAndStartAt: snapshots %v", got)
	}
}

// With a source registered, a roll snapshots the state at the new
// segment's base offset (the source sees the log end there, before the
// batch that rolled is written) and a clean Close at the log end; a
// reopen finds the newest.
func TestProducerSnapshotSourceAtRollAndClose(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.SegmentBytes = 400
	l := openLog(t, cfg)
	calls := 0
	l.SetSnapshotSource(func() (int64, []byte) {
		calls++
		leo := l.LogEndOffset()
		return leo, []byte(strconv.FormatInt(leo, 10))
	})
	for l.NumSegments() < 4 {
		mustAppend(t, l, batch(2, 50, 0), 0)
	}
	bases := []int64{l.segs[2].base, l.segs[3].base}
	if got := snapshotOffsets(t, dir); !slices.Equal(got, bases) {
		t.Fatalf("snapshots %v, want the last two segment bases %v", got, bases)
	}
	mustLatestSnapshot(t, l, bases[1], strconv.FormatInt(bases[1], 10))
	mustAppend(t, l, batch(1, 1, 0), 0)
	leo := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if calls != 4 {
		t.Fatalf("source called %d times, want 3 rolls and 1 close", calls)
	}
	l2 := openLog(t, testConfig(t, dir))
	mustLatestSnapshot(t, l2, leo, strconv.FormatInt(leo, 10))
}

// decodeSnapshot refuses every damaged shape.
func TestDecodeSnapshotRefusesDamage(t *testing.T) {
	good := encodeSnapshot(42, []byte("state"))
	if d, err := decodeSnapshot(good, 42); err != nil || string(d) != "state" {
		t.Fatalf("decode of a good snapshot: %q %v", d, err)
	}
	cases := map[string][]byte{
		"empty":      nil,
		"short":      good[:snapshotHeader-1],
		"truncated":  good[:len(good)-1],
		"extra":      append(slices.Clone(good), 0),
		"bad-crc":    func() []byte { b := slices.Clone(good); b[3] ^= 1; return b }(),
		"bad-ver":    func() []byte { b := slices.Clone(good); b[1] = 1; return b }(),
		"other-name": good,
	}
	for name, b := range cases {
		off := int64(42)
		if name == "other-name" {
			off = 43
		}
		if _, err := decodeSnapshot(b, off); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
