package broker

// The reassignment throttle: leader.replication.throttled.rate, in bytes
// per second, bounds what this broker, as leader, sends to followers that
// are catching up because a reassignment is adding them, so that copying a
// partition to a new broker does not take the disk and network producers
// and in-sync followers need.
//
// Design, and how it differs from Kafka: Kafka has a leader-side and a
// follower-side rate (leader.replication.throttled.rate,
// follower.replication.throttled.rate, dynamic broker configs) applied to
// the partitions listed in the topic configs
// leader.replication.throttled.replicas / follower.replication.throttled.replicas,
// which kafka-reassign-partitions --throttle sets and clears. Samsa keeps
// the one leader-side rate, as a static server setting, and needs no
// replica lists: it applies to exactly the fetches Kafka's tool throttles,
// those of a replica in the partition's AddingReplicas that is not in the
// ISR (Kafka never throttles an in-sync replica either). The
// follower-side rate and the two topic configs are refused (config
// honesty: not implemented).
//
// The limit is a token bucket holding at most one second of the rate. A
// throttled partition is read only while the bucket is not in debt; what
// it returns is then taken from the bucket, possibly into debt (a batch
// larger than what is left is still sent whole, as Kafka's quota lets one
// response overshoot), and the following throttled reads wait until the
// debt is paid. A throttled partition that may not be read is answered
// without records, with the high watermark and log start offset, and the
// follower asks again after its fetch wait.

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/samsa-io/samsa/metadata"
)

// replicaThrottle is the token bucket of leader.replication.throttled.rate.
type replicaThrottle struct {
	rate float64 // bytes per second; 0: unlimited
	mu   struct {
		sync.Mutex
		tokens float64 // may be negative: debt
		last   time.Time
	}
}

// newReplicaThrottle returns the throttle for rate bytes per second; a rate
// of 0 or math.MaxInt64 (Kafka's default) is unlimited.
func newReplicaThrottle(rate int64) *replicaThrottle {
	q := &replicaThrottle{}
	if rate > 0 && rate < math.MaxInt64 {
		q.rate = float64(rate)
		q.mu.tokens = q.rate
	}
	return q
}

// limited reports whether the throttle limits anything.
func (q *replicaThrottle) limited() bool { return q != nil && q.rate > 0 }

// refillLocked adds the tokens earned since the last call, up to one second
// of the rate.
func (q *replicaThrottle) refillLocked(now time.Time) {
	if !q.mu.last.IsZero() && now.After(q.mu.last) {
		q.mu.tokens = min(q.rate, q.mu.tokens+now.Sub(q.mu.last).Seconds()*q.rate)
	}
	q.mu.last = now
}

// allow reports whether a throttled read may go ahead at now.
func (q *replicaThrottle) allow(now time.Time) bool {
	if !q.limited() {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.refillLocked(now)
	return q.mu.tokens > 0
}

// record takes n bytes sent by a throttled read from the bucket.
func (q *replicaThrottle) record(n int64, now time.Time) {
	if !q.limited() || n <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.refillLocked(now)
	q.mu.tokens -= float64(n)
}

// throttledFollower reports whether replica's fetch of topic/partition
// counts against leader.replication.throttled.rate: the replica is being
// added by a reassignment and is not in the ISR.
func (b *Broker) throttledFollower(topic string, partition, replica int32) bool {
	if !b.replicaThrottle.limited() {
		return false
	}
	t, ok := b.Image().TopicByName(topic)
	if !ok {
		return false
	}
	p, ok := t.Partition(partition)
	return ok && isCatchingUp(p, replica)
}

// isCatchingUp reports whether replica is an adding replica of p outside
// its ISR. A replica the image does not know yet counts as adding: the
// partition learns its replicas before the broker stores the image that
// carries them (PublishImage), so a new replica's first fetches can arrive
// in between.
func isCatchingUp(p metadata.Partition, replica int32) bool {
	if slices.Contains(p.ISR, replica) {
		return false
	}
	return slices.Contains(p.AddingReplicas, replica) || !slices.Contains(p.Replicas, replica)
}
