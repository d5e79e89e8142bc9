package broker

// SyncGroup, key 14, versions 0-5.
//
// The leader sends the assignment; the coordinator stores the group
// (acks=all on __consumer_offsets) and only then answers every member with
// its share. Followers wait in Later for that. The protocol type and name
// are checked against the group's from v5 (INCONSISTENT_GROUP_PROTOCOL).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleSyncGroup(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.SyncGroupRequest)
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		return b.groups.SyncGroup(ctx, r), nil
	})
}
