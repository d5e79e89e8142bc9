package broker

// DeleteRecords, key 21, versions 0-2 (KIP-107).
//
// Each partition's leader moves its log start offset up to the requested
// offset (-1: the high watermark); whole segments below it are deleted at
// once. The answer waits, up to the request's TimeoutMillis, until every
// live replica has done the same: the low watermark answered is the
// lowest log start offset among the leader and the followers on
// unfenced brokers, as they report it in their fetches. Followers take
// the leader's log start from their next fetch, so this is one fetch
// round trip. A partition still waiting at the timeout answers
// REQUEST_TIMED_OUT; its leader has deleted the records already, and the
// followers delete theirs once they fetch. A topic whose cleanup.policy
// lacks delete answers POLICY_VIOLATION, as Kafka does.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/replication"
)

// lowWatermarkPoll is how often DeleteRecords checks whether the followers
// have caught up with a new log start. Followers fetch continuously, so
// the wait is short; polling keeps the fetch path free of hooks for this
// rare request.
const lowWatermarkPoll = 10 * time.Millisecond

// deleteWait is one partition whose answer waits for its low watermark.
type deleteWait struct {
	topic, partition int // indexes in the response
	out              *kmsg.DeleteRecordsResponseTopicPartition
	part             *replication.Partition
	target           int64 // the leader's new log start
}

func (b *Broker) handleDeleteRecords(ctx context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	img := b.Image()
	var waits []deleteWait
	for _, rt := range r.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			out := kmsg.NewDeleteRecordsResponseTopicPartition()
			out.Partition, out.LowWatermark = rp.Partition, -1
			part, err := b.partition(img, rt.Topic, rp.Partition)
			var start int64
			if err == nil {
				start, err = part.DeleteRecords(rp.Offset)
			}
			if err != nil {
				out.ErrorCode = protocol.ErrorCode(err)
				b.log.Debug().Err(err).Str("topic", rt.Topic).Int32("partition", rp.Partition).
					Int64("offset", rp.Offset).Msg("delete records refused")
			}
			if err == nil {
				waits = append(waits, deleteWait{topic: len(resp.Topics), partition: len(st.Partitions), part: part, target: start})
			}
			st.Partitions = append(st.Partitions, out)
		}
		resp.Topics = append(resp.Topics, st)
	}
	// The response's partitions are in place now: point the waits at them.
	for i, w := range waits {
		waits[i].out = &resp.Topics[w.topic].Partitions[w.partition]
	}
	b.awaitLowWatermarks(ctx, waits, time.Duration(r.TimeoutMillis)*time.Millisecond)
	return protocol.Respond(resp)
}

// awaitLowWatermarks answers each wait with its partition's low watermark
// once that reaches the target, or REQUEST_TIMED_OUT after timeout.
func (b *Broker) awaitLowWatermarks(ctx context.Context, waits []deleteWait, timeout time.Duration) {
	deadline := time.NewTimer(max(timeout, 0))
	defer deadline.Stop()
	tick := time.NewTicker(lowWatermarkPoll)
	defer tick.Stop()
	for {
		img := b.Image()
		alive := func(id int32) bool { return brokerAlive(img, id) }
		pending := waits[:0]
		for _, w := range waits {
			low, err := w.part.LowWatermark(alive)
			switch {
			case err != nil:
				w.out.ErrorCode = protocol.ErrorCode(err)
			case low >= w.target:
				w.out.LowWatermark = low
			default:
				pending = append(pending, w)
			}
		}
		waits = pending
		if len(waits) == 0 {
			return
		}
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
		case <-ctx.Done():
		case <-b.stopping:
		}
		for _, w := range waits {
			w.out.ErrorCode = kerr.RequestTimedOut.Code
			b.log.Debug().Str("topic", w.part.Topic).Int32("partition", w.part.Index).Int64("log_start", w.target).
				Msg("delete records timed out: a live follower has not reached the new log start")
		}
		return
	}
}

// brokerAlive reports whether broker id is registered and unfenced in img.
func brokerAlive(img *metadata.Image, id int32) bool {
	br, ok := img.Broker(id)
	return ok && !br.Fenced
}
