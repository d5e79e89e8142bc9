package broker

// ElectLeaders, key 43, versions 0-2.
//
// Forwarded to the active controller, which runs the elections (see
// controller/api_43_elect_leaders.go). An elected partition is answered
// once this broker's image has a newer partition epoch for it than when
// the request arrived, so that a Metadata sent here next shows the new
// leader.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleElectLeaders(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.ElectLeadersRequest)
	fail := func(err error) kmsg.Response {
		resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
		resp.ErrorCode = protocol.ErrorCode(err)
		for _, t := range r.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.ErrorMessage = p, protocol.ErrorCode(err), protocol.ErrorMessage(err)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	before := b.Image()
	visible := func(resp kmsg.Response, img *metadata.Image) bool {
		for _, t := range resp.(*kmsg.ElectLeadersResponse).Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == 0 && !newerPartitionEpoch(before, img, t.Topic, p.Partition) {
					return false
				}
			}
		}
		return true
	}
	return b.forward(r, fail, visible)
}

// newerPartitionEpoch reports whether img has changed topic's partition
// since before (or no longer has it).
func newerPartitionEpoch(before, img *metadata.Image, topic string, partition int32) bool {
	t, ok := img.TopicByName(topic)
	if !ok {
		return true
	}
	p, ok := t.Partition(partition)
	if !ok {
		return true
	}
	if bt, ok := before.TopicByName(topic); ok && bt.ID == t.ID {
		if bp, ok := bt.Partition(partition); ok {
			return p.PartitionEpoch > bp.PartitionEpoch
		}
	}
	return true
}
