package broker

// ListGroups, key 16, versions 0-5.
//
// Lists the groups of every __consumer_offsets partition this broker
// leads, as Kafka does (clients ask every broker). States filter from v4
// (KIP-518), types filter from v5: "classic" or "consumer" (KIP-848 groups,
// whose states are Empty, Assigning, Reconciling and Stable). While a
// partition is loading the answer is COORDINATOR_LOAD_IN_PROGRESS, with the
// groups of the loaded ones.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleListGroups(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.ListGroupsRequest)
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		return b.groups.ListGroups(ctx, r), nil
	})
}
