package broker

// JoinGroup, key 11, versions 0-9.
//
// The classic group protocol, served by the group coordinator (package
// group): KIP-394 member ids from v4 (a first join without a member id is
// answered MEMBER_ID_REQUIRED with the id to use), static membership from
// v5 (KIP-345), the protocol type and name in the answer from v7, and
// SkipAssignment for a static leader rejoining a stable group from v9
// (KIP-814). v0 carries one timeout, used as both session and rebalance
// timeout. The answer waits, in Later, until the join phase of the
// rebalance completes. A JoinGroup superseded by a newer one from the same
// member is answered REBALANCE_IN_PROGRESS instead of never.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleJoinGroup(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.JoinGroupRequest)
	id, host := clientID(req), clientHost(req)
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		return b.groups.JoinGroup(ctx, r, id, host), nil
	})
}
