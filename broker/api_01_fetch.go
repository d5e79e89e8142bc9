package broker

// Fetch, key 1, versions 4-17.
//
// Consumer fetches with max.wait.ms / min.bytes: when less than MinBytes is
// available the request waits in Later, registered on every partition it
// reads, and is woken by high watermark advances — an idle consumer costs no
// CPU. Incremental fetch sessions (KIP-227, v7+) are in fetch_session.go.
// read_committed sees up to the high watermark (there are no transactions
// yet, so the last stable offset equals it). A fetch from a replica
// (replica id >= 0, or ReplicaState in v15+) is a follower copying the log:
// see fetch_replica.go.
// Records are never copied through user space: each partition's batches are
// pinned file regions of its segments, sent with sendfile (fetch_encode.go,
// protocol.EncodedResponse).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/replication"
)

func (b *Broker) handleFetch(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.FetchRequest)
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		resp, records, release := b.fetch(ctx, r)
		enc := encodeFetchResponse(resp, records)
		enc.Release = release
		return enc, nil
	})
}

// fetchTarget is one partition a fetch reads, with its response slot.
type fetchTarget struct {
	sp   *sessionPartition
	part *replication.Partition
	err  error
}

// fetch answers a Fetch request: the response, each answered partition's
// record parts in response order, and a function releasing them (pinned
// file regions) once they are sent.
func (b *Broker) fetch(ctx context.Context, r *kmsg.FetchRequest) (*kmsg.FetchResponse, [][]protocol.Part, func()) {
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	img := b.Image()
	targets, session, err := b.fetchTargets(img, r)
	if err != nil {
		resp.ErrorCode = protocol.ErrorCode(err)
		return resp, nil, nil
	}
	if session != nil {
		defer session.mu.Unlock()
		resp.SessionID = session.id
	}
	var results []replication.FetchResult
	if replica, epoch := fetchReplica(r); replica >= 0 {
		results = b.replicaRead(ctx, r, img, targets, replica, epoch) // fetch_replica.go
	} else {
		results = b.delayedRead(ctx, r, targets, false, func() ([]replication.FetchResult, int64, bool) {
			return b.readTargets(r, targets)
		})
	}
	var records [][]protocol.Part
	resp.Topics, records = assembleFetchResponse(r.Version, img, targets, results, session != nil && r.SessionEpoch > 0)
	return resp, records, func() { releaseResults(results) }
}

// delayedRead runs read until it returns MinBytes, a failed partition, or
// MaxWaitMillis passes, waking on every change of the targets' high
// watermarks or states (and, for a follower's fetch, appendsToo, on every
// append: followers read past the high watermark), and returns the last
// read. An idle fetch costs no CPU while it waits.
func (b *Broker) delayedRead(ctx context.Context, r *kmsg.FetchRequest, targets []fetchTarget, appendsToo bool,
	read func() (results []replication.FetchResult, bytes int64, failed bool)) []replication.FetchResult {
	wake := make(chan struct{}, 1)
	for _, t := range targets {
		if t.part == nil {
			continue
		}
		if appendsToo {
			t.part.AddAppendWaiter(wake)
		} else {
			t.part.AddWaiter(wake)
		}
		defer t.part.RemoveWaiter(wake)
	}
	deadline := time.NewTimer(time.Duration(max(r.MaxWaitMillis, 0)) * time.Millisecond)
	defer deadline.Stop()
	for {
		results, bytes, failed := read()
		if bytes >= int64(r.MinBytes) || failed || r.MaxWaitMillis <= 0 {
			return results
		}
		releaseResults(results)
		select {
		case <-wake:
			continue
		case <-deadline.C:
		case <-ctx.Done():
		case <-b.stopping:
		}
		results, _, _ = read()
		return results
	}
}

func releaseResults(results []replication.FetchResult) {
	for i := range results {
		results[i].Release()
	}
}

// fetchTargets resolves the partitions to read: the request's own list for
// a sessionless or full fetch, the session's list for an incremental one.
// The returned session, if any, is locked.
func (b *Broker) fetchTargets(img *metadata.Image, r *kmsg.FetchRequest) ([]fetchTarget, *fetchSession, error) {
	var session *fetchSession
	switch {
	case r.SessionEpoch == -1: // sessionless full fetch; closes any session named
		if r.SessionID != 0 {
			b.sessions.remove(r.SessionID)
		}
	case r.SessionEpoch == 0: // full fetch opening a new session
		if r.SessionID != 0 {
			b.sessions.remove(r.SessionID)
		}
		if r.Version >= 7 {
			session = b.sessions.open()
		}
	default:
		var err error
		if session, err = b.sessions.get(r.SessionID, r.SessionEpoch); err != nil {
			return nil, nil, err
		}
	}
	var list []*sessionPartition
	if session != nil {
		session.mu.Lock()
		b.applySessionChanges(img, r, session)
		for _, k := range session.order {
			sp := session.parts[k]
			if sp.topicID != ([16]byte{}) {
				sp.topic, _ = topicNameByID(img, sp.topicID)
			}
			list = append(list, sp)
		}
	} else {
		list = requestPartitions(img, r)
	}
	targets := make([]fetchTarget, len(list))
	for i, sp := range list {
		targets[i].sp = sp
		if sp.topic == "" {
			targets[i].err = kerr.UnknownTopicID
			continue
		}
		targets[i].part, targets[i].err = b.partition(img, sp.topic, sp.partition)
	}
	return targets, session, nil
}

