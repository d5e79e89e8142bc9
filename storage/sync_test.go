package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// appendAndSync is one producer with acks waiting for durability.
func appendAndSync(l *Log, b []byte) error {
	info, err := l.Append(b, 0, -1)
	if err != nil {
		return err
	}
	if err := l.Sync(context.Background(), info.LastOffset+1); err != nil {
		return err
	}
	if d := l.DurableOffset(); d <= info.LastOffset {
		return fmt.Errorf("Sync returned with durable offset %d <= %d", d, info.LastOffset)
	}
	return nil
}

// Group commit: Sync calls that arrive while an fsync runs share the next
// one. With the first fsync held, 15 more producers append and wait; when it
// is released, exactly one more fsync serves all 15.
func TestGroupCommitSharesFsyncs(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	entered := make(chan struct{}, 64)
	release := make(chan struct{})
	hook := func() {
		entered <- struct{}{}
		<-release
	}
	l.testHook.Store(&hook)
	const n = 16
	errs := make(chan error, n)
	go func() { errs <- appendAndSync(l, batch(1, 100, 0)) }()
	<-entered
	for i := 1; i < n; i++ {
		go func() { errs <- appendAndSync(l, batch(1, 100, 0)) }()
	}
	waitFor(t, 10*time.Second, func() error {
		if p := l.syncer.pending(); p != n {
			return fmt.Errorf("%d of %d Sync calls waiting", p, n)
		}
		return nil
	})
	close(release)
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := l.fsyncs.Load(); got != 2 {
		t.Fatalf("%d fsyncs for %d appends, want 2 (one held, one shared by the rest)", got, n)
	}
	if l.DurableOffset() != l.LogEndOffset() {
		t.Fatalf("durable %d, LEO %d", l.DurableOffset(), l.LogEndOffset())
	}
}

// Many concurrent producers (appends crossing segment rolls) all see their
// offsets durable, with fewer fsyncs than appends.
func TestConcurrentAppendSyncAllDurable(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 64 << 10
	l := openLog(t, cfg)
	const writers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := appendAndSync(l, batch(1, 900, int64(i))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if l.LogEndOffset() != writers*each || l.DurableOffset() != l.LogEndOffset() {
		t.Fatalf("LEO %d durable %d, want %d", l.LogEndOffset(), l.DurableOffset(), writers*each)
	}
	fsyncs := l.fsyncs.Load()
	t.Logf("%d appends, %d group-commit fsyncs, %d segments", writers*each, fsyncs, len(l.segs))
	if fsyncs >= writers*each {
		t.Fatalf("%d fsyncs for %d appends: no group commit", fsyncs, writers*each)
	}
	if hs := mustHeaders(t, readAll(t, l, 0, l.LogEndOffset())); len(hs) != writers*each {
		t.Fatalf("read back %d batches", len(hs))
	}
}

func TestSyncContextCancelled(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	release := make(chan struct{})
	hook := func() { <-release }
	l.testHook.Store(&hook)
	info := mustAppend(t, l, batch(1, 1, 0), 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Sync(ctx, info.LastOffset+1) }()
	waitFor(t, 10*time.Second, func() error {
		if l.syncer.pending() == 0 {
			return errors.New("Sync not waiting yet")
		}
		return nil
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync = %v, want context.Canceled", err)
	}
	close(release)
	if err := l.Sync(context.Background(), info.LastOffset+1); err != nil {
		t.Fatal(err)
	}
}

func TestSyncEdgeCases(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	if err := l.Sync(context.Background(), 0); err != nil {
		t.Fatalf("Sync(0) on an empty log: %v", err)
	}
	mustAppend(t, l, batch(2, 1, 0), 0)
	if err := l.Sync(context.Background(), 3); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Sync past LEO: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.DurableOffset() != 2 {
		t.Fatalf("Close left durable offset %d", l.DurableOffset())
	}
}

// DurabilityPageCache: Sync never waits and never fsyncs.
func TestSyncPageCache(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Durability = DurabilityPageCache
	l := openLog(t, cfg)
	for i := 0; i < 10; i++ {
		if err := appendAndSync(l, batch(1, 10, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if l.fsyncs.Load() != 0 {
		t.Fatalf("page-cache mode ran %d fsyncs", l.fsyncs.Load())
	}
}
