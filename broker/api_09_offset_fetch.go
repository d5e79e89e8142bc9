package broker

// OffsetFetch, key 9, versions 1-9 (v0 read ZooKeeper offsets and is gone
// since Kafka 4.0, KIP-896).
//
// One group before v8, several from v8 (each with its own error). Null
// topics (v2+) return every committed offset of the group. RequireStable
// (v7+) needs no wait: without transactions no offset is ever pending, so
// every answer is stable. Before v2 a group-level error is put on each
// requested partition. The v9 member id and epoch are checked for KIP-848
// consumer groups (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH; epoch -1 is an
// admin and is not checked) and ignored for classic groups. Deviation: v10
// (topic ids) is not served yet.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleOffsetFetch(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		return b.groups.FetchOffsets(ctx, r), nil
	})
}
