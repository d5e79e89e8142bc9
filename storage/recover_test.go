package storage

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// crashLog builds a multi-segment log, syncs it, then appends unsynced
// batches (in a newer epoch) that stay in the active segment. It returns the
// log, the synced batches and the synced size of the active segment.
func crashLog(t *testing.T, dir string) (l *Log, synced [][]byte, active *segment, syncedSize int64, unsynced [][]byte) {
	t.Helper()
	cfg := testConfig(t, dir)
	cfg.SegmentBytes = 8192
	cfg.IndexIntervalBytes = 512
	l = openLog(t, cfg)
	for len(l.segs) < 3 || l.segs[len(l.segs)-1].size.Load() > 3000 || l.segs[len(l.segs)-1].size.Load() == 0 {
		b := batch(2, 120, int64(len(synced)))
		mustAppend(t, l, b, 0)
		synced = append(synced, b)
	}
	if err := l.Sync(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	active = l.segs[len(l.segs)-1]
	syncedSize = active.size.Load()
	for i := 0; i < 10; i++ {
		b := batch(2, 120, 1000+int64(i))
		mustAppend(t, l, b, 3)
		unsynced = append(unsynced, b)
	}
	if l.segs[len(l.segs)-1] != active {
		t.Fatal("the unsynced appends rolled; the test's sizes are wrong")
	}
	return l, synced, active, syncedSize, unsynced
}

// Only synced data survives a crash: whatever follows the synced size of the
// last segment (a torn batch, garbage, zeros from an extended file) is a torn
// tail, truncated by recovery; the epoch of the lost appends is forgotten, and
// the log takes appends again.
func TestCrashKeepsSyncedPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	garbage := make([]byte, 3000)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	for name, tail := range map[string]func(unsynced [][]byte) []byte{
		"torn batch":     func(u [][]byte) []byte { return u[0][:len(u[0])/2] },
		"torn header":    func(u [][]byte) []byte { return u[0][:20] },
		"random garbage": func([][]byte) []byte { return garbage },
		"zeros":          func([][]byte) []byte { return make([]byte, 4096) },
		"nothing":        func([][]byte) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "live-0")
			l, synced, active, syncedSize, unsynced := crashLog(t, src)
			img := filepath.Join(t.TempDir(), "crashed-0")
			copyDir(t, src, img)
			data, err := os.ReadFile(active.name())
			if err != nil {
				t.Fatal(err)
			}
			crashed := append(data[:syncedSize:syncedSize], tail(unsynced)...)
			if err := os.WriteFile(filepath.Join(img, filepath.Base(active.name())), crashed, 0o644); err != nil {
				t.Fatal(err)
			}
			syncedEnd := mustHeaders(t, bytes.Join(synced, nil))[len(synced)-1].NextOffset()
			if l.DurableOffset() < syncedEnd {
				t.Fatalf("durable offset %d below the synced %d", l.DurableOffset(), syncedEnd)
			}

			cfg := testConfig(t, img)
			cfg.SegmentBytes = 8192
			r := openLog(t, cfg)
			if r.LogEndOffset() != syncedEnd || r.DurableOffset() != syncedEnd {
				t.Fatalf("recovered LEO %d durable %d, want %d", r.LogEndOffset(), r.DurableOffset(), syncedEnd)
			}
			checkContents(t, r, synced)
			if r.LatestEpoch() != 0 {
				t.Fatalf("epoch %d of lost appends survived", r.LatestEpoch())
			}
			more := batch(1, 10, 5000)
			if info := mustAppend(t, r, more, 4); info.BaseOffset != syncedEnd {
				t.Fatalf("append after recovery at %d", info.BaseOffset)
			}
			checkContents(t, r, append(synced, more))
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			checkContents(t, openLog(t, cfg), append(synced, more))
		})
	}
}

