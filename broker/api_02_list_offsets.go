package broker

// ListOffsets, key 2, versions 1-9.
//
// Earliest (-2), latest (-1, the high watermark; read_committed sees the
// same because there are no transactions yet), max timestamp (-3, KIP-734),
// earliest local (-4, equal to earliest: there is no tiered storage), and
// earliest pending upload (-5, always "none": nothing is uploaded), and a
// timestamp lookup through the time index. Version 10 (KIP-1075 timeouts)
// is not served yet.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleListOffsets(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	img := b.Image()
	for _, rt := range r.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			out := kmsg.NewListOffsetsResponseTopicPartition()
			out.Partition = rp.Partition
			out.Timestamp, out.Offset = -1, -1
			part, err := b.partition(img, rt.Topic, rp.Partition)
			if err == nil {
				var found bool
				out.Offset, out.Timestamp, out.LeaderEpoch, found, err = part.ListOffset(rp.Timestamp, rp.CurrentLeaderEpoch)
				if err == nil && !found {
					out.Offset, out.Timestamp = -1, -1
				}
			}
			if err != nil {
				out.ErrorCode = protocol.ErrorCode(err)
				out.Offset, out.Timestamp = -1, -1
			}
			st.Partitions = append(st.Partitions, out)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return protocol.Respond(resp)
}
