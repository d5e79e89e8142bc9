package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit.
//
// A Log owns no goroutine. Its pending work (Sync waiters, SyncAsync
// requests, the page-cache flush policy) is run by the workers of a
// SyncScheduler shared by the logs of a process (Config.SyncScheduler;
// DefaultSyncScheduler otherwise), so that an idle partition costs no
// goroutine and 10,000 partitions do not cost 10,000 of them.
//
// Sync registers a waiter and queues the log (once: a log is idle, queued
// or running). A worker takes the log, snapshots the log end offset and the
// active segment, fdatasyncs that one file, advances DurableOffset to the
// snapshot and wakes every waiter it covers. Waiters that arrived while the
// fdatasync ran are served together by the next one: the log goes back to
// the end of the queue, so N concurrent producers on one partition cost
// about one fsync per fsync-latency instead of N, and other partitions get
// their turn in between. The pool's workers fsync different logs
// concurrently (the device queue merges them); one log is synced by one
// worker at a time. Workers are started when work is queued and fewer than
// the pool size run, and exit when the queue is empty.
//
// Sealed segments need no fsync here: a roll fsyncs the old segment (log and
// indexes) and the directory before the new segment is published, so every
// offset below the active segment's base is already durable.
//
// In DurabilityPageCache mode a worker runs the flush policy instead
// (below); the flush.ms deadline is a per-log time.AfterFunc, which holds
// no goroutine while it waits.
//
// After a pass that advanced DurableOffset, and after an append that did
// (a roll; every append in page-cache mode), the durable hook
// (SetDurableHook) is called outside every lock of the log.

// SyncScheduler runs the fsyncs of many logs on a small pool of workers.
type SyncScheduler struct {
	workers int
	mu      sync.Mutex
	queue   []*Log // logs with work, each at most once (logSync.state)
	running int    // workers alive
	wg      sync.WaitGroup
}

// NewSyncScheduler returns a scheduler that fsyncs up to workers logs at
// once (at least 1).
func NewSyncScheduler(workers int) *SyncScheduler {
	return &SyncScheduler{workers: max(workers, 1)}
}

var (
	defaultSchedulerOnce sync.Once
	defaultScheduler     *SyncScheduler
)

// DefaultSyncScheduler is the process's shared scheduler, used by every Log
// whose Config.SyncScheduler is nil: max(4, GOMAXPROCS) workers, enough to
// keep a disk's queue busy with fsyncs of different partitions.
func DefaultSyncScheduler() *SyncScheduler {
	defaultSchedulerOnce.Do(func() { defaultScheduler = NewSyncScheduler(max(4, runtime.GOMAXPROCS(0))) })
	return defaultScheduler
}

// Idle waits until the scheduler has no work and no worker left (tests,
// and process shutdown after every log is closed). Workers own nothing
// but the queue, so they need no other stop: they exit when it is empty.
func (s *SyncScheduler) Idle() { s.wg.Wait() }

// push queues l and starts a worker if the pool is not full.
func (s *SyncScheduler) push(l *Log) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, l)
	if s.running < s.workers {
		s.running++
		s.wg.Add(1)
		go s.work()
	}
}

// work runs queued logs until the queue is empty.
func (s *SyncScheduler) work() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.running--
			s.queue = nil // drop the backing array a burst grew
			s.mu.Unlock()
			return
		}
		l := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.mu.Unlock()
		l.runSync()
	}
}

type syncWaiter struct {
	upTo int64
	done chan error // buffered: a worker never blocks on a waiter
}

// Scheduling states of a log.
const (
	syncIdle    = iota // no work queued
	syncQueued         // in the scheduler's queue
	syncRunning        // a worker runs a pass
)

// logSync is a log's side of the scheduler: its waiters and state.
type logSync struct {
	sched *SyncScheduler

	mu      sync.Mutex
	idle    sync.Cond // on mu: signalled when a pass ends
	waiters []*syncWaiter
	async   int64 // SyncAsync asked for everything below this
	state   int
	again   bool // kicked while running: run another pass
	stopped bool // Close: no more passes, no more waiters
	timer   *time.Timer
}

func (s *logSync) init(sched *SyncScheduler) {
	s.sched = sched
	s.idle.L = &s.mu
}

