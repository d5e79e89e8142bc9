package storage

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// kibBatch is an uncompressed batch of exactly 1 KiB.
func kibBatch(tb testing.TB) []byte {
	for v := 900; v < 1024; v++ {
		if b := batch(1, v, 0); len(b) == 1024 {
			return b
		}
	}
	tb.Fatal("cannot build a 1 KiB batch")
	return nil
}

// runWriters runs n ops split over writers goroutines, each with its own
// copy of payload.
func runWriters(b *testing.B, writers int, payload []byte, op func(buf []byte) error) {
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		n := b.N / writers
		if w < b.N%writers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := append([]byte(nil), payload...)
			for i := 0; i < n; i++ {
				if err := op(buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkAppendSync: produce with acks waiting for fsync, one 1 KiB batch
// per Append+Sync, by 1 and by 8 concurrent writers (group commit).
func BenchmarkAppendSync(b *testing.B) {
	payload := kibBatch(b)
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			cfg := DefaultConfig(b.TempDir())
			l, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			runWriters(b, writers, payload, func(buf []byte) error {
				info, err := l.Append(buf, 0, -1)
				if err != nil {
					return err
				}
				return l.Sync(context.Background(), info.LastOffset+1)
			})
			b.StopTimer()
			b.ReportMetric(float64(l.fsyncs.Load())/float64(b.N), "fsyncs/op")
		})
	}
}

// BenchmarkRawFileWriteFdatasync is the baseline for BenchmarkAppendSync: a
// plain append-only file, one write and one fdatasync per 1 KiB, by 1 and by
// 8 concurrent writers (no grouping).
func BenchmarkRawFileWriteFdatasync(b *testing.B) {
	payload := kibBatch(b)
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			runWriters(b, writers, payload, func(buf []byte) error {
				if _, err := f.Write(buf); err != nil {
					return err
				}
				return fdatasync(f)
			})
		})
	}
}

// BenchmarkRead: fetches of 64 KiB (64 batches) at random offsets of a
// 16 MiB log in the page cache, copied out with Bytes.
func BenchmarkRead(b *testing.B) {
	cfg := DefaultConfig(b.TempDir())
	cfg.Durability = DurabilityPageCache
	cfg.SegmentBytes = 4 << 20
	l, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	payload := kibBatch(b)
	for i := 0; i < 16<<10; i++ {
		if _, err := l.Append(append([]byte(nil), payload...), 0, -1); err != nil {
			b.Fatal(err)
		}
	}
	const fetch = 64 << 10
	leo := l.LogEndOffset()
	rng := rand.New(rand.NewPCG(1, 1))
	b.SetBytes(fetch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := l.Read(rng.Int64N(leo-64), fetch, leo)
		if err != nil {
			b.Fatal(err)
		}
		out, err := res.Bytes()
		if err != nil || len(out) != fetch {
			b.Fatalf("read %d bytes: %v", len(out), err)
		}
	}
}

// sizedBatch is an uncompressed one-record batch of exactly size bytes.
func sizedBatch(tb testing.TB, size int) []byte {
	for v := size - 100; v <= size; v++ {
		if b := batch(1, v, 0); len(b) == size {
			return b
		}
	}
	tb.Fatalf("cannot build a %d-byte batch", size)
	return nil
}

var appendSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"1MiB", 1 << 20}}

