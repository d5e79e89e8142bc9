package broker

// DeleteRecords, key 21, versions 0-2 (KIP-107).
//
// Each partition's leader moves its log start offset up to the requested
// offset (-1: the high watermark) and answers the new low watermark; whole
// segments below it are deleted at once. With one replica per partition
// the low watermark is the leader's log start offset, known as soon as the
// call returns, so the request's timeout is not needed: the operation is
// local and synchronous. A topic whose cleanup.policy lacks delete answers
// POLICY_VIOLATION, as Kafka does.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleDeleteRecords(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	img := b.Image()
	for _, rt := range r.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			out := kmsg.NewDeleteRecordsResponseTopicPartition()
			out.Partition, out.LowWatermark = rp.Partition, -1
			part, err := b.partition(img, rt.Topic, rp.Partition)
			if err == nil {
				out.LowWatermark, err = part.DeleteRecords(rp.Offset)
			}
			if err != nil {
				out.ErrorCode, out.LowWatermark = protocol.ErrorCode(err), -1
				b.log.Debug().Err(err).Str("topic", rt.Topic).Int32("partition", rp.Partition).
					Int64("offset", rp.Offset).Msg("delete records refused")
			}
			st.Partitions = append(st.Partitions, out)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return protocol.Respond(resp)
}
