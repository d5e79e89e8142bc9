package broker

// LeaveGroup, key 13, versions 0-5.
//
// One member before v3; from v3 a batch of members, each by member id or,
// to remove a static member administratively, by group.instance.id alone
// (KIP-345), with a result per member. Before v3 the member's error is the
// response's error. The v5 reason (KIP-800) is logged.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleLeaveGroup(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.LeaveGroupRequest)
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		return b.groups.LeaveGroup(ctx, r), nil
	})
}
