package replication

import (
	"math"
	"sync"
	"time"
)

// Throttle is a token bucket of bytes per second for replication traffic:
// leader.replication.throttled.rate on what a leader sends to replicas
// that are catching up, follower.replication.throttled.rate on what such
// a replica fetches. It holds at most one second of the rate. A throttled
// read goes ahead while the bucket is not in debt, and what it moved is
// then taken from the bucket, possibly into debt (one read may overshoot,
// as Kafka's quota lets one response do); the next throttled reads wait
// until the debt is paid. Safe for concurrent use; a nil Throttle limits
// nothing.
type Throttle struct {
	rate float64 // bytes per second; 0: unlimited
	mu   struct {
		sync.Mutex
		tokens float64 // may be negative: debt
		last   time.Time
	}
}

// NewThrottle returns the throttle for rate bytes per second; a rate
// of 0 or math.MaxInt64 (Kafka's default) is unlimited.
func NewThrottle(rate int64) *Throttle {
	q := &Throttle{}
	if rate > 0 && rate < math.MaxInt64 {
		q.rate = float64(rate)
		q.mu.tokens = q.rate
	}
	return q
}

// Limited reports whether the throttle limits anything.
func (q *Throttle) Limited() bool { return q != nil && q.rate > 0 }

// refillLocked adds the tokens earned since the last call, up to one second
// of the rate.
func (q *Throttle) refillLocked(now time.Time) {
	if !q.mu.last.IsZero() && now.After(q.mu.last) {
		q.mu.tokens = min(q.rate, q.mu.tokens+now.Sub(q.mu.last).Seconds()*q.rate)
	}
	q.mu.last = now
}

// Allow reports whether a throttled read may go ahead at now.
func (q *Throttle) Allow(now time.Time) bool {
	if !q.Limited() {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.refillLocked(now)
	return q.mu.tokens > 0
}

// Record takes n bytes moved by a throttled read from the bucket.
func (q *Throttle) Record(n int64, now time.Time) {
	if !q.Limited() || n <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.refillLocked(now)
	q.mu.tokens -= float64(n)
}
