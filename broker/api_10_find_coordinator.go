package broker

// FindCoordinator, key 10, versions 0-6 (batched keys from v4, KIP-699).
//
// A group's coordinator is the leader of its __consumer_offsets partition
// (group.PartitionFor). The first request for a group when the topic does
// not exist creates it through the controller, as Kafka does, and waits
// (bounded) for it to have leaders, rather than answering
// COORDINATOR_NOT_AVAILABLE and leaving the client to retry. Deviations:
// transaction coordinators (type 1) and share-group coordinators (type 2)
// are answered INVALID_REQUEST, since Samsa has neither yet.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

// Coordinator types (FindCoordinator KeyType).
const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
	coordinatorShare       = 2
)

var errShareGroupsUnsupported = fmt.Errorf("share groups are not supported: %w", kerr.InvalidRequest)

func (b *Broker) handleFindCoordinator(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	keys := r.CoordinatorKeys
	if r.Version < 4 {
		keys = []string{r.CoordinatorKey}
	}
	if r.CoordinatorType != coordinatorGroup || len(keys) == 0 || offsetsTopicReady(b.Image()) {
		return protocol.Respond(b.findCoordinatorResponse(r, keys, nil))
	}
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		err := b.ensureOffsetsTopic(ctx)
		if err != nil {
			err = fmt.Errorf("the offsets topic is not available: %v: %w", err, kerr.CoordinatorNotAvailable)
		}
		return b.findCoordinatorResponse(r, keys, err), nil
	})
}

func (b *Broker) findCoordinatorResponse(r *kmsg.FindCoordinatorRequest, keys []string, topicErr error) *kmsg.FindCoordinatorResponse {
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	img := b.Image()
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		var err error
		switch r.CoordinatorType {
		case coordinatorGroup:
			if err = topicErr; err == nil {
				c.NodeID, c.Host, c.Port, err = b.coordinatorFor(img, key)
			}
		case coordinatorTransaction:
			err = errTransactionsUnsupported
		case coordinatorShare:
			err = errShareGroupsUnsupported
		default:
			err = fmt.Errorf("unknown coordinator type %d: %w", r.CoordinatorType, kerr.InvalidRequest)
		}
		if err != nil {
			c.NodeID, c.Host, c.Port = -1, "", -1
			c.ErrorCode, c.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if r.Version < 4 {
		c := resp.Coordinators[0]
		resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage
		resp.Coordinators = nil
	}
	return resp
}