// BenchmarkLogAppend: the durable produce path, one writer, one batch per
// op: Append, then Sync up to the new log end (an fdatasync by a sync
// worker). Compare each size with BenchmarkRawFileWrite of the same size,
// run in the same invocation (the aim: at least 90% of raw throughput).
func BenchmarkLogAppend(b *testing.B) {
	for _, sz := range appendSizes {
		b.Run(sz.name, func(b *testing.B) {
			payload := sizedBatch(b, sz.size)
			l, err := Open(DefaultConfig(b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				info, err := l.Append(payload, 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Sync(context.Background(), info.LastOffset+1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawFileWrite is BenchmarkLogAppend's baseline: the same bytes
// written to a plain O_APPEND file, one write(2) and one fdatasync(2) per op.
func BenchmarkRawFileWrite(b *testing.B) {
	for _, sz := range appendSizes {
		b.Run(sz.name, func(b *testing.B) {
			payload := sizedBatch(b, sz.size)
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.Write(payload); err != nil {
					b.Fatal(err)
				}
				if err := fdatasync(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readBenchLog is a 16 MiB log of 1 KiB batches in 4 MiB segments, in the
// page cache, for the fetch benchmarks.
func readBenchLog(b *testing.B) *Log {
	cfg := DefaultConfig(b.TempDir())
	cfg.Durability = DurabilityPageCache
	cfg.SegmentBytes = 4 << 20
	l, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	payload := kibBatch(b)
	for i := 0; i < 16<<10; i++ {
		if _, err := l.Append(append([]byte(nil), payload...), 0, -1); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// drainedConn is the client end of a loopback TCP connection whose server
// end a goroutine reads and discards, as a consumer socket would.
func drainedConn(b *testing.B) *net.TCPConn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	s, err := ln.Accept() // before ln.Close, which would reset a pending connection
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, s)
		_ = s.Close()
	}()
	b.Cleanup(func() { _ = c.Close(); <-done })
	return c.(*net.TCPConn)
}

const fetchBytes = 64 << 10

// BenchmarkLogReadCopy is BenchmarkLogReadSendfile's baseline: the same
// fetches copied through user space (Read, Bytes, conn.Write).
func BenchmarkLogReadCopy(b *testing.B) {
	l := readBenchLog(b)
	conn := drainedConn(b)
	leo := l.LogEndOffset()
	rng := rand.New(rand.NewPCG(1, 1))
	b.SetBytes(fetchBytes)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := l.Read(rng.Int64N(leo-64), fetchBytes, leo)
		if err != nil {
			b.Fatal(err)
		}
		out, err := res.Bytes()
		if err != nil || len(out) != fetchBytes {
			b.Fatalf("read %d bytes: %v", len(out), err)
		}
		if _, err := conn.Write(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupRandomOffset: Read of one batch (maxBytes 1) at a random
// offset of a log of 10 and of 1,000 segments (four 1 KiB batches each),
// and, as "index-only", just the two searches Read starts with (the segment
// by binary search over base offsets, then the sparse index), which must not
// allocate. Comparing the sizes shows the lookup grows as O(log n).
func BenchmarkLookupRandomOffset(b *testing.B) {
	for _, n := range []int{10, 1000} {
		cfg := DefaultConfig(b.TempDir())
		cfg.Durability = DurabilityPageCache
		cfg.SegmentBytes = 4 << 10
		cfg.IndexIntervalBytes = 1 << 10
		l, err := Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		payload := kibBatch(b)
		for l.NumSegments() < n || l.segs[len(l.segs)-1].size.Load() < 3<<10 {
			if _, err := l.Append(payload, 0, -1); err != nil {
				b.Fatal(err)
			}
		}
		leo := l.LogEndOffset()
		b.Run(fmt.Sprintf("segments=%d/read", l.NumSegments()), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(2, 2))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				res, err := l.Read(rng.Int64N(leo), 1, leo)
				if err != nil || res.Size != int64(len(payload)) {
					b.Fatalf("read %d bytes: %v", res.Size, err)
				}
			}
		})
		b.Run(fmt.Sprintf("segments=%d/index-only", l.NumSegments()), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(2, 2))
			b.ReportAllocs()
			var sink int64
			for i := 0; i < b.N; i++ {
				off := rng.Int64N(leo)
				l.mu.RLock()
				seg := l.segs[l.segmentIndexLocked(off)]
				sink += seg.indexPosition(off, seg.size.Load())
				l.mu.RUnlock()
			}
			_ = sink
		})
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen10kPartitions opens 10,000 small partition logs (three
// segments of four 1 KiB batches or less each, with an epoch checkpoint)
// as a broker start does, all at once, sharing one FileCache bounded at
// open10kMaxOpen sealed files and one SyncScheduler, and reports the time
// per Open and, while all are open, the heap (runtime.MemStats) and the
// resident memory (VmRSS) an open log keeps, its descriptors and its
// goroutines. Each log holds one descriptor for its active segment; the
// 20,000 sealed segments share the bounded cache. Run with -benchtime 1x:
// one op opens all 10,000.
func BenchmarkOpen10kPartitions(b *testing.B) {
	const partitions = 10_000
	root := b.TempDir()
	tmpl := filepath.Join(root, "template-0")
	cfg := DefaultConfig(tmpl)
	cfg.SegmentBytes = 4 << 10
	l, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := l.Append(kibBatch(b), 0, -1); err != nil {
			b.Fatal(err)
		}
	}
	if n := l.NumSegments(); n != 3 {
		b.Fatalf("template has %d segments, want 3", n)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	dirs := make([]string, partitions)
	for p := range dirs {
		dirs[p] = filepath.Join(root, PartitionDirName("bench", int32(p)))
		copyDir(b, tmpl, dirs[p]) // plain copies, no fsync: setup, not under test
	}
	var heap, rss, fds, goroutines float64
	var opened time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, r, f, g, d := openAll(b, dirs)
		heap, rss, fds, goroutines, opened = heap+h, rss+r, fds+f, goroutines+g, opened+d
	}
	b.StopTimer()
	n := float64(b.N * partitions)
	b.ReportMetric(float64(opened.Nanoseconds())/n, "ns/open")
	b.ReportMetric(heap/n, "heap-B/log")
	b.ReportMetric(rss/n, "rss-B/log")
	b.ReportMetric(fds/n, "fds/log")
	b.ReportMetric(goroutines/n, "goroutines/log")
}

// open10kMaxOpen is BenchmarkOpen10kPartitions' storage.max.open.segments.
const open10kMaxOpen = 1000

// openAll opens the logs in dirs, measures what they hold once all are
// open (totals), and closes them.
func openAll(b *testing.B, dirs []string) (heap, rss, fds, goroutines float64, took time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fd0, g0, rss0 := countFDs(b), runtime.NumGoroutine(), residentBytes(b)
	fc, sched := NewFileCache(open10kMaxOpen), NewSyncScheduler(4)
	logs := make([]*Log, len(dirs))
	began := time.Now()
	for i, d := range dirs {
		cfg := DefaultConfig(d)
		cfg.FileCache, cfg.SyncScheduler = fc, sched
		var err error
		if logs[i], err = Open(cfg); err != nil {
			b.Fatal(err)
		}
	}
	took = time.Since(began)
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap = float64(after.HeapAlloc) - float64(before.HeapAlloc)
	rss = float64(residentBytes(b) - rss0)
	fds, goroutines = float64(countFDs(b)-fd0), float64(runtime.NumGoroutine()-g0)
	for _, l := range logs {
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	runtime.KeepAlive(logs)
	b.StartTimer()
	return heap, rss, fds, goroutines, took
}

// residentBytes is the process's VmRSS.
func residentBytes(b *testing.B) int64 {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	b.Skip("no VmRSS")
	return 0
}

func countFDs(b *testing.B) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Skip("no /proc/self/fd")
	}
	return len(es)
}
