package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func schedConfig(t testing.TB, dir string, sched *SyncScheduler) Config {
	cfg := testConfig(t, dir)
	cfg.SyncScheduler = sched
	return cfg
}

// An open log owns no goroutine, idle or after syncing: 200 logs in fsync
// mode add none while idle, their Syncs run on the scheduler's pool, and
// the pool's workers exit once the work is done.
func TestIdleLogsHoldNoGoroutine(t *testing.T) {
	sched := NewSyncScheduler(3)
	before := runtime.NumGoroutine()
	root := t.TempDir()
	logs := make([]*Log, 200)
	for i := range logs {
		logs[i] = openLog(t, schedConfig(t, filepath.Join(root, PartitionDirName("idle", int32(i))), sched))
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after opening 200 logs, %d before", n, before)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(logs))
	for _, l := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- appendAndSync(l, batch(1, 10, 0))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sched.Idle()
	waitFor(t, 10*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines after the syncs, %d before", n, before)
		}
		return nil
	})
}

// The pool fsyncs different logs concurrently: with one log's fdatasync
// held, another log's Sync completes on a second worker.
func TestSchedulerSyncsLogsConcurrently(t *testing.T) {
	sched := NewSyncScheduler(2)
	slow := openLog(t, schedConfig(t, t.TempDir(), sched))
	fast := openLog(t, schedConfig(t, t.TempDir(), sched))
	entered, release := make(chan struct{}), make(chan struct{})
	hook := func() { close(entered); <-release }
	slow.testHook.Store(&hook)
	slowDone := make(chan error, 1)
	go func() { slowDone <- appendAndSync(slow, batch(1, 10, 0)) }()
	<-entered
	if err := appendAndSync(fast, batch(1, 10, 0)); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
}

// Close answers its log's pending Sync calls even when the log is queued
// behind another log's fsync on a one-worker pool, and returns without
// waiting for that fsync.
func TestCloseAnswersWaitersOfQueuedLog(t *testing.T) {
	sched := NewSyncScheduler(1)
	busy := openLog(t, schedConfig(t, t.TempDir(), sched))
	queued, err := Open(schedConfig(t, t.TempDir(), sched))
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	hook := func() { close(entered); <-release }
	busy.testHook.Store(&hook)
	defer close(release)
	go func() { _ = appendAndSync(busy, batch(1, 10, 0)) }()
	<-entered
	info := mustAppend(t, queued, batch(1, 10, 0), 0)
	done := make(chan error, 1)
	go func() { done <- queued.Sync(context.Background(), info.LastOffset+1) }()
	waitFor(t, 10*time.Second, func() error {
		if queued.syncer.pending() != 1 {
			return errors.New("Sync not waiting yet")
		}
		return nil
	})
	if err := queued.Close(); err != nil {
		t.Fatal(err)
	}
	// Close fsynced everything, so the waiter is answered with success.
	if err := <-done; err != nil {
		t.Fatalf("pending Sync after Close: %v", err)
	}
	if err := queued.Sync(context.Background(), info.LastOffset+1); err != nil {
		t.Fatalf("Sync of a durable offset after Close: %v", err)
	}
	mustAppendErr := func() error { _, err := queued.Append(batch(1, 1, 0), 0, -1); return err }
	if err := mustAppendErr(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
}

// hookRecorder records the durable hook's calls and fails the test on a
// concurrent call or a non-increasing offset.
type hookRecorder struct {
	t        testing.TB
	inFlight atomic.Int32
	mu       sync.Mutex
	got      []int64
}

func (r *hookRecorder) fn(d int64) {
	if r.inFlight.Add(1) != 1 {
		r.t.Errorf("durable hook called concurrently")
	}
	defer r.inFlight.Add(-1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.got); n > 0 && d <= r.got[n-1] {
		r.t.Errorf("durable hook called with %d after %d", d, r.got[n-1])
	}
	r.got = append(r.got, d)
}

func (r *hookRecorder) last() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return -1
	}
	return r.got[len(r.got)-1]
}

func (r *hookRecorder) waitFor(t testing.TB, want int64) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		if got := r.last(); got != want {
			return fmt.Errorf("durable hook last reported %d, want %d", got, want)
		}
		return nil
	})
}

// The durable hook reports every advance of DurableOffset, in order and
// never concurrently: group-commit Syncs from many writers, a SyncAsync
// nobody waits for, and a roll (which fsyncs the sealed segment) with no
// Sync at all.
func TestDurableHookReportsAdvances(t *testing.T) {
	cfg := schedConfig(t, t.TempDir(), NewSyncScheduler(2))
	cfg.SegmentBytes = 2200
	l := openLog(t, cfg)
	rec := &hookRecorder{t: t}
	l.SetDurableHook(rec.fn)

	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if err := appendAndSync(l, batch(1, 100, 0)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rec.waitFor(t, 40)

	mustAppend(t, l, batch(3, 100, 0), 0)
	l.SyncAsync()
	rec.waitFor(t, 43)
	if d := l.DurableOffset(); d != 43 {
		t.Fatalf("durable offset %d after SyncAsync reported 43", d)
	}

	// A 1 KiB batch does not fit in the active segment: the roll seals
	// (fsyncs) it and DurableOffset reaches the new segment's base.
	mustAppend(t, l, kibBatch(t), 0)
	mustAppend(t, l, kibBatch(t), 0)
	mustAppend(t, l, kibBatch(t), 0)
	if d := l.DurableOffset(); d <= 43 {
		t.Fatalf("durable offset %d after rolls", d)
	}
	rec.waitFor(t, l.DurableOffset())

	// After a truncation below the last report, reports resume.
	if err := l.TruncateTo(10); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	rec.got = nil
	rec.mu.Unlock()
	mustAppend(t, l, batch(2, 100, 0), 0)
	l.SyncAsync()
	rec.waitFor(t, 12)
}

// With DurabilityPageCache DurableOffset is the log end offset, so the
// hook runs after every append. A hook that appends to the same log (as a
// caller reacting to durability might) does not deadlock: the nested
// report is delivered by the outer call, after the hook returns.
func TestDurableHookPageCacheAndReentrancy(t *testing.T) {
	cfg := schedConfig(t, t.TempDir(), NewSyncScheduler(1))
	cfg.Durability = DurabilityPageCache
	l := openLog(t, cfg)
	rec := &hookRecorder{t: t}
	var nested atomic.Bool
	l.SetDurableHook(func(d int64) {
		rec.fn(d)
		if nested.CompareAndSwap(false, true) {
			if _, err := l.Append(batch(1, 1, 0), 0, -1); err != nil {
				t.Error(err)
			}
		}
	})
	mustAppend(t, l, batch(2, 1, 0), 0)
	rec.mu.Lock()
	got := append([]int64(nil), rec.got...)
	rec.mu.Unlock()
	if fmt.Sprint(got) != "[2 3]" {
		t.Fatalf("hook calls %v, want [2 3] (the append, then the nested one)", got)
	}
	l.SetDurableHook(nil)
	mustAppend(t, l, batch(1, 1, 0), 0)
	if rec.last() != 3 {
		t.Fatal("a removed hook was called")
	}
}