// kickLocked asks for a pass; it returns true if the caller must push the
// log to the scheduler once s.mu is released.
func (s *logSync) kickLocked() bool {
	switch {
	case s.stopped:
	case s.state == syncIdle:
		s.state = syncQueued
		return true
	case s.state == syncRunning:
		s.again = true
	}
	return false
}

// kickSync makes a worker run a pass (group commit or flush policy) soon.
// It never blocks on I/O.
func (l *Log) kickSync() {
	s := &l.syncer
	s.mu.Lock()
	push := s.kickLocked()
	s.mu.Unlock()
	if push {
		s.sched.push(l)
	}
}

func (s *logSync) add(w *syncWaiter) (push bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false, ErrClosed
	}
	s.waiters = append(s.waiters, w)
	return s.kickLocked(), nil
}

func (s *logSync) remove(w *syncWaiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.waiters, w); i >= 0 {
		s.waiters = slices.Delete(s.waiters, i, i+1)
	}
}

// release answers every waiter with err if err != nil, else every waiter
// with upTo <= durable (nil) and every waiter with upTo > limit (limitErr:
// its offsets were truncated away or the log closed). It returns the
// largest upTo of the waiters that remain (0 if none) and the SyncAsync
// target.
func (s *logSync) release(durable int64, err error, limit int64, limitErr error) (want int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		switch {
		case err != nil:
			w.done <- err
		case w.upTo <= durable:
			w.done <- nil
		case w.upTo > limit:
			w.done <- limitErr
		default:
			kept = append(kept, w)
			want = max(want, w.upTo)
		}
	}
	clear(s.waiters[len(kept):])
	s.waiters = kept
	if s.async > limit {
		s.async = limit
	}
	return max(want, s.async)
}

// pending is the number of waiting Sync calls.
func (s *logSync) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiters)
}

// stop ends scheduling for Close: no pass starts after it returns, and it
// waits for a running one to end. Queued entries are skipped by the worker.
func (s *logSync) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for s.state == syncRunning {
		s.idle.Wait()
	}
	if s.timer != nil {
		s.timer.Stop()
	}
}

// finish answers the remaining waiters after the final fsync of Close.
func (s *logSync) finish(durable int64) {
	s.release(durable, nil, durable, ErrClosed)
}

// runSync is one pass for l on a worker: one group-commit fsync, or the
// flush policy. A log with work left goes back to the end of the queue.
func (l *Log) runSync() {
	s := &l.syncer
	s.mu.Lock()
	if s.stopped || s.state != syncQueued {
		s.state = syncIdle
		s.mu.Unlock()
		return
	}
	s.state, s.again = syncRunning, false
	s.mu.Unlock()

	more := false
	if l.cfg.Durability == DurabilityPageCache {
		wait, ok := l.flushPolicy()
		l.armFlushTimer(wait, ok)
	} else {
		more = l.syncRound()
	}

	s.mu.Lock()
	requeue := (more || s.again) && !s.stopped
	s.state = syncIdle
	if requeue {
		s.state = syncQueued
	}
	s.idle.Broadcast()
	s.mu.Unlock()
	if requeue {
		s.sched.push(l)
	}
	l.notifyDurable()
}

// syncRound answers the waiters already covered, fsyncs once if any (or a
// SyncAsync request) is left, and answers those the fsync covered. It
// reports whether work is left. Waiters whose offsets were truncated away
// are answered by TruncateTo, so every round makes progress.
func (l *Log) syncRound() (more bool) {
	if l.syncer.release(l.durable.Load(), nil, math.MaxInt64, nil) <= l.durable.Load() {
		return false
	}
	if err := l.flushActive(); err != nil {
		if !errors.Is(err, ErrClosed) {
			err = l.fail(err)
		}
		l.syncer.release(0, err, math.MaxInt64, nil)
		return false
	}
	return l.syncer.release(l.durable.Load(), nil, math.MaxInt64, nil) > l.durable.Load()
}

// armFlushTimer arms (ok) or stops the flush.ms timer of a page-cache log.
func (l *Log) armFlushTimer(wait time.Duration, ok bool) {
	s := &l.syncer
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped || !ok:
		if s.timer != nil {
			s.timer.Stop()
		}
	case s.timer == nil:
		s.timer = time.AfterFunc(wait, l.kickSync)
	default:
		s.timer.Reset(wait)
	}
}

