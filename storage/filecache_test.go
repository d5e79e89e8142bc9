package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openFDsUnder counts this process's descriptors open on files in dir.
func openFDsUnder(t testing.TB, dir string) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range es {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n
}

// smallSegmentConfig rolls a segment every two 1 KiB batches.
func smallSegmentConfig(t testing.TB, dir string, fc *FileCache) Config {
	cfg := testConfig(t, dir)
	cfg.SegmentBytes = 2200
	cfg.FileCache = fc
	return cfg
}

// A log with many sealed segments holds at most the cache's bound of
// descriptors for them, plus the active segment's, however much of it is
// read, and reads stay correct while files are evicted and reopened.
func TestFileCacheBoundsSealedDescriptors(t *testing.T) {
	dir := t.TempDir()
	fc := NewFileCache(2)
	l := openLog(t, smallSegmentConfig(t, dir, fc))
	payload := kibBatch(t)
	for i := 0; i < 60; i++ {
		mustAppend(t, l, payload, 0)
	}
	if n := l.NumSegments(); n < 25 {
		t.Fatalf("%d segments, want many", n)
	}
	want := readAll(t, l, 0, l.LogEndOffset())
	// The active segment holds its .log and, once indexed, its two index files.
	if n := openFDsUnder(t, dir); n > 2+3 {
		t.Fatalf("%d descriptors open under the log directory with a cache of 2", n)
	}
	for i := 0; i < 3; i++ {
		if got := readAll(t, l, 0, l.LogEndOffset()); !bytes.Equal(got, want) {
			t.Fatal("reading through an evicting cache changed the bytes")
		}
	}
	st := fc.Stats()
	if st.Open > 2 || st.Evictions == 0 {
		t.Fatalf("cache stats %+v: want at most 2 open and some evictions", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openFDsUnder(t, dir); n != 0 {
		t.Fatalf("%d descriptors left open after Close", n)
	}
	if st := fc.Stats(); st.Open != 0 {
		t.Fatalf("cache still counts %d open files after Close", st.Open)
	}
	// Open checks the tail of every sealed segment, through the cache.
	l2 := openLog(t, smallSegmentConfig(t, dir, fc))
	if n := openFDsUnder(t, dir); n > 1+2 {
		t.Fatalf("%d descriptors after a clean reopen, want at most the active .log and 2", n)
	}
	if got := readAll(t, l2, 0, l2.LogEndOffset()); !bytes.Equal(got, want) {
		t.Fatal("reopened log reads different bytes")
	}
}

// Pinned regions hold duplicated descriptors: the cache closing the
// segment's own descriptor (eviction) does not affect them, and an
// unpinned ReadResult whose file was evicted opens it again in Bytes.
func TestPinnedRegionsSurviveEviction(t *testing.T) {
	fc := NewFileCache(1)
	l := openLog(t, smallSegmentConfig(t, t.TempDir(), fc))
	for i := 0; i < 8; i++ {
		mustAppend(t, l, kibBatch(t), 0)
	}
	rr, err := l.Read(0, 1, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	want, err := rr.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := rr.Pin()
	if errors.Is(err, ErrPinUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Release()
	first := l.segs[0]
	evictionsBefore := fc.Stats().Evictions
	readAll(t, l, 2, l.LogEndOffset()) // other segments: evicts the first's descriptor
	fc.mu.Lock()
	closed := first.cached.f == nil
	fc.mu.Unlock()
	if !closed || fc.Stats().Evictions == evictionsBefore {
		t.Fatalf("the first segment's descriptor was not evicted (stats %+v)", fc.Stats())
	}
	got := make([]byte, 0, len(want))
	for _, rg := range pinned.Regions {
		buf := make([]byte, rg.Len)
		if _, err := rg.File.ReadAt(buf, rg.Pos); err != nil {
			t.Fatalf("reading a pinned region after its segment's descriptor was evicted: %v", err)
		}
		got = append(got, buf...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("pinned bytes changed after eviction")
	}
	again, err := rr.Bytes()
	if err != nil || !bytes.Equal(again, want) {
		t.Fatalf("Bytes after eviction: %v", err)
	}
}

// checkBatchesFrom checks that b is whole valid batches, increasing, the
// first holding offset (or, with gaps, as after compaction, the first
// batch after it).
func checkBatchesFrom(b []byte, offset int64, gaps bool) error {
	hs, err := walkBatches(b, true)
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		return nil
	}
	if (hs[0].BaseOffset > offset && !gaps) || hs[0].LastOffset() < offset {
		return fmt.Errorf("read at %d returned a first batch %d-%d", offset, hs[0].BaseOffset, hs[0].LastOffset())
	}
	for i := 1; i < len(hs); i++ {
		if hs[i].BaseOffset <= hs[i-1].LastOffset() {
			return fmt.Errorf("batch %d at %d after %d", i, hs[i].BaseOffset, hs[i-1].LastOffset())
		}
	}
	return nil
}

// readChecked reads at a random offset and checks what Bytes or Pin
// returns; changes that invalidate a read (retention, compaction,
// truncation) are expected errors.
func readChecked(l *Log, rng *rand.Rand, gaps bool) error {
	start, leo := l.LogStartOffset(), l.LogEndOffset()
	if leo <= start {
		return nil
	}
	off := start + rng.Int64N(leo-start)
	rr, err := l.Read(off, int32(1+rng.IntN(8<<10)), leo)
	if err != nil || rr.Size == 0 {
		return err
	}
	var b []byte
	if rng.IntN(2) == 0 {
		b, err = rr.Bytes()
	} else {
		var p Pinned
		if p, err = rr.Pin(); err == nil {
			for _, rg := range p.Regions {
				buf := make([]byte, rg.Len)
				if _, err = rg.File.ReadAt(buf, rg.Pos); err != nil {
					break
				}
				b = append(b, buf...)
			}
			err = errors.Join(err, p.Release())
		}
	}
	if err != nil {
		return err
	}
	return checkBatchesFrom(b, off, gaps)
}

func expectedReadError(err error) bool {
	return err == nil || errors.Is(err, ErrOffsetOutOfRange) || errors.Is(err, ErrTruncated)
}

// Reads, retention deletes, compaction swaps and truncations of three logs
// run concurrently while a cache of one descriptor, shared by the three,
// evicts on nearly every read: every read returns valid batches holding
// the offset asked for, or a documented "read again" error, and nothing
// fails the logs. Run with -race.
func TestFileCacheEvictionConcurrentWithLogChanges(t *testing.T) {
	fc := NewFileCache(1)
	root := t.TempDir()
	retained := openLog(t, smallSegmentConfig(t, filepath.Join(root, "r-0"), fc))
	truncated := openLog(t, smallSegmentConfig(t, filepath.Join(root, "t-0"), fc))
	ccfg := testConfig(t, filepath.Join(root, "c-0"))
	ccfg.SegmentBytes, ccfg.FileCache = 300, fc
	compacted := openLog(t, ccfg)
	for i := 0; i < 40; i++ {
		mustAppend(t, retained, kibBatch(t), 0)
		mustAppend(t, truncated, kibBatch(t), 0)
		mustAppend(t, compacted, keyedBatch(t, spec(put(fmt.Sprint("k", i%5), fmt.Sprint("v", i)))), 0)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	run := func(name string, fn func(rng *rand.Rand) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(len(name)), 7))
			for !stop.Load() {
				if err := fn(rng); err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
					return
				}
			}
		}()
	}
	for _, l := range []*Log{retained, truncated, compacted} {
		for r := 0; r < 2; r++ {
			run("reader "+l.cfg.Dir, func(rng *rand.Rand) error {
				if err := readChecked(l, rng, l == compacted); !expectedReadError(err) {
					return err
				}
				return nil
			})
		}
	}
	run("retention", func(*rand.Rand) error {
		if _, err := retained.Append(kibBatch(t), 0, -1); err != nil {
			return err
		}
		_, err := retained.DeleteRecordsBefore(max(retained.LogEndOffset()-30, retained.LogStartOffset()))
		return err
	})
	run("truncation", func(rng *rand.Rand) error {
		for i := 0; i < 4; i++ {
			if _, err := truncated.Append(kibBatch(t), 0, -1); err != nil {
				return err
			}
		}
		return truncated.TruncateTo(truncated.LogEndOffset() - 1 - rng.Int64N(8))
	})
	seq := 0
	run("compaction", func(*rand.Rand) error {
		seq++
		if _, err := compacted.Append(keyedBatch(t, spec(put(fmt.Sprint("k", seq%5), fmt.Sprint("v", seq)))), 0, -1); err != nil {
			return err
		}
		_, err := compacted.Compact(time.Now(), anyRatio(), compacted.LogEndOffset())
		if errors.Is(err, ErrTruncated) {
			return nil
		}
		return err
	})
	time.Sleep(2 * time.Second) // a duration to run for, not a wait for a condition
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, l := range []*Log{retained, truncated, compacted} {
		if err := l.failure(); err != nil {
			t.Fatalf("%s failed: %v", l.cfg.Dir, err)
		}
		readAll(t, l, l.LogStartOffset(), l.LogEndOffset())
	}
	t.Logf("cache: %+v", fc.Stats())
	if st := fc.Stats(); st.Evictions == 0 {
		t.Fatal("no evictions: the test did not exercise the cache")
	}
}