// A bad batch followed by valid data is not a torn tail: recovery must refuse
// to start (ErrCorrupt, naming the file and byte) rather than drop the
// acknowledged batches after it.
func TestRecoveryRefusesCorruptionFollowedByValidData(t *testing.T) {
	for name, corrupt := range map[string]func(b []byte, pos int){
		"flipped record byte": func(b []byte, pos int) { b[pos+100] ^= 0x40 },
		"bad length":          func(b []byte, pos int) { be.PutUint32(b[pos+offBatchLength:], 1<<30) },
		"zeroed header":       func(b []byte, pos int) { clear(b[pos : pos+BatchHeaderSize]) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir)
			l, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var pos5 int
			for i := 0; i < 10; i++ {
				if i == 5 {
					pos5 = int(l.segs[0].size.Load())
				}
				mustAppend(t, l, batch(3, 100, int64(i)), 0)
			}
			_ = l.Close()
			forgetCleanShutdown(t, dir) // the damage is what a crash leaves
			path := segFile(dir, 0, logSuffix)
			b, _ := os.ReadFile(path)
			corrupt(b, pos5)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Open(cfg)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "byte "+strconv.Itoa(pos5)) {
				t.Fatalf("error %q does not name %s and byte %d", err, path, pos5)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
				t.Fatal("refused recovery still modified the segment")
			}
		})
	}
}

// multiSegmentLog writes a log of several segments with timestamps, closes
// it and returns its config and batches.
func multiSegmentLog(t *testing.T) (Config, [][]byte, tsModel) {
	t.Helper()
	cfg := smallConfig(t, t.TempDir())
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var bs [][]byte
	var m tsModel
	for i := 0; i < 60; i++ {
		b := makeBatch(batchOpts{records: 2, valueSize: 150, firstTs: int64(500 + (i%9)*40 - i), tsStep: 5})
		mustAppend(t, l, b, 0)
		bs = append(bs, b)
		m.hs = append(m.hs, mustHeaders(t, b)[0])
	}
	if len(l.segs) < 4 {
		t.Fatalf("only %d segments", len(l.segs))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg, bs, m
}

// A sealed segment was fsynced before its successor existed, so damage in it
// is never a crash artefact: ErrCorrupt, even at its very end.
func TestRecoveryRefusesCorruptSealedSegment(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, dir string){
		"flipped byte, index missing": func(t *testing.T, dir string) {
			mustRemove(t, segFile(dir, 0, indexSuffix))
			flipByte(t, segFile(dir, 0, logSuffix), 200)
		},
		"cut tail, index present": func(t *testing.T, dir string) {
			p := segFile(dir, 0, logSuffix)
			if err := os.Truncate(p, fileLen(t, p)-30); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, _, _ := multiSegmentLog(t)
			damage(t, cfg.Dir)
			if _, err := Open(cfg); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), segmentFileName(0, logSuffix)) {
				t.Fatalf("Open = %v, want ErrCorrupt naming segment 0", err)
			}
		})
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Missing or damaged .index/.timeindex files are rebuilt from the .log, to
// exactly the entries the appends wrote, and reads stay correct.
func TestRecoveryRebuildsIndexes(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, dir string, bases []int64){
		"deleted index": func(t *testing.T, dir string, bases []int64) {
			mustRemove(t, segFile(dir, bases[1], indexSuffix))
		},
		"deleted time index": func(t *testing.T, dir string, bases []int64) {
			mustRemove(t, segFile(dir, bases[0], timeIndexSuffix))
		},
		"garbage index": func(t *testing.T, dir string, bases []int64) {
			for _, b := range bases {
				writeFile(t, segFile(dir, b, indexSuffix), bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 6))
			}
		},
		"torn index": func(t *testing.T, dir string, bases []int64) {
			p := segFile(dir, bases[2], indexSuffix)
			if err := os.Truncate(p, fileLen(t, p)-3); err != nil {
				t.Fatal(err)
			}
		},
		"empty time index": func(t *testing.T, dir string, bases []int64) {
			writeFile(t, segFile(dir, bases[1], timeIndexSuffix), nil)
		},
		"index pointing past the log": func(t *testing.T, dir string, bases []int64) {
			var b []byte
			b = appendOffsetEntries(b, []offsetEntry{{rel: 1, pos: 1}, {rel: 2, pos: 1 << 30}})
			writeFile(t, segFile(dir, bases[0], indexSuffix), b)
		},
		"active segment index garbage": func(t *testing.T, dir string, bases []int64) {
			writeFile(t, segFile(dir, bases[len(bases)-1], indexSuffix), []byte{1, 2, 3})
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, bs, m := multiSegmentLog(t)
			bases := segmentBases(t, cfg.Dir)
			orig := indexFiles(t, cfg.Dir)
			damage(t, cfg.Dir, bases)
			l := openLog(t, cfg)
			checkContents(t, l, bs)
			checkTimestamps(t, l, m, []int64{0, 300, 450, 500, 600, 700, 800})
			if got := indexFiles(t, cfg.Dir); !equalMaps(got, orig) {
				t.Fatal("rebuilt index files differ from the ones the appends wrote")
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func segmentBases(t *testing.T, dir string) []int64 {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"+logSuffix))
	var bases []int64
	for _, n := range names {
		b, ok := parseSegmentFileName(filepath.Base(n), logSuffix)
		if !ok {
			t.Fatalf("bad segment name %s", n)
		}
		bases = append(bases, b)
	}
	return bases
}

func indexFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, pat := range []string{"*" + indexSuffix, "*" + timeIndexSuffix} {
		names, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(n)] = string(b)
		}
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A crash right after a roll can leave an empty last segment; it is the
// active segment after recovery.
func TestRecoveryEmptyLastSegment(t *testing.T) {
	cfg, bs, _ := multiSegmentLog(t)
	l := openLog(t, cfg)
	leo := l.LogEndOffset()
	_ = l.Close()
	writeFile(t, segFile(cfg.Dir, leo, logSuffix), nil)
	l = openLog(t, cfg)
	if l.LogEndOffset() != leo || l.segs[len(l.segs)-1].base != leo {
		t.Fatalf("LEO %d, active base %d, want %d", l.LogEndOffset(), l.segs[len(l.segs)-1].base, leo)
	}
	more := batch(1, 1, 0)
	mustAppend(t, l, more, 0)
	checkContents(t, l, append(bs, more))
}

func TestRecoveryRemovesLeftoversAndChecksCheckpoint(t *testing.T) {
	cfg, bs, _ := multiSegmentLog(t)
	tmp := filepath.Join(cfg.Dir, epochCheckpointFile+tmpSuffix)
	orphan := segFile(cfg.Dir, 99999, indexSuffix)
	writeFile(t, tmp, []byte("0\n1\n"))
	writeFile(t, orphan, make([]byte, 16))
	l := openLog(t, cfg)
	checkContents(t, l, bs)
	for _, p := range []string{tmp, orphan} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s not removed: %v", p, err)
		}
	}
	_ = l.Close()
	writeFile(t, filepath.Join(cfg.Dir, epochCheckpointFile), []byte("0\n2\n5 10\n"))
	if _, err := Open(cfg); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a broken epoch checkpoint: %v, want ErrCorrupt", err)
	}
}

