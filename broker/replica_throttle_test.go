package broker

import (
	"math"
	"testing"
	"time"

	"github.com/samsa-io/samsa/metadata"
)

// TestReplicaThrottleTokenBucket checks leader.replication.throttled.rate's
// bucket on a scripted clock: one second of the rate may go at once, a
// read may overshoot into debt, and reads wait until the debt is paid at
// the rate; 0 and Kafka's default (math.MaxInt64) are unlimited.
func TestReplicaThrottleTokenBucket(t *testing.T) {
	for _, rate := range []int64{0, math.MaxInt64} {
		q := newReplicaThrottle(rate)
		q.record(1<<40, time.Now())
		if q.limited() || !q.allow(time.Now()) {
			t.Fatalf("rate %d limits", rate)
		}
	}
	q := newReplicaThrottle(1000)
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
		if got := q.allow(at(s.ms)); got != s.allow {
			t.Fatalf("step %d at %dms: allow = %v, want %v (tokens %v)", i, s.ms, got, s.allow, q.mu.tokens)
		}
		if s.allow {
			q.record(s.record, at(s.ms))
		}
	}
}

// TestThrottledFollowerOnlyAddingOutOfISR: only a replica a reassignment
// is adding, and only until it is in the ISR, is throttled (Kafka never
// throttles an in-sync replica); one the image does not know yet counts
// as adding.
func TestThrottledFollowerOnlyAddingOutOfISR(t *testing.T) {
	p := metadata.Partition{Replicas: []int32{3, 1, 2}, ISR: []int32{1, 2}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{2}}
	for replica, want := range map[int32]bool{1: false, 2: false, 3: true, 4: true} {
		if got := isCatchingUp(p, replica); got != want {
			t.Errorf("replica %d: throttled = %v, want %v", replica, got, want)
		}
	}
	p.ISR = []int32{1, 2, 3}
	if isCatchingUp(p, 3) {
		t.Error("an adding replica in the ISR is throttled")
	}
}
