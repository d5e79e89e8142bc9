package broker

// Heartbeat, key 12, versions 0-4.
//
// Keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to
// rejoin, ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID that
// it was fenced (static members name their group.instance.id from v3).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleHeartbeat(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.HeartbeatRequest)
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		return b.groups.Heartbeat(ctx, r), nil
	})
}