// requestPartitions lists the partitions a request names; topics named by
// an unknown id (v13+) get an empty name and answer UNKNOWN_TOPIC_ID.
func requestPartitions(img *metadata.Image, r *kmsg.FetchRequest) []*sessionPartition {
	var out []*sessionPartition
	for _, rt := range r.Topics {
		name := rt.Topic
		if r.Version >= 13 {
			name, _ = topicNameByID(img, rt.TopicID)
		}
		for _, rp := range rt.Partitions {
			lastFetched, logStart := int32(-1), int64(-1)
			if r.Version >= 12 {
				lastFetched = rp.LastFetchedEpoch
			}
			if r.Version >= 5 {
				logStart = rp.LogStartOffset
			}
			out = append(out, &sessionPartition{
				topic: name, topicID: rt.TopicID, partition: rp.Partition,
				fetchOffset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, leaderEpoch: rp.CurrentLeaderEpoch,
				lastFetchedEpoch: lastFetched, logStartOffset: logStart,
				lastHW: -1, lastLSO: -1, lastLogStart: -1,
			})
		}
	}
	return out
}

func (b *Broker) applySessionChanges(img *metadata.Image, r *kmsg.FetchRequest, s *fetchSession) {
	for _, sp := range requestPartitions(img, r) {
		s.upsert(*sp)
	}
	for _, ft := range r.ForgottenTopics {
		name := ft.Topic
		if r.Version >= 13 {
			name, _ = topicNameByID(img, ft.TopicID)
		}
		for _, p := range ft.Partitions {
			s.forget(keyOf(name, ft.TopicID, p))
		}
	}
}

// readTargets reads every target once. The first partition with data may
// exceed the byte limits by one batch (KIP-74); later ones only fill what is
// left of MaxBytes.
func (b *Broker) readTargets(r *kmsg.FetchRequest, targets []fetchTarget) ([]replication.FetchResult, int64, bool) {
	results := make([]replication.FetchResult, len(targets))
	errs := make([]error, len(targets))
	remaining := int64(r.MaxBytes)
	var total int64
	failed := false
	for i, t := range targets {
		if t.err != nil {
			failed = true
			continue
		}
		limit := min(int64(t.sp.maxBytes), remaining)
		if limit <= 0 && total > 0 {
			// Out of budget: report the partition's offsets without reading.
			errs[i] = t.part.CheckLeader(t.sp.leaderEpoch)
			results[i] = replication.FetchResult{HighWatermark: t.part.HighWatermark(), LogStartOffset: t.part.LogStartOffset()}
			continue
		}
		res, err := t.part.ReadPinned(t.sp.fetchOffset, int32(max(limit, 1)), t.sp.leaderEpoch)
		if err == nil && total > 0 && res.Size() > remaining {
			res.DropRecords()
		}
		results[i], errs[i] = res, err
		if err != nil {
			failed = true
		}
		total += res.Size()
		remaining -= res.Size()
	}
	for i := range targets {
		if targets[i].err == nil && errs[i] != nil {
			targets[i].err = errs[i]
		}
	}
	return results, total, failed
}

// recordParts turns a read's records into response parts: pinned file
// regions (sent with sendfile) or bytes.
func recordParts(res *replication.FetchResult) []protocol.Part {
	if len(res.Records) > 0 {
		return []protocol.Part{{Bytes: res.Records}}
	}
	var parts []protocol.Part
	for _, rg := range res.Pinned.Regions {
		parts = append(parts, protocol.Part{File: rg.File, Offset: rg.Pos, Length: rg.Len})
	}
	return parts
}

// assembleFetchResponse groups results by topic in request order; an
// incremental response keeps only the partitions with news.
// It returns the topics and, aligned with their partitions in order, each
// partition's record parts.
func assembleFetchResponse(version int16, img *metadata.Image, targets []fetchTarget, results []replication.FetchResult, incremental bool) ([]kmsg.FetchResponseTopic, [][]protocol.Part) {
	var topics []kmsg.FetchResponseTopic
	var records [][]protocol.Part
	for i, t := range targets {
		out := kmsg.NewFetchResponseTopicPartition()
		out.Partition = t.sp.partition
		out.HighWatermark, out.LastStableOffset, out.LogStartOffset = -1, -1, -1
		// Record data travels as parts; the kmsg field stays empty (never
		// null: librdkafka rejects a null record set).
		out.RecordBatches = []byte{}
		var parts []protocol.Part
		if t.err != nil {
			out.ErrorCode = protocol.ErrorCode(t.err)
			if errors.Is(t.err, kerr.OffsetOutOfRange) {
				out.HighWatermark = results[i].HighWatermark
				out.LastStableOffset = results[i].HighWatermark
				out.LogStartOffset = results[i].LogStartOffset
			}
		} else {
			res := &results[i]
			out.HighWatermark, out.LastStableOffset, out.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
			if d := res.Diverging; d != nil {
				out.DivergingEpoch.Epoch, out.DivergingEpoch.EndOffset = d.Epoch, d.EndOffset
			}
			parts = recordParts(res)
		}
		news := len(parts) > 0 || (t.err == nil && results[i].Diverging != nil)
		if !t.sp.changed(&out, news) && incremental {
			continue
		}
		if n := len(topics); n == 0 || !sameTopic(version, topics[n-1], t.sp) {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.sp.topic, t.sp.topicID
			if version < 13 {
				rt.TopicID = [16]byte{}
			} else if tt, ok := img.TopicByName(t.sp.topic); ok {
				rt.TopicID = tt.ID
			}
			topics = append(topics, rt)
		}
		topics[len(topics)-1].Partitions = append(topics[len(topics)-1].Partitions, out)
		records = append(records, parts)
	}
	return topics, records
}

func sameTopic(version int16, rt kmsg.FetchResponseTopic, sp *sessionPartition) bool {
	if version >= 13 {
		return rt.TopicID == sp.topicID
	}
	return rt.Topic == sp.topic
}