// Segments that overlap cannot come from this log: refuse them.
func TestRecoveryRefusesOverlappingSegments(t *testing.T) {
	cfg, _, _ := multiSegmentLog(t)
	bases := segmentBases(t, cfg.Dir)
	if err := copyFile(segFile(cfg.Dir, bases[1], logSuffix), segFile(cfg.Dir, bases[1]-1, logSuffix)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
}

// A roll seals (fsyncs) the old segment before the new one exists, so a
// crash that tears the new segment loses only what was appended after the
// roll, even without any Sync call.
func TestCrashAfterRollKeepsSealedSegments(t *testing.T) {
	src := filepath.Join(t.TempDir(), "live-0")
	cfg := smallConfig(t, src)
	cfg.Durability = DurabilityPageCache
	l := openLog(t, cfg)
	var bs [][]byte
	for len(l.segs) < 3 {
		b := batch(2, 150, int64(len(bs)))
		mustAppend(t, l, b, 0)
		bs = append(bs, b)
	}
	active := l.segs[len(l.segs)-1]
	sealedEnd := active.base
	img := filepath.Join(t.TempDir(), "crashed-0")
	copyDir(t, src, img)
	last := bs[len(bs)-1]
	writeFile(t, filepath.Join(img, filepath.Base(active.name())), last[:len(last)/3])
	cfg.Dir = img
	r := openLog(t, cfg)
	if r.LogEndOffset() != sealedEnd {
		t.Fatalf("recovered LEO %d, want the sealed end %d", r.LogEndOffset(), sealedEnd)
	}
	checkContents(t, r, bs[:len(bs)-1])
}
