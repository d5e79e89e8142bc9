package storage

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func pageCacheConfig(t *testing.T, flushMessages, flushMs int64) Config {
	cfg := testConfig(t, t.TempDir())
	cfg.Durability = DurabilityPageCache
	cfg.FlushMessages, cfg.FlushMs = flushMessages, flushMs
	return cfg
}

// flushedTo waits until the flush policy fsynced the log up to its end.
func flushedTo(t *testing.T, l *Log, end int64, counter func() int64, want int64) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		if got, f := counter(), l.FlushedOffset(); got < want || f < end {
			return fmt.Errorf("%d policy flushes (want %d), flushed offset %d (want %d)", got, want, f, end)
		}
		return nil
	})
}

// flush.messages counts offsets appended since the last fsync, not batches,
// and the append that crosses the limit does not wait for the fsync.
func TestFlushByMessages(t *testing.T) {
	l := openLog(t, pageCacheConfig(t, 10, DefaultFlushMs))
	mustAppend(t, l, batch(4, 10, 1), 0)
	mustAppend(t, l, batch(4, 10, 1), 0)
	// 8 < 10 and no flush.ms: nothing kicked the syncer.
	if n, f := l.fsyncs.Load(), l.FlushedOffset(); n != 0 || f != 0 {
		t.Fatalf("after 8 records: %d fsyncs, flushed offset %d; want none", n, f)
	}
	if d := l.DurableOffset(); d != 8 {
		t.Fatalf("DurableOffset = %d, want the log end offset 8 in page-cache mode", d)
	}

	// Hold the fsync: the appends crossing the limit must still return.
	entered, release := make(chan struct{}, 4), make(chan struct{})
	hook := func() { entered <- struct{}{}; <-release }
	l.testHook.Store(&hook)
	mustAppend(t, l, batch(4, 10, 1), 0) // 12 >= 10: kicks the syncer
	<-entered
	mustAppend(t, l, batch(4, 10, 1), 0) // returns while the fsync is held
	if f := l.FlushedOffset(); f != 0 {
		t.Fatalf("flushed offset %d while the fsync is held", f)
	}
	l.testHook.Store(nil)
	close(release)
	flushedTo(t, l, 12, l.countFlushes.Load, 1)
	if n := l.timeFlushes.Load(); n != 0 {
		t.Fatalf("%d time flushes with flush.ms unset", n)
	}
	// 16-12 = 4 left unflushed below the limit; 8 more cross it again.
	mustAppend(t, l, batch(8, 10, 1), 0)
	flushedTo(t, l, 24, l.countFlushes.Load, 2)
}

// flush.ms fsyncs once the oldest unflushed append is that old, never before.
func TestFlushByTime(t *testing.T) {
	const ms = 20
	l := openLog(t, pageCacheConfig(t, DefaultFlushMessages, ms))
	began := time.Now()
	mustAppend(t, l, batch(3, 10, 1), 0)
	flushedTo(t, l, 3, l.timeFlushes.Load, 1)
	if took := time.Since(began); took < ms*time.Millisecond {
		t.Fatalf("flushed after %v, before flush.ms=%dms", took, ms)
	}
	if n := l.countFlushes.Load(); n != 0 {
		t.Fatalf("%d count flushes with flush.messages unset", n)
	}
	// The timer re-arms for the next dirty period.
	mustAppend(t, l, batch(2, 10, 1), 0)
	flushedTo(t, l, 5, l.timeFlushes.Load, 2)
}

// SetConfig changes the policy of an open log, and a stricter policy
// applies to what is already unflushed.
func TestFlushPolicySetConfig(t *testing.T) {
	cfg := pageCacheConfig(t, DefaultFlushMessages, DefaultFlushMs)
	l := openLog(t, cfg)
	mustAppend(t, l, batch(5, 10, 1), 0)
	if n := l.fsyncs.Load(); n != 0 {
		t.Fatalf("%d fsyncs with the default (never) policy", n)
	}
	cfg.FlushMessages = 5
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	flushedTo(t, l, 5, l.countFlushes.Load, 1)

	cfg.FlushMessages, cfg.FlushMs = DefaultFlushMessages, 0
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(1, 10, 1), 0)
	flushedTo(t, l, 6, l.timeFlushes.Load, 1)

	for _, bad := range []func(*Config){
		func(c *Config) { c.FlushMessages = 0 },
		func(c *Config) { c.FlushMs = -1 },
	} {
		c := cfg
		bad(&c)
		if err := l.SetConfig(c); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("SetConfig(%+v) = %v, want ErrInvalidConfig", c, err)
		}
	}
}

// With DurabilityFsync the flush settings are accepted and do nothing:
// fsyncs happen only for Sync (every ack), never for the policy.
func TestFlushPolicyIgnoredInFsyncMode(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.FlushMessages, cfg.FlushMs = 1, 0
	l := openLog(t, cfg)
	mustAppend(t, l, batch(3, 10, 1), 0)
	if n := l.fsyncs.Load() + l.countFlushes.Load() + l.timeFlushes.Load(); n != 0 {
		t.Fatalf("%d fsyncs without a Sync in fsync mode", n)
	}
	if err := appendAndSync(l, batch(1, 10, 1)); err != nil {
		t.Fatal(err)
	}
	if f, d := l.FlushedOffset(), l.DurableOffset(); f != 4 || d != 4 {
		t.Fatalf("FlushedOffset %d, DurableOffset %d; want 4", f, d)
	}
}
