package storage

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var longCrash = flag.Bool("long", false, "run the randomized crash test for thousands of seeds instead of a few hundred")

// crashModel is what the test knows about a live log's files: which bytes a
// power cut must preserve. Sealed segments are wholly durable (a roll
// fsyncs them); the active segment's .log is durable up to the size it had
// when the last fdatasync of the syncer began (recorded by the test hook,
// which runs with no append in flight because the test has one writer);
// the active segment's indexes promise nothing (recovery rebuilds them);
// checkpoints are replaced atomically, so they are whole.
type crashModel struct {
	mu       sync.Mutex
	syncedAt map[int64]int64 // segment base -> durable bytes of its .log
}

// crashImage copies the partition directory src to dst as a power cut at
// this instant could leave it: every file keeps its durable length plus a
// random part of its unsynced tail, torn anywhere, optionally followed by
// garbage (zeros or random bytes, as a size update that outran its data).
func (m *crashModel) crashImage(rng *rand.Rand, src, dst string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	active := int64(-1)
	for _, e := range entries {
		if base, ok := parseSegmentFileName(e.Name(), logSuffix); ok {
			active = max(active, base)
		}
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if base, suffix, ok := parseAnySegmentFileName(e.Name()); ok && base == active {
			durable := int64(0) // active indexes: nothing promised
			if suffix == logSuffix {
				durable = m.syncedAt[base]
			}
			if durable > int64(len(b)) {
				return fmt.Errorf("%s: durable length %d beyond file size %d", e.Name(), durable, len(b))
			}
			b = tornTail(rng, b, durable)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// tornTail keeps b[:durable], a random prefix of the rest, and maybe garbage.
func tornTail(rng *rand.Rand, b []byte, durable int64) []byte {
	keep := durable + rng.Int64N(int64(len(b))-durable+1)
	out := append([]byte(nil), b[:keep]...)
	switch rng.IntN(4) {
	case 0: // zeros: the file grew but its block never reached the disk
		out = append(out, make([]byte, 1+rng.IntN(4096))...)
	case 1: // random bytes
		g := make([]byte, 1+rng.IntN(512))
		for i := range g {
			g[i] = byte(rng.Uint32())
		}
		out = append(out, g...)
	}
	return out
}

// crashRun is one seeded run: the batches as appended (stamped), and how
// many offsets a returned Sync acknowledged.
type crashRun struct {
	batches [][]byte
	acked   int64 // every offset below it was acknowledged durable
}

// TestRandomCrashRecoversAcknowledgedPrefix is the randomized crash test
// of the doc.go "Durability" and "Recovery" promises: what Sync
// reported durable survives a crash, and the rest is cut as a torn tail.
//
// Each seed opens a log (DurabilityFsync, tiny random segment.bytes so that
// rolls are frequent), appends random batches (random sizes and record
// counts, now and then in a newer leader epoch), and calls Sync at random
// points; a batch counts as acknowledged once a Sync covering it returned.
// It then "crashes" at a random point — between two calls, or inside the
// syncer just before an fdatasync (mid-fsync: that Sync has not returned,
// so its batches are not acknowledged, but any part of them may be on
// disk) — by copying the directory as a power cut could leave it (see
// crashModel). The copy is reopened; the recovered log must be exactly a
// prefix of the appended batches (byte-identical, same offsets and epochs)
// holding every acknowledged batch, and must take and sync new appends and
// reopen to the same contents.
//
// A few hundred seeds run by default (on tmpfs when /dev/shm exists, as
// recovery fsyncs); `go test ./storage/ -run TestRandomCrash -long` runs
// 5,000. A failure names its seed; rerun it alone with -run
// 'TestRandomCrashRecoversAcknowledgedPrefix/seed=N'.
func TestRandomCrashRecoversAcknowledgedPrefix(t *testing.T) {
	seeds := 300
	if *longCrash {
		seeds = 5000
	} else if testing.Short() {
		seeds = 50
	}
	root := fastTempDir(t)
	for seed := 0; seed < seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			dir := filepath.Join(root, fmt.Sprint(seed))
			defer os.RemoveAll(dir)
			crashOnce(t, uint64(seed), dir)
		})
	}
}

