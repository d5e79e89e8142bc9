package broker

// Fetch from a follower (replica id set; ReplicaState in v15+). The leader
// first takes each partition's fetch position (replication.Partition.
// RecordFollowerFetch): a follower whose last fetched epoch does not match
// the leader's log gets the diverging epoch (KIP-320) and no records;
// otherwise its fetch offset counts as its log end offset for the high
// watermark and the ISR. Records are then read up to the leader's log end,
// not the high watermark, and sent with sendfile as for consumers. A
// follower fetch with nothing to read waits in Later until an append or
// MaxWaitMillis, like a consumer's delayed fetch. Followers use incremental
// fetch sessions (KIP-227) like consumers: a request lists only the
// partitions whose position changed, and every partition of the session
// counts as fetched at its cached position.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/replication"
)

// fetchReplica returns the replica a fetch comes from (-1: a consumer) and
// the broker epoch it claims (-1: none).
func fetchReplica(r *kmsg.FetchRequest) (int32, int64) {
	if r.Version >= 15 {
		return r.ReplicaState.ID, r.ReplicaState.Epoch
	}
	return r.ReplicaID, -1
}

// replicaRead reads a follower's fetch of targets.
func (b *Broker) replicaRead(ctx context.Context, r *kmsg.FetchRequest, img *metadata.Image, targets []fetchTarget, replica int32, brokerEpoch int64) []replication.FetchResult {
	var refuse error
	switch br, ok := img.Broker(replica); {
	case !ok:
		refuse = fmt.Errorf("replica %d is not a registered broker: %w", replica, kerr.NotLeaderForPartition)
	case brokerEpoch >= 0 && brokerEpoch != br.Epoch:
		// KIP-903: a follower restarted without its data must not be taken
		// for the incarnation that fetched before.
		refuse = fmt.Errorf("replica %d fetches with broker epoch %d, registered %d: %w", replica, brokerEpoch, br.Epoch, kerr.StaleBrokerEpoch)
	}
	diverging := make([]*replication.EpochEndOffset, len(targets))
	now := time.Now()
	for i := range targets {
		t := &targets[i]
		if refuse != nil {
			t.err = refuse
		}
		if t.err == nil {
			diverging[i], t.err = t.part.RecordFollowerFetch(replica, t.sp.fetchOffset, t.sp.logStartOffset, t.sp.lastFetchedEpoch, t.sp.leaderEpoch, now)
		}
	}
	return b.delayedRead(ctx, r, targets, true, func() ([]replication.FetchResult, int64, bool) {
		return b.readReplicaTargets(r, targets, diverging)
	})
}

// readReplicaTargets is readTargets for a follower: it reads to the log end
// and answers a diverged partition with its epoch end instead of records.
// A diverged or failed partition ends the wait, and so does a log start
// past the follower's.
func (b *Broker) readReplicaTargets(r *kmsg.FetchRequest, targets []fetchTarget, diverging []*replication.EpochEndOffset) ([]replication.FetchResult, int64, bool) {
	results := make([]replication.FetchResult, len(targets))
	remaining := int64(r.MaxBytes)
	var total int64
	failed := false
	replica, _ := fetchReplica(r)
	for i := range targets {
		t := &targets[i]
		if t.err != nil {
			failed = true
			if t.part != nil {
				results[i] = replication.FetchResult{HighWatermark: t.part.HighWatermark(), LogStartOffset: t.part.LogStartOffset()}
			}
			continue
		}
		if diverging[i] != nil {
			failed = true
			results[i] = replication.FetchResult{HighWatermark: t.part.HighWatermark(), LogStartOffset: t.part.LogStartOffset(), Diverging: diverging[i]}
			continue
		}
		limit := min(int64(t.sp.maxBytes), remaining)
		if limit <= 0 && total > 0 {
			results[i] = replication.FetchResult{HighWatermark: t.part.HighWatermark(), LogStartOffset: t.part.LogStartOffset()}
			continue
		}
		// leader.replication.throttled.rate (replica_throttle.go).
		throttled := b.throttledFollower(t.sp.topic, t.sp.partition, replica)
		if throttled && !b.replicaThrottle.Allow(time.Now()) {
			results[i] = replication.FetchResult{HighWatermark: t.part.HighWatermark(), LogStartOffset: t.part.LogStartOffset()}
			continue
		}
		res, err := t.part.ReadForFollower(t.sp.fetchOffset, int32(max(limit, 1)), t.sp.leaderEpoch)
		if err != nil {
			t.err, failed = err, true
			results[i] = res
			continue
		}
		if total > 0 && res.Size() > remaining {
			res.DropRecords()
		}
		if throttled {
			b.replicaThrottle.Record(res.Size(), time.Now())
		}
		if t.sp.logStartOffset >= 0 && res.LogStartOffset > t.sp.logStartOffset {
			// The log start moved past the follower's (DeleteRecords,
			// retention): answer now, so that it follows and reports its
			// new start to a DeleteRecords waiting for the low watermark.
			failed = true
		}
		results[i] = res
		total += res.Size()
		remaining -= res.Size()
	}
	return results, total, failed
}
