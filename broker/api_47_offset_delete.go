package broker

// OffsetDelete, key 47, version 0 (KIP-496).
//
// Deletes committed offsets of a group: any of an empty group's; of a
// consumer group, only for topics no member subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise); another non-empty group is
// NON_EMPTY_GROUP. Partitions not in the metadata image are
// UNKNOWN_TOPIC_OR_PARTITION. Tombstones are written with acks=all before
// the answer.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleOffsetDelete(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	check := partitionCheck(b.Image())
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		return b.groups.DeleteOffsets(ctx, r, check), nil
	})
}
