package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// oneBatchSegments opens a log in which every segment holds exactly one
// batch of two records: segment k has base offset 2k, leader epoch k/2 and
// all its timestamps at tss[k] (-1: no timestamp). It returns the log, its
// config, the batches and the size of one batch (all are the same size).
func oneBatchSegments(t *testing.T, dir string, tss []int64) (*Log, Config, [][]byte, int64) {
	t.Helper()
	size := int64(len(batch(2, 100, 0)))
	cfg := testConfig(t, dir)
	cfg.SegmentBytes = size
	l := openLog(t, cfg)
	var bs [][]byte
	for k, ts := range tss {
		b := batch(2, 100, ts)
		mustAppend(t, l, b, int32(k/2))
		bs = append(bs, b)
	}
	if l.NumSegments() != len(tss) {
		t.Fatalf("%d segments for %d batches", l.NumSegments(), len(tss))
	}
	return l, cfg, bs, size
}

// checkStart checks the log start offset, the segments left on disk and in
// the log, that reads below the start are out of range, and that the
// batches from the start on read back.
func checkStart(t *testing.T, l *Log, wantStart int64, wantBases []int64, want [][]byte) {
	t.Helper()
	if got := l.LogStartOffset(); got != wantStart {
		t.Fatalf("LogStartOffset %d, want %d", got, wantStart)
	}
	if got := segmentBases(t, l.cfg.Dir); !slices.Equal(got, wantBases) {
		t.Fatalf("segment files %v, want %v", got, wantBases)
	}
	if l.NumSegments() != len(wantBases) {
		t.Fatalf("NumSegments %d, want %d", l.NumSegments(), len(wantBases))
	}
	for _, base := range wantBases {
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			if _, err := os.Stat(segFile(l.cfg.Dir, base, suffix)); err != nil {
				t.Fatalf("index of a kept segment: %v", err)
			}
		}
	}
	for _, off := range []int64{wantStart - 1, 0} {
		if off < wantStart {
			if _, err := l.Read(off, 1<<20, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("Read(%d) below start %d: %v, want ErrOffsetOutOfRange", off, wantStart, err)
			}
		}
	}
	if got := readAll(t, l, wantStart, math.MaxInt64); !bytes.Equal(got, bytes.Join(want, nil)) {
		t.Fatalf("read %d bytes from the start, want %d", len(got), len(bytes.Join(want, nil)))
	}
	var files int64
	for _, base := range wantBases {
		files += fileLen(t, segFile(l.cfg.Dir, base, logSuffix))
	}
	if l.Size() != files {
		t.Fatalf("Size %d, .log files hold %d bytes", l.Size(), files)
	}
}

