package replication

import (
	"math"
	"testing"
	"time"
)

// TestThrottleTokenBucket checks the replication throttles'
// bucket on a scripted clock: one second of the rate may go at once, a
// read may overshoot into debt, and reads wait until the debt is paid at
// the rate; 0 and Kafka's default (math.MaxInt64) are unlimited.
func TestThrottleTokenBucket(t *testing.T) {
	for _, rate := range []int64{0, math.MaxInt64} {
		q := NewThrottle(rate)
		q.Record(1<<40, time.Now())
		if q.Limited() || !q.Allow(time.Now()) {
			t.Fatalf("rate %d limits", rate)
		}
	}
	q := NewThrottle(1000)
	t0 := time.Unix(100, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		ms     int
		record int64 // bytes sent if allowed
		allow  bool
	}{
		{0, 2500, true},    // 1000 in the bucket: allowed, 1500 in debt
		{1000, 0, false},   // 500 in debt
		{1499, 0, false},   // 1 in debt
		{1501, 10, true},   // paid: allowed, 9 in debt
		{1600, 0, true},    // 91 earned
		{9000, 1000, true}, // capped at one second: 1000, then 0
		{9000, 0, false},
	}
	for i, s := range steps {
		if got := q.Allow(at(s.ms)); got != s.allow {
			t.Fatalf("step %d at %dms: allow = %v, want %v (tokens %v)", i, s.ms, got, s.allow, q.mu.tokens)
		}
		if s.allow {
			q.Record(s.record, at(s.ms))
		}
	}
}
