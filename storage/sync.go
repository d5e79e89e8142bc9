package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Group commit.
//
// Each Log in DurabilityFsync mode owns one syncer goroutine (started by
// Open, stopped by Close). Sync registers a waiter and kicks the syncer. The
// syncer snapshots the log end offset and the active segment, fdatasyncs that
// one file, advances DurableOffset to the snapshot, and wakes every waiter it
// covers. Waiters that arrived while the fdatasync ran are served together
// by the next one, so N concurrent producers cost about one fsync per
// fsync-latency instead of N.
//
// Sealed segments need no fsync here: a roll fsyncs the old segment (log and
// indexes) and the directory before the new segment is published, so every
// offset below the active segment's base is already durable.
//
// In DurabilityPageCache mode the same goroutine, started only once
// flush.messages or flush.ms is set, runs the flush policy instead (below).
//
// One goroutine per Log keeps the design simple and lets partitions on the
// same disk fsync in parallel (the device queue merges them); a per-data-dir
// syncer serving many logs is a later optimisation if idle goroutines matter.

type syncWaiter struct {
	upTo int64
	done chan error // buffered: the syncer never blocks on a waiter
}

type syncer struct {
	kick chan struct{} // capacity 1: a pending kick is enough
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	waiters []*syncWaiter
	stopped bool
}

func newSyncer() *syncer {
	return &syncer{kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

func (s *syncer) add(w *syncWaiter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrClosed
	}
	s.waiters = append(s.waiters, w)
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

func (s *syncer) remove(w *syncWaiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.waiters, w); i >= 0 {
		s.waiters = slices.Delete(s.waiters, i, i+1)
	}
}

// release answers every waiter with err if err != nil, else every waiter
// with upTo <= durable (nil) and every waiter with upTo > limit (limitErr:
// its offsets were truncated away or the log closed). It returns how many
// waiters remain.
func (s *syncer) release(durable int64, err error, limit int64, limitErr error) int {
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
		}
	}
	clear(s.waiters[len(kept):])
	s.waiters = kept
	return len(kept)
}

// pending is the number of waiting Sync calls.
func (s *syncer) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiters)
}

func (s *syncer) stopAndWait() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
}

// finish answers the remaining waiters after the final fsync of Close.
func (s *syncer) finish(durable int64) {
	s.release(durable, nil, durable, ErrClosed)
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
	if err := l.syncer.add(w); err != nil {
		return err
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		l.syncer.remove(w)
		return ctx.Err()
	}
}

// wake makes the syncer run a pass (group commit or flush policy) soon.
// It never blocks.
func (s *syncer) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// startSyncerLocked starts the syncer goroutine. The caller is Open, or
// holds appendMu.
func (l *Log) startSyncerLocked() {
	l.syncer = newSyncer()
	go l.runSyncer()
}

func (l *Log) runSyncer() {
	defer close(l.syncer.done)
	pageCache := l.cfg.Durability == DurabilityPageCache
	// The flush.ms timer belongs to this goroutine: no goroutine per log
	// beyond the syncer.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-l.syncer.stop:
			return
		case <-l.syncer.kick:
			if !pageCache {
				l.syncPass()
			}
		case <-timer.C:
		}
		if pageCache {
			if wait, ok := l.flushPolicy(); ok {
				timer.Reset(wait)
			} else {
				timer.Stop()
			}
		}
	}
}

// syncPass fsyncs until no waiter is left. Waiters whose offsets were
// truncated away are answered by TruncateTo, so every round makes progress.
func (l *Log) syncPass() {
	for {
		if l.syncer.release(l.durable.Load(), nil, math.MaxInt64, nil) == 0 {
			return
		}
		select {
		case <-l.syncer.stop:
			return // Close fsyncs and answers the rest
		default:
		}
		if err := l.flushActive(); err != nil {
			l.syncer.release(0, l.fail(err), math.MaxInt64, nil)
			return
		}
	}
}

// flushActive fdatasyncs the active segment and advances DurableOffset to
// the log end offset seen before the fdatasync started.
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
	l.mu.RUnlock()
	if l.durable.Load() >= target {
		return nil
	}
	if hook := l.testHook.Load(); hook != nil {
		(*hook)()
	}
	if err := fdatasync(seg.log); err != nil {
		return fmt.Errorf("%w: fdatasync %s: %v", ErrIO, seg.name(), err)
	}
	l.fsyncs.Add(1)
	l.advanceDurable(target)
	return nil
}

// The flush policy (DurabilityPageCache only).
//
// flush.messages: an append that leaves at least FlushMessages offsets
// above FlushedOffset kicks the syncer, which fsyncs the active segment;
// the appender never waits for it. flush.ms: an append that finds the log
// clean (dirtySince == 0) records when it happened and kicks the syncer,
// which arms its timer for dirtySince+FlushMs and fsyncs when it fires.
//
// Invariant: while dirtySince != 0 and FlushMs is finite, a kick is pending
// or the timer is armed no later than dirtySince+FlushMs. dirtySince may be
// older than the oldest unflushed append (after a roll, a truncation, or an
// fsync that raced with appends); that only flushes earlier. It is never
// later: the syncer clears it before re-reading the log end offset, and an
// append publishes the log end offset before reading it (sequentially
// consistent atomics), so an append the syncer missed sees 0 and sets it.

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
	if kick && l.syncer != nil {
		l.syncer.wake()
	}
}

// flushPolicy fsyncs the active segment while flush.messages or flush.ms
// says so, and returns how long until flush.ms next needs a look (ok false:
// no timer needed). It runs on the syncer goroutine.
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
