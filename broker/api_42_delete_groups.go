package broker

// DeleteGroups, key 42, versions 0-2.
//
// Only an empty group can be deleted (NON_EMPTY_GROUP otherwise; an
// unknown one is GROUP_ID_NOT_FOUND). The group and its offsets are
// tombstoned on __consumer_offsets and the answer waits for acks=all.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleDeleteGroups(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		return b.groups.DeleteGroups(ctx, r), nil
	})
}