func checkpointed(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, logStartCheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// retention.ms: segments whose largest timestamp is more than retentionMs
// before now go, oldest first; the first segment still within retention
// stops the pass (Kafka's deletableSegments); the active segment stays even
// when it is expired too.
func TestRetentionByTime(t *testing.T) {
	l, _, bs, _ := oneBatchSegments(t, t.TempDir(), []int64{0, 1000, 2000, 9000, 4000, 5000})
	now := time.UnixMilli(10_000)
	if n, err := l.ApplyRetention(now, -1, -1, math.MaxInt64); n != 0 || err != nil {
		t.Fatalf("unlimited retention deleted %d (%v)", n, err)
	}
	// Expired: largest timestamp < 10000-7500 = 2500, so segments 0, 2, 4.
	if n, err := l.ApplyRetention(now, 7500, -1, math.MaxInt64); n != 3 || err != nil {
		t.Fatalf("ApplyRetention = %d, %v; want 3 segments", n, err)
	}
	checkStart(t, l, 6, []int64{6, 8, 10}, bs[3:])
	if got := checkpointed(t, l.cfg.Dir); got != "0\n6\n" {
		t.Fatalf("checkpoint %q", got)
	}
	// Segment 6 (timestamp 9000) is within retention and shields segment 8
	// (4000), as in Kafka.
	if n, err := l.ApplyRetention(now, 5500, -1, math.MaxInt64); n != 0 || err != nil {
		t.Fatalf("a newer oldest segment did not stop the pass: %d, %v", n, err)
	}
	if n, err := l.ApplyRetention(now, 0, -1, math.MaxInt64); n != 2 || err != nil {
		t.Fatalf("retention 0 = %d, %v; want every sealed segment", n, err)
	}
	checkStart(t, l, 10, []int64{10}, bs[5:])
}

// A segment without timestamps ages by its file's modification time
// (Kafka's LogSegment.largestTimestamp falls back to lastModified).
func TestRetentionByTimeUsesFileTimeWithoutTimestamps(t *testing.T) {
	l, _, bs, _ := oneBatchSegments(t, t.TempDir(), []int64{-1, -1, -1})
	now := time.Now()
	for base, age := range map[int64]time.Duration{0: 2 * time.Hour, 2: time.Minute} {
		mtime := now.Add(-age)
		if err := os.Chtimes(segFile(l.cfg.Dir, base, logSuffix), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := l.ApplyRetention(now, time.Hour.Milliseconds(), -1, math.MaxInt64); n != 1 || err != nil {
		t.Fatalf("ApplyRetention = %d, %v; want the 2-hour-old segment", n, err)
	}
	checkStart(t, l, 2, []int64{2, 4}, bs[1:])
}

// retention.bytes: delete the oldest segments while the log stays at least
// retentionBytes big without them.
func TestRetentionBySize(t *testing.T) {
	l, _, bs, size := oneBatchSegments(t, t.TempDir(), []int64{0, 1, 2, 3, 4, 5})
	now := time.UnixMilli(0)
	if l.Size() != 6*size {
		t.Fatalf("Size %d, want %d", l.Size(), 6*size)
	}
	if n, err := l.ApplyRetention(now, -1, 3*size+1, math.MaxInt64); n != 2 || err != nil {
		t.Fatalf("ApplyRetention = %d, %v; want 2 (6 -> 4 segments, a third would leave 3 < 3+1)", n, err)
	}
	checkStart(t, l, 4, []int64{4, 6, 8, 10}, bs[2:])
	if n, err := l.ApplyRetention(now, -1, 4*size, math.MaxInt64); n != 0 || err != nil {
		t.Fatalf("log at the limit: deleted %d (%v)", n, err)
	}
	if n, err := l.ApplyRetention(now, -1, 0, math.MaxInt64); n != 3 || err != nil {
		t.Fatalf("retention.bytes 0 = %d, %v; want every sealed segment", n, err)
	}
	checkStart(t, l, 10, []int64{10}, bs[5:])
}

// The active segment is never deleted, even when it alone breaks both
// limits (Kafka would roll it first; see retention.go). Once an append
// rolls it, the next pass deletes it.
func TestRetentionNeverDeletesActiveSegment(t *testing.T) {
	l, _, bs, _ := oneBatchSegments(t, t.TempDir(), []int64{0})
	far := time.UnixMilli(1 << 40)
	if n, err := l.ApplyRetention(far, 0, 0, math.MaxInt64); n != 0 || err != nil {
		t.Fatalf("deleted %d (%v) with only the active segment", n, err)
	}
	checkStart(t, l, 0, []int64{0}, bs)
	next := batch(2, 100, 0)
	mustAppend(t, l, next, 0)
	if n, err := l.ApplyRetention(far, 0, 0, math.MaxInt64); n != 1 || err != nil {
		t.Fatalf("after the roll: deleted %d (%v), want 1", n, err)
	}
	checkStart(t, l, 2, []int64{2}, [][]byte{next})
}

// Nothing a follower may still fetch is deleted: a segment whose next
// offset is above maxDeletableOffset (the high watermark) stops the pass.
func TestRetentionKeepsSegmentsAboveMaxDeletableOffset(t *testing.T) {
	l, _, bs, _ := oneBatchSegments(t, t.TempDir(), []int64{0, 1, 2, 3, 4})
	now := time.UnixMilli(1 << 40)
	if n, err := l.ApplyRetention(now, 0, 0, 5); n != 2 || err != nil {
		t.Fatalf("ApplyRetention(max 5) = %d, %v; want segments 0 and 2 (next offsets 2, 4)", n, err)
	}
	checkStart(t, l, 4, []int64{4, 6, 8}, bs[2:])
	if n, err := l.ApplyRetention(now, 0, 0, 6); n != 1 || err != nil {
		t.Fatalf("next offset == maxDeletableOffset is deletable: %d, %v", n, err)
	}
}

// The log start offset survives a restart, and with it the pruned leader
// epoch cache (KIP-101 entries wholly below the start go, the first one
// moves to the start: Kafka's truncateFromStart).
func TestRetentionSurvivesRestart(t *testing.T) {
	l, cfg, bs, _ := oneBatchSegments(t, t.TempDir(), []int64{0, 1, 2, 3, 4, 5, 6})
	// epochs: 0@0, 1@4, 2@8, 3@12
	if n, err := l.ApplyRetention(time.UnixMilli(1000), 997, -1, math.MaxInt64); n != 3 || err != nil {
		t.Fatalf("ApplyRetention = %d, %v", n, err)
	}
	check := func(l *Log) {
		t.Helper()
		checkStart(t, l, 6, []int64{6, 8, 10, 12}, bs[3:])
		for ep, want := range map[int32][2]int64{0: {0, 6}, 1: {1, 8}, 2: {2, 12}, 3: {3, 14}} {
			if e, end := l.EndOffsetForEpoch(ep); e != int32(want[0]) || end != want[1] {
				t.Fatalf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", ep, e, end, want[0], want[1])
			}
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadFile(filepath.Join(cfg.Dir, epochCheckpointFile))
	if err != nil || string(es) != "0\n3\n1 6\n2 8\n3 12\n" {
		t.Fatalf("epoch checkpoint %q (%v)", es, err)
	}
	check(openLog(t, cfg))
}

// DeleteRecords (KIP-107) inside a segment: the segment stays, but reads
// below the new start are out of range, the earliest offset (ListOffsets
// EARLIEST answers LogStartOffset) is the requested one, and timestamp
// lookups never answer below it. A read prepared before the call still
// copies its bytes if its segment survives, and fails if it was deleted.
func TestDeleteRecordsBeforeMidSegment(t *testing.T) {
	l, cfg, bs, _ := oneBatchSegments(t, t.TempDir(), []int64{10, 20, 30, 40, 50, 60})
	early, err := l.Read(0, 1<<20, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := l.Read(4, 1, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	start, err := l.DeleteRecordsBefore(5)
	if err != nil || start != 5 {
		t.Fatalf("DeleteRecordsBefore(5) = %d, %v", start, err)
	}
	if _, err := early.Bytes(); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Bytes of a read from a deleted segment: %v, want ErrOffsetOutOfRange", err)
	}
	if b, err := kept.Bytes(); err != nil || !bytes.Equal(b, bs[2]) {
		t.Fatalf("Bytes of a read from a kept segment: %d bytes, %v", len(b), err)
	}
	if _, err := l.Read(4, 1<<20, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(4) below the start inside a kept segment: %v", err)
	}
	// Segment 4 holds offset 4 and 5: it stays, and reading 5 returns it whole.
	checkStart(t, l, 5, []int64{4, 6, 8, 10}, bs[2:])
	if off, ts, found, err := l.OffsetForTimestamp(0); off != 5 || ts != 30 || !found || err != nil {
		t.Fatalf("OffsetForTimestamp(0) = (%d, %d, %v, %v), want (5, 30)", off, ts, found, err)
	}
	if e, end := l.EndOffsetForEpoch(0); e != 0 || end != 5 {
		t.Fatalf("EndOffsetForEpoch(0) = (%d, %d), want (0, 5): epoch 1 now starts at the log start", e, end)
	}
	if start, err := l.DeleteRecordsBefore(3); start != 5 || err != nil {
		t.Fatalf("DeleteRecordsBefore below the start = %d, %v; want a no-op", start, err)
	}
	if _, err := l.DeleteRecordsBefore(l.LogEndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecordsBefore past LEO: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, cfg)
	checkStart(t, l, 5, []int64{4, 6, 8, 10}, bs[2:])
	leo := l.LogEndOffset()
	if start, err := l.DeleteRecordsBefore(leo); start != leo || err != nil {
		t.Fatalf("DeleteRecordsBefore(LEO) = %d, %v", start, err)
	}
	checkStart(t, l, leo, []int64{10}, nil)
	if _, _, found, _ := l.OffsetForTimestamp(0); found {
		t.Fatal("OffsetForTimestamp found a record below the log start")
	}
}

// A follower truncation that cuts the batch holding the log start offset
// brings the start down with the end (Kafka: min of both), durably, so
// records appended afterwards stay visible after a restart.
func TestTruncateBelowStartLowersIt(t *testing.T) {
	l, cfg, _, _ := oneBatchSegments(t, t.TempDir(), []int64{0, 1, 2})
	if _, err := l.DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(3); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 2 || l.LogEndOffset() != 2 {
		t.Fatalf("after truncation start %d end %d, want 2 and 2", l.LogStartOffset(), l.LogEndOffset())
	}
	more := [][]byte{batch(2, 100, 7), batch(2, 100, 8)}
	for _, b := range more {
		mustAppend(t, l, b, 5)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkStart(t, openLog(t, cfg), 2, []int64{2, 4}, more)
}

// A crash after the checkpoint write and before the deletion leaves the
// segment files behind: Open deletes the ones wholly below the
// checkpointed start, and clamps a start outside [first base, LEO].
func TestRecoveryDeletesSegmentsBelowCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name       string
		checkpoint int64
		wantStart  int64
		wantBases  []int64
		rewritten  bool
		// after one more append (it rolls: the active segment is full) and
		// a reopen, which deletes a sealed segment wholly below the start
		reopenBases []int64
	}{
		{"segment boundary", 6, 6, []int64{6, 8, 10}, false, []int64{6, 8, 10, 12}},
		{"inside a segment", 7, 7, []int64{6, 8, 10}, false, []int64{6, 8, 10, 12}},
		{"at LEO", 12, 12, []int64{10}, false, []int64{12}},
		{"past LEO", 500, 12, []int64{10}, true, []int64{12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, cfg, bs, _ := oneBatchSegments(t, t.TempDir(), []int64{0, 1, 2, 3, 4, 5})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(cfg.Dir, logStartCheckpointFile), encodeLogStartCheckpoint(tc.checkpoint))
			l = openLog(t, cfg)
			want := bs[tc.wantBases[0]/2:]
			if tc.wantStart == 12 {
				want = nil
			}
			checkStart(t, l, tc.wantStart, tc.wantBases, want)
			if got, want := checkpointed(t, cfg.Dir), fmt.Sprintf("0\n%d\n", tc.wantStart); tc.rewritten && got != want {
				t.Fatalf("checkpoint %q after clamping, want %q", got, want)
			}
			more := batch(2, 100, 9)
			mustAppend(t, l, more, 9)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			checkStart(t, openLog(t, cfg), tc.wantStart, tc.reopenBases, append(want, more))
		})
	}
}

// An unreadable checkpoint never stops the broker: Open warns, starts the
// log at its first segment, and replaces the file. A checkpoint below the
// first segment is raised to it.
func TestRecoveryIgnoresGarbageCheckpoint(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":      "\x00\xffnot a checkpoint",
		"truncated":    "0\n",
		"empty":        "",
		"negative":     "0\n-4\n",
		"version 1":    "1\n6\n",
		"extra line":   "0\n6\n7\n",
		"below first":  "0\n2\n",
		"not a number": "0\n6x\n",
	} {
		t.Run(name, func(t *testing.T) {
			l, cfg, bs, _ := oneBatchSegments(t, t.TempDir(), []int64{0, 1, 2, 3, 4, 5})
			if _, err := l.DeleteRecordsBefore(4); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(cfg.Dir, logStartCheckpointFile), []byte(content))
			l = openLog(t, cfg)
			checkStart(t, l, 4, []int64{4, 6, 8, 10}, bs[2:])
			if got := checkpointed(t, cfg.Dir); got != "0\n4\n" {
				t.Fatalf("checkpoint not replaced: %q", got)
			}
		})
	}
}

// SetConfig (AlterConfigs on segment.bytes and friends) takes effect at the
// next append; settings that name another log are refused and change
// nothing.
func TestSetConfigChangesRollSize(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	l := openLog(t, cfg)
	for i := 0; i < 4; i++ {
		mustAppend(t, l, batch(2, 100, 0), 0)
	}
	if l.NumSegments() != 1 {
		t.Fatalf("%d segments with 1 GiB segment.bytes", l.NumSegments())
	}
	bad := []func(*Config){
		func(c *Config) { c.Dir += "-other" },
		func(c *Config) { c.Durability = DurabilityPageCache },
		func(c *Config) { c.TopicID = [16]byte{1} },
		func(c *Config) { c.SegmentBytes = 1 },
	}
	for i, mutate := range bad {
		c := cfg
		c.SegmentBytes = int64(len(batch(2, 100, 0)))
		mutate(&c)
		if err := l.SetConfig(c); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("bad config %d: %v, want ErrInvalidConfig", i, err)
		}
	}
	mustAppend(t, l, batch(2, 100, 0), 0)
	if l.NumSegments() != 1 {
		t.Fatal("a refused SetConfig changed the roll size")
	}
	c := cfg
	c.SegmentBytes = int64(len(batch(2, 100, 0)))
	c.IndexIntervalBytes = 0
	if err := l.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		mustAppend(t, l, batch(2, 100, 0), 0)
		if l.NumSegments() != i {
			t.Fatalf("%d segments after %d appends at the new segment.bytes", l.NumSegments(), i-1)
		}
	}
	c.SegmentBytes = DefaultSegmentBytes
	if err := l.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		mustAppend(t, l, batch(2, 100, 0), 0)
	}
	active := l.segs[len(l.segs)-1]
	if l.NumSegments() != 4 || len(active.offIdx) != 3 {
		t.Fatalf("%d segments, %d index entries in the active one; want 4 and one entry per batch after the first (index.interval.bytes 0)",
			l.NumSegments(), len(active.offIdx))
	}
}