// Sync blocks until every offset below upTo is durable, or ctx ends (then it
// returns ctx.Err(); the data may still become durable later). upTo above
// the log end offset is ErrOffsetOutOfRange. With DurabilityPageCache it
// returns at once. After Sync returns nil, DurableOffset() >= upTo.
func (l *Log) Sync(ctx context.Context, upTo int64) error {
	if l.DurableOffset() >= upTo {
		return nil
	}
	if leo := l.leo.Load(); upTo > leo {
		return fmt.Errorf("%w: sync up to %d, log end offset is %d", ErrOffsetOutOfRange, upTo, leo)
	}
	if err := l.failure(); err != nil {
		return err
	}
	if l.cfg.Durability == DurabilityPageCache {
		return nil // unreachable: page-cache mode is durable at the LEO
	}
	w := &syncWaiter{upTo: upTo, done: make(chan error, 1)}
	push, err := l.syncer.add(w)
	if err != nil {
		return err
	}
	if push {
		l.syncer.sched.push(l)
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		l.syncer.remove(w)
		return ctx.Err()
	}
}

// SyncAsync asks for everything appended so far to become durable, without
// waiting: for appends nobody waits for (acks=0) and for followers, which
// learn of the progress through the durable hook (SetDurableHook). With
// DurabilityPageCache everything appended is already durable in that
// mode's sense, so it only makes sure the hook has seen it.
func (l *Log) SyncAsync() {
	if l.cfg.Durability == DurabilityPageCache {
		l.notifyDurable()
		return
	}
	leo := l.leo.Load()
	if l.durable.Load() >= leo || l.failure() != nil {
		return
	}
	s := &l.syncer
	s.mu.Lock()
	s.async = max(s.async, leo)
	push := s.kickLocked()
	s.mu.Unlock()
	if push {
		s.sched.push(l)
	}
}

// flushActive fdatasyncs the active segment and advances DurableOffset to
// the log end offset seen before the fdatasync started. The file is
// referenced through the cache, so a roll that seals the segment meanwhile
// cannot close it under the fdatasync.
func (l *Log) flushActive() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.failure(); err != nil {
		return err
	}
	l.mu.RLock()
	if l.closed.Load() {
		l.mu.RUnlock()
		return ErrClosed
	}
	seg := l.segs[len(l.segs)-1]
	target := l.leo.Load()
	f, err := seg.acquire()
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	defer seg.release()
	if l.durable.Load() >= target {
		return nil
	}
	if hook := l.testHook.Load(); hook != nil {
		(*hook)()
	}
	if err := fdatasync(f); err != nil {
		return fmt.Errorf("%w: fdatasync %s: %v", ErrIO, seg.name(), err)
	}
	l.fsyncs.Add(1)
	l.advanceDurable(target)
	return nil
}

// The durable hook.
//
// notifyDurable calls the hook with DurableOffset when it grew since the
// last call. Calls are serialised by hookMu without ever waiting for it: a
// caller that finds it held sets hookPending and leaves, and the holder
// loops until no notification is pending. So the hook never runs
// concurrently with itself, sees increasing offsets, may call back into
// the log (even Append, which notifies again), and never makes an appender
// or a worker wait for another one's hook.
type durableHook struct {
	fn      atomic.Pointer[func(int64)]
	mu      sync.Mutex
	pending atomic.Bool
	last    atomic.Int64 // the last offset reported
}

// SetDurableHook registers fn (nil to remove it), called with the new
// DurableOffset whenever it advances: after a group-commit fsync, a
// SyncAsync, a flush, a roll, and, with DurabilityPageCache (where
// DurableOffset is the log end offset), after every append. fn runs
// outside the log's locks, on the goroutine that advanced the offset (an
// appender or a sync worker), never concurrently with itself, with
// increasing offsets; it should be short (a worker's other logs wait). A
// truncation lowers DurableOffset; reports then resume from the new value.
// Close does not call it.
func (l *Log) SetDurableHook(fn func(durable int64)) {
	l.durableHook.last.Store(l.DurableOffset())
	if fn == nil {
		l.durableHook.fn.Store(nil)
		return
	}
	l.durableHook.fn.Store(&fn)
}

