package broker

// The reassignment throttle, leader side: leader.replication.throttled.rate,
// in bytes per second, bounds what this broker, as leader, sends to
// followers that are catching up because a reassignment is adding them, so
// that copying a partition to a new broker does not take the disk and
// network producers and in-sync followers need. The follower side,
// follower.replication.throttled.rate, bounds what such a follower fetches
// (replication.FetcherConfig.Throttle).
//
// Design, and how it differs from Kafka: Kafka's two rates are dynamic
// broker configs applied to the partitions listed in the topic configs
// leader.replication.throttled.replicas / follower.replication.throttled.replicas,
// which kafka-reassign-partitions --throttle sets and clears. Samsa's are
// static server settings and need no replica lists: they apply to exactly
// the fetches Kafka's tool throttles, those of a replica in the
// partition's AddingReplicas that is not in the ISR (Kafka never throttles
// an in-sync replica either). The two topic configs are refused (config
// honesty: not implemented).
//
// The limit is a token bucket (replication.Throttle) holding at most one
// second of the rate. A
// throttled partition is read only while the bucket is not in debt; what
// it returns is then taken from the bucket, possibly into debt (a batch
// larger than what is left is still sent whole, as Kafka's quota lets one
// response overshoot), and the following throttled reads wait until the
// debt is paid. A throttled partition that may not be read is answered
// without records, with the high watermark and log start offset, and the
// follower asks again after its fetch wait.

import (
	"slices"

	"github.com/samsa-io/samsa/metadata"
)

// throttledFollower reports whether replica's fetch of topic/partition
// counts against leader.replication.throttled.rate: the replica is being
// added by a reassignment and is not in the ISR.
func (b *Broker) throttledFollower(topic string, partition, replica int32) bool {
	if !b.replicaThrottle.Limited() {
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
