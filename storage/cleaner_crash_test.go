package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Crash tests of compaction's swap (cleaner.go) and of the recovery rules
// that finish it (recover.go, rule 0), as Kafka's log cleaner recovery
// does: .cleaned files are deleted, .swap files are completed.

// crashScenario builds the log of the crash tests: a first pass stamps a
// tombstone's horizon, then new segments supersede keys across several
// segments (one of which empties), so the second pass rewrites, removes
// and drops tombstones. It returns the log ready for the second pass.
func crashScenario(t testing.TB, dir string) *Log {
	t.Helper()
	l := compactLog(t, dir, [][]keyedSpec{
		{spec(put("a", "1"), put("b", "1")), {recs: []kv{put("p", "1")}, pid: 3}},
		{spec(tombstone("a"), put("c", "1"))},
		{{recs: []kv{put("d", "1"), put("e", "1")}, codec: CodecLZ4, pid: -1}},
		{spec(put("f", "1"))},
		{spec(put("z", "0"))},
	})
	cfg := anyRatio()
	cfg.DeleteRetentionMs = 100
	compactNow(t, l, segTs(6), cfg)
	for k, g := range [][]keyedSpec{
		{spec(put("b", "2"), put("p", "2"))},
		{spec(put("d", "2"), put("f", "2"))},
		{spec(put("e", "2"), tombstone("c"))},
		{spec(put("z", "9"))},
	} {
		for _, s := range g {
			s.ts = segTs(10 + k)
			mustAppend(t, l, keyedBatch(t, s), 0)
		}
	}
	return l
}

var errCrash = errors.New("simulated crash")

// crashCompaction is the second pass of the crash tests.
func crashCompaction(t testing.TB, l *Log) (CompactionResult, error) {
	cfg := anyRatio()
	cfg.DeleteRetentionMs = 100
	return l.Compact(time.UnixMilli(segTs(20)), cfg, l.LogEndOffset())
}

// A crash at any step of a compaction pass (simulated by copying the
// directory at that step and reopening the copy) reopens a valid log in
// which no record that was not superseded is lost, no key shows an older
// value than its latest (nor a value it had deleted), no compaction file is
// left, and a new pass converges on the state of an uninterrupted one.
func TestCompactCrashAtEveryStep(t *testing.T) {
	ref := crashScenario(t, filepath.Join(t.TempDir(), "c-0"))
	before := readRecords(t, ref)
	var steps []string
	ref.cleanHook = func(s string) error { steps = append(steps, s); return nil }
	if res, err := crashCompaction(t, ref); err != nil || !res.Cleaned || res.SegmentsRemoved == 0 || res.TombstonesRemoved == 0 {
		t.Fatalf("reference pass: %+v, %v", res, err)
	}
	final := readRecords(t, ref)
	t.Logf("steps: %q", steps)
	if len(steps) < 10 {
		t.Fatalf("only %d steps", len(steps))
	}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			live := filepath.Join(t.TempDir(), "c-0")
			img := filepath.Join(t.TempDir(), "c-0")
			l := crashScenario(t, live)
			l.cleanHook = func(s string) error {
				if s != step {
					return nil
				}
				copyDir(t, live, img)
				return errCrash
			}
			if _, err := crashCompaction(t, l); !errors.Is(err, errCrash) {
				t.Fatalf("pass ended with %v, want the simulated crash", err)
			}
			re := openLog(t, l.cfg.withDir(img))
			checkCrashState(t, img, before, final, readRecords(t, re))
			if _, err := crashCompaction(t, re); err != nil {
				t.Fatal(err)
			}
			if got, want := recordStrings(readRecords(t, re)), recordStrings(final); got != want {
				t.Fatalf("after a new pass\n got  %s\n want %s", got, want)
			}
		})
	}
}

func (c Config) withDir(dir string) Config {
	c.Dir = dir
	return c
}

// checkCrashState checks the records got after a crash against the log
// before the pass and after an uninterrupted one.
func checkCrashState(t *testing.T, dir string, before, final, got []gotRecord) {
	t.Helper()
	orig := map[int64]gotRecord{}
	latest := map[string]gotRecord{}
	for _, r := range before {
		orig[r.offset] = r
		latest[r.key] = r
	}
	have := map[int64]bool{}
	gotLatest := map[string]gotRecord{}
	for _, r := range got {
		if o, ok := orig[r.offset]; !ok || o.String() != r.String() || o.ts != r.ts {
			t.Fatalf("record %v was not in the log before the pass", r)
		}
		have[r.offset] = true
		gotLatest[r.key] = r
	}
	for _, r := range final {
		if !have[r.offset] {
			t.Fatalf("record %v, kept by the pass, is lost:\n got %s", r, recordStrings(got))
		}
	}
	for k, want := range latest {
		g, ok := gotLatest[k]
		switch {
		case !ok && !want.null:
			t.Fatalf("key %s lost its value %v", k, want)
		case ok && g.offset != want.offset:
			t.Fatalf("key %s reads as %v, its latest record is %v", k, g, want)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), cleanedSuffix) || strings.HasSuffix(e.Name(), swapSuffix) {
			t.Fatalf("%s left after recovery", e.Name())
		}
	}
}