func crashOnce(t *testing.T, seed uint64, dir string) {
	rng := rand.New(rand.NewPCG(seed, 0x5a35a))
	cfg := DefaultConfig(filepath.Join(dir, "live-0"))
	cfg.SegmentBytes = int64(512 + rng.IntN(8192))
	cfg.IndexIntervalBytes = rng.IntN(1024)
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	img := filepath.Join(dir, "crashed-0")
	run, m, crashed := appendUntilCrash(t, rng, l, img)
	if !crashed {
		if err := m.crashImage(rng, cfg.Dir, img); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Dir = img
	checkRecovered(t, cfg, run)
}

// appendUntilCrash drives l with random appends and syncs until a crash
// point is drawn. If the crash is drawn inside the syncer (mid-fsync), the
// image is written there and crashed is true.
func appendUntilCrash(t *testing.T, rng *rand.Rand, l *Log, img string) (run crashRun, m *crashModel, crashed bool) {
	m = &crashModel{syncedAt: map[int64]int64{}}
	hookRng := rand.New(rand.NewPCG(rng.Uint64(), 1)) // used only by the syncer goroutine
	var hookErr error
	var inFsync atomic.Bool
	crashInFsync := rng.IntN(3) == 0 // else crash between calls
	hook := func() {
		l.mu.RLock()
		seg := l.segs[len(l.segs)-1]
		l.mu.RUnlock()
		if crashInFsync && !inFsync.Load() && hookRng.IntN(4) == 0 {
			hookErr = m.crashImage(hookRng, l.cfg.Dir, img)
			inFsync.Store(true)
			return
		}
		m.mu.Lock()
		m.syncedAt[seg.base] = seg.size.Load()
		m.mu.Unlock()
	}
	l.testHook.Store(&hook)

	epoch, ts := int32(0), int64(1_000_000)
	ops := 5 + rng.IntN(120)
	for op := 0; op < ops && !inFsync.Load(); op++ {
		switch r := rng.IntN(10); {
		case r < 7:
			if rng.IntN(20) == 0 {
				epoch++
			}
			b := makeBatch(batchOpts{records: 1 + rng.IntN(8), valueSize: rng.IntN(400), firstTs: ts, tsStep: 1})
			ts += 10
			info, err := l.Append(b, epoch, -1)
			if err != nil {
				t.Fatalf("op %d: Append: %v", op, err)
			}
			if want := batchBase(run.batches); info.BaseOffset != want {
				t.Fatalf("op %d: appended at %d, want %d", op, info.BaseOffset, want)
			}
			run.batches = append(run.batches, b) // stamped in place by Append
		default:
			leo := l.LogEndOffset()
			upTo := leo
			if leo > run.acked && rng.IntN(3) == 0 {
				upTo = run.acked + 1 + rng.Int64N(leo-run.acked)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := l.Sync(ctx, upTo)
			cancel()
			if err != nil {
				t.Fatalf("op %d: Sync(%d): %v", op, upTo, err)
			}
			if !inFsync.Load() { // a Sync that returned after the crash point acknowledged nothing
				run.acked = max(run.acked, upTo)
			}
		}
	}
	if hookErr != nil {
		t.Fatalf("writing the crash image: %v", hookErr)
	}
	return run, m, inFsync.Load()
}

// batchBase is the offset the next batch after bs gets.
func batchBase(bs [][]byte) int64 {
	if len(bs) == 0 {
		return 0
	}
	h, _ := ParseBatchHeader(bs[len(bs)-1])
	return h.NextOffset()
}

// checkRecovered opens the crash image and checks the recovered log is a
// prefix of run.batches holding every acknowledged batch, takes appends,
// and reopens to the same contents.
func checkRecovered(t *testing.T, cfg Config, run crashRun) {
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open of the crash image: %v (acknowledged below offset %d)", err, run.acked)
	}
	defer l.Close()
	got := readAll(t, l, l.LogStartOffset(), l.LogEndOffset())
	k, pos := 0, 0
	for k < len(run.batches) && pos+len(run.batches[k]) <= len(got) && bytes.Equal(got[pos:pos+len(run.batches[k])], run.batches[k]) {
		pos += len(run.batches[k])
		k++
	}
	if pos != len(got) {
		t.Fatalf("recovered %d bytes; only the first %d (%d batches) match the appended batches", len(got), pos, k)
	}
	if leo := batchBase(run.batches[:k]); l.LogEndOffset() != leo {
		t.Fatalf("recovered LEO %d, want %d after %d whole batches", l.LogEndOffset(), leo, k)
	}
	if k < len(run.batches) {
		if h, _ := ParseBatchHeader(run.batches[k]); h.BaseOffset < run.acked {
			t.Fatalf("lost acknowledged data: recovered up to offset %d, Sync acknowledged below %d", h.BaseOffset, run.acked)
		}
	}
	if l.DurableOffset() != l.LogEndOffset() {
		t.Fatalf("after recovery DurableOffset %d != LogEndOffset %d", l.DurableOffset(), l.LogEndOffset())
	}
	checkAppendAfterRecovery(t, l, cfg, append(run.batches[:k:k], nil))
}

// checkAppendAfterRecovery appends and syncs one batch, then reopens the
// log and compares the whole contents with want (whose last element is
// replaced by the batch appended here).
func checkAppendAfterRecovery(t *testing.T, l *Log, cfg Config, want [][]byte) {
	b := batch(3, 50, 9_999_999)
	epoch := max(l.LatestEpoch(), 0)
	info, err := l.Append(b, epoch, -1)
	if err != nil {
		t.Fatalf("Append after recovery: %v", err)
	}
	if info.BaseOffset != batchBase(want[:len(want)-1]) {
		t.Fatalf("append after recovery at %d, want %d", info.BaseOffset, batchBase(want[:len(want)-1]))
	}
	if err := l.Sync(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatalf("Sync after recovery: %v", err)
	}
	want[len(want)-1] = b
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(cfg)
	if err != nil {
		t.Fatalf("reopen after recovery: %v", err)
	}
	defer r.Close()
	if got := readAll(t, r, r.LogStartOffset(), r.LogEndOffset()); !bytes.Equal(got, bytes.Join(want, nil)) {
		t.Fatalf("after reopen: %d bytes, want %d", len(got), len(bytes.Join(want, nil)))
	}
}