// Retention runs beside appends, syncs and reads: a reader gets whole
// batches at the offsets it asked for, or ErrOffsetOutOfRange (from Read, or
// from Bytes when the segment went in between), never other bytes.
func TestRetentionConcurrentWithReadsAndAppends(t *testing.T) {
	size := int64(len(batch(2, 100, 0)))
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 2 * size
	l := openLog(t, cfg)
	done := make(chan struct{})
	errs := make(chan error, 2)
	for r := 0; r < 2; r++ {
		go func() { errs <- readWhileDeleting(l, done) }()
	}
	var deleted int
	for i := 0; i < 100; i++ {
		info := mustAppend(t, l, batch(2, 100, int64(i)), 0)
		if i%20 == 0 {
			if err := l.Sync(t.Context(), info.LastOffset+1); err != nil {
				t.Fatal(err)
			}
		}
		n, err := l.ApplyRetention(time.UnixMilli(0), -1, 6*size, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		deleted += n
	}
	close(done)
	for r := 0; r < 2; r++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if deleted < 40 || l.Size() > 8*size {
		t.Fatalf("deleted %d segments, size %d", deleted, l.Size())
	}
}

func readWhileDeleting(l *Log, done <-chan struct{}) error {
	for {
		select {
		case <-done:
			return nil
		default:
		}
		from := l.LogStartOffset()
		res, err := l.Read(from, 1<<20, math.MaxInt64)
		var b []byte
		if err == nil {
			b, err = res.Bytes()
		}
		if errors.Is(err, ErrOffsetOutOfRange) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read from %d: %w", from, err)
		}
		if len(b) == 0 {
			continue
		}
		hs, err := walkBatches(b, true)
		if err != nil {
			return fmt.Errorf("read from %d: %w", from, err)
		}
		if first := hs[0]; first.BaseOffset > from || first.LastOffset() < from {
			return fmt.Errorf("read from %d returned a batch at %d-%d", from, first.BaseOffset, first.LastOffset())
		}
		for i := 1; i < len(hs); i++ {
			if hs[i].BaseOffset != hs[i-1].NextOffset() {
				return fmt.Errorf("read from %d: batch at %d follows %d", from, hs[i].BaseOffset, hs[i-1].LastOffset())
			}
		}
	}
}

// The checkpoint decoder never panics, and what it accepts round-trips.
func FuzzParseLogStartCheckpoint(f *testing.F) {
	for _, s := range []string{"", "0\n", "0\n0\n", "0\n9223372036854775807\n", "0\n-1\n", "1\n5\n", "0\n5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		off, err := parseLogStartCheckpoint(b)
		if err != nil {
			return
		}
		if off < 0 {
			t.Fatalf("accepted negative offset %d", off)
		}
		if again, err := parseLogStartCheckpoint(encodeLogStartCheckpoint(off)); err != nil || again != off {
			t.Fatalf("round trip of %d: %d, %v", off, again, err)
		}
	})
}