// notifyDurable reports a DurableOffset advance to the hook. The caller
// holds no lock of the log.
func (l *Log) notifyDurable() {
	h := &l.durableHook
	if h.fn.Load() == nil {
		return
	}
	h.pending.Store(true)
	for h.pending.Load() {
		if !h.mu.TryLock() {
			return // the holder will see pending
		}
		for h.pending.Swap(false) {
			fn := h.fn.Load()
			if d := l.DurableOffset(); fn != nil && d > h.last.Load() {
				h.last.Store(d)
				(*fn)(d)
			}
		}
		h.mu.Unlock()
	}
}

// resetDurableHook lets reports resume below the last one after a
// truncation lowered DurableOffset to end.
func (l *Log) resetDurableHook(end int64) {
	if l.durableHook.last.Load() > end {
		l.durableHook.last.Store(end)
	}
}

// The flush policy (DurabilityPageCache only).
//
// flush.messages: an append that leaves at least FlushMessages offsets
// above FlushedOffset queues the log on the scheduler, whose worker fsyncs
// the active segment; the appender never waits for it. flush.ms: an append
// that finds the log clean (dirtySince == 0) records when it happened and
// queues the log; the worker arms the log's timer for dirtySince+FlushMs,
// and the timer queues the log again when it fires.
//
// Invariant: while dirtySince != 0 and FlushMs is finite, a kick is pending
// or the timer is armed no later than dirtySince+FlushMs. dirtySince may be
// older than the oldest unflushed append (after a roll, a truncation, or an
// fsync that raced with appends); that only flushes earlier. It is never
// later: the worker clears it before re-reading the log end offset, and an
// append publishes the log end offset before reading it (sequentially
// consistent atomics), so an append the worker missed sees 0 and sets it.

// monoNow is a monotonic clock reading in nanoseconds, never 0.
func (l *Log) monoNow() int64 { return int64(time.Since(l.clockBase)) + 1 }

// noteAppendLocked applies the flush policy after an append. The caller
// holds appendMu and has published the new log end offset.
func (l *Log) noteAppendLocked() {
	if l.cfg.Durability != DurabilityPageCache {
		return
	}
	kick := false
	if l.dirtySince.Load() == 0 && l.dirtySince.CompareAndSwap(0, l.monoNow()) {
		kick = l.cfg.FlushMs != DefaultFlushMs
	}
	if l.leo.Load()-l.durable.Load() >= l.cfg.FlushMessages {
		kick = true
	}
	if kick {
		l.kickSync()
	}
}

// flushPolicy fsyncs the active segment while flush.messages or flush.ms
// says so, and returns how long until flush.ms next needs a look (ok false:
// no timer needed). It runs on a sync worker.
func (l *Log) flushPolicy() (wait time.Duration, ok bool) {
	for {
		if l.failure() != nil || l.closed.Load() {
			return 0, false
		}
		if l.leo.Load() <= l.durable.Load() {
			l.dirtySince.Store(0)
			if l.leo.Load() <= l.durable.Load() {
				return 0, false
			}
			l.dirtySince.CompareAndSwap(0, l.monoNow())
			continue
		}
		byCount := l.leo.Load()-l.durable.Load() >= l.flushMessages.Load()
		byTime := false
		if ms := l.flushMs.Load(); !byCount && ms < math.MaxInt64/int64(time.Millisecond) {
			if since := l.dirtySince.Load(); since != 0 {
				age := time.Duration(l.monoNow() - since)
				limit := time.Duration(ms) * time.Millisecond
				if age < limit {
					return limit - age, true
				}
				byTime = true
			}
		}
		if !byCount && !byTime {
			return 0, false
		}
		began := l.monoNow()
		if err := l.flushActive(); err != nil {
			if !errors.Is(err, ErrClosed) {
				l.fail(err)
			}
			return 0, false
		}
		if byCount {
			l.countFlushes.Add(1)
		} else {
			l.timeFlushes.Add(1)
		}
		// Appends that raced with the fsync are dated from its start.
		l.dirtySince.Store(0)
		if l.leo.Load() > l.durable.Load() {
			l.dirtySince.CompareAndSwap(0, began)
		}
	}
}