// Recovery rolls back what a pass did not commit: *.cleaned files and an
// index .swap without its .log.swap are deleted, and that segment's
// indexes are rebuilt from the log (the old ones are not trusted).
func TestRecoveryRollsBackUncommittedCompaction(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c-0")
	l := compactLog(t, dir, [][]keyedSpec{{spec(put("a", "1"), put("b", "1"))}, {spec(put("a", "2"))}, {spec(put("z", "1"))}})
	want := recordStrings(readRecords(t, l))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte{0xff}, 24)
	for _, name := range []string{
		segmentFileName(0, logSuffix) + cleanedSuffix, segmentFileName(0, indexSuffix) + cleanedSuffix,
		segmentFileName(2, indexSuffix) + swapSuffix, segmentFileName(2, timeIndexSuffix) + swapSuffix,
	} {
		writeFile(t, filepath.Join(dir, name), garbage)
	}
	writeFile(t, segFile(dir, 2, indexSuffix), []byte{0, 0, 0, 0, 0, 0, 0, 0}) // plausible but wrong
	l2 := openLog(t, l.cfg)
	if got := recordStrings(readRecords(t, l2)); got != want {
		t.Fatalf("records %s, want %s", got, want)
	}
	if n := fileLen(t, segFile(dir, 2, indexSuffix)); n != 0 {
		t.Fatalf("index of segment 2 not rebuilt: %d bytes", n)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), cleanedSuffix) || strings.Contains(e.Name(), swapSuffix) {
			t.Fatalf("%s left", e.Name())
		}
	}
}

// Recovery completes a committed swap even when the original segment's
// files are already gone (an emptied segment being deleted).
func TestRecoveryCompletesSwapOfDeletedSegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c-0")
	l := compactLog(t, dir, [][]keyedSpec{{spec(put("a", "1"))}, {spec(put("b", "1"))}, {spec(put("z", "1"))}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := os.Rename(segFile(dir, 1, suffix), segFile(dir, 1, suffix)+swapSuffix); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(segFile(dir, 1, logSuffix)+swapSuffix, 0); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, l.cfg)
	wantRecords(t, l2, "0:a=1 2:z=1")
	if got := segmentBases(t, dir); !slices.Equal(got, []int64{0, 1, 2}) {
		t.Fatalf("segments %v", got)
	}
}

// Two interrupted passes never bring back a deleted key: the first stamps
// the tombstone's horizon while removing the key's older value, the second
// (past the horizon) drops the tombstone; a crash at any step of each, with
// a reopen in between, leaves the key deleted. This is what the offset
// order of the commits is for (cleaner.go, step a).
func TestCompactTwoCrashesNeverResurrectDeletedKey(t *testing.T) {
	groups := [][]keyedSpec{{spec(put("a", "1"), put("b", "1"))}, {spec(put("b", "2"))}, {spec(tombstone("a"))}, {spec(put("z", "1"))}}
	cfg := anyRatio()
	cfg.DeleteRetentionMs = 10
	stepsOf := func(now int64, before func(*Log)) []string {
		l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), groups)
		if before != nil {
			before(l)
		}
		var steps []string
		l.cleanHook = func(s string) error { steps = append(steps, s); return nil }
		if _, err := l.Compact(time.UnixMilli(now), cfg, l.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
		return steps
	}
	more := func(l *Log) { // a new dirty segment, so that a second pass runs
		mustAppend(t, l, keyedBatch(t, keyedSpec{recs: []kv{put("y", "1")}, ts: segTs(4), pid: -1}), 0)
	}
	first := stepsOf(segTs(5), nil)
	second := stepsOf(segTs(6), func(l *Log) { compactNow(t, l, segTs(5), cfg); more(l) })
	if len(first) < 6 || len(second) < 4 {
		t.Fatalf("steps %q, %q", first, second)
	}
	crashAt := func(l *Log, now int64, step string) string {
		img := filepath.Join(t.TempDir(), "c-0")
		l.cleanHook = func(s string) error {
			if s == step {
				copyDir(t, l.cfg.Dir, img)
				return errCrash
			}
			return nil
		}
		if _, err := l.Compact(time.UnixMilli(now), cfg, l.LogEndOffset()); !errors.Is(err, errCrash) {
			// the step is not reached in this state: the pass completed
			copyDir(t, l.cfg.Dir, img)
		}
		return img
	}
	for _, s1 := range first {
		for _, s2 := range second {
			l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), groups)
			l1 := openLog(t, l.cfg.withDir(crashAt(l, segTs(5), s1)))
			more(l1)
			l2 := openLog(t, l.cfg.withDir(crashAt(l1, segTs(6), s2)))
			var last *gotRecord // a consumer reading the log ends with this for key a
			for _, r := range readRecords(t, l2) {
				if r.key == "a" {
					last = &r
				}
			}
			if last != nil && !last.null {
				t.Fatalf("crash at %q, then at %q: deleted key a reads as %v", s1, s2, last)
			}
		}
	}
}
