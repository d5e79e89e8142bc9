package broker

// OffsetForLeaderEpoch, key 23, versions 2-4.
//
// For each partition: the largest leader epoch not above the requested one
// and the offset where it ended (KIP-101, KIP-279), from the log's leader
// epoch cache, after checking the caller's current leader epoch (KIP-320).
// Consumers use it to detect log truncation after an unclean leader change.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleOffsetForLeaderEpoch(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	img := b.Image()
	for _, rt := range r.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			out := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			out.Partition = rp.Partition
			out.LeaderEpoch, out.EndOffset = -1, -1
			part, err := b.partition(img, rt.Topic, rp.Partition)
			if err == nil {
				out.LeaderEpoch, out.EndOffset, err = part.EndOffsetForEpoch(rp.LeaderEpoch, rp.CurrentLeaderEpoch)
			}
			if err != nil {
				out.ErrorCode = protocol.ErrorCode(err)
				out.LeaderEpoch, out.EndOffset = -1, -1
			}
			st.Partitions = append(st.Partitions, out)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return protocol.Respond(resp)
}
