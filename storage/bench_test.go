package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
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
