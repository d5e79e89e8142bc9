package broker

// DescribeGroups, key 15, versions 0-6.
//
// State, protocol type, and members (client id, host, instance id); a
// Stable group also shows its protocol and each member's metadata and
// assignment. An unknown group is answered Dead without error before v6 and
// GROUP_ID_NOT_FOUND from v6 (KIP-1043). Authorized operations are not
// computed (there is no authorizer yet) and are answered as not requested.
// Deviation: a KIP-848 consumer group is described too (Kafka answers
// GROUP_ID_NOT_FOUND and leaves it to ConsumerGroupDescribe): its state
// (Empty, Assigning, Reconciling, Stable), protocol type "consumer", its
// assignor as protocol, and each member's subscription and assignment in
// the consumer protocol's encoding, so that tools made for classic groups
// show it.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleDescribeGroups(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	topics := imageTopics{b.Image()}
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		resp := b.groups.DescribeGroups(ctx, r, topics)
		for i := range resp.Groups {
			resp.Groups[i].AuthorizedOperations = authorizedOpsNotRequested
		}
		return resp, nil
	})
}
