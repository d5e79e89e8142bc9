package broker

// ConsumerGroupDescribe, key 69, versions 0-1 (KIP-848).
//
// For each consumer group: state (Empty, Assigning, Reconciling, Stable),
// group epoch, target assignment epoch, assignor, and every member with its
// subscription, current assignment and target assignment (topic ids and
// names). A group that does not exist, or is a classic group, is
// GROUP_ID_NOT_FOUND, as Kafka answers. v1 adds the member type (always
// "consumer": classic members do not join consumer groups here).
// Authorized operations are not computed (there is no authorizer yet).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleConsumerGroupDescribe(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.ConsumerGroupDescribeRequest)
	topics := imageTopics{b.Image()}
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		resp := b.groups.ConsumerGroupDescribe(ctx, r, topics)
		for i := range resp.Groups {
			resp.Groups[i].AuthorizedOperations = authorizedOpsNotRequested
		}
		return resp, nil
	})
}
