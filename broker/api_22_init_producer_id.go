package broker

// InitProducerId, key 22, versions 0-5.
//
// Idempotent producers (no transactional id) get a fresh producer id with
// epoch 0 from a block the controller allocated; a producer that sends its
// current id and epoch (KIP-360, v3+) gets a fresh id too, which resets its
// sequences as Kafka's epoch bump does. A transactional id is refused with
// INVALID_REQUEST: transactions are not implemented yet (FindCoordinator
// refuses transaction coordinators the same way, so transactional clients
// usually stop before this point).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

var errTransactionsUnsupported = fmt.Errorf("transactions are not supported yet: %w", kerr.InvalidRequest)

func (b *Broker) handleInitProducerID(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		resp.ErrorCode = protocol.ErrorCode(errTransactionsUnsupported)
		return protocol.Respond(resp)
	}
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		id, err := b.pids.nextID(ctx)
		if err != nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			b.log.Warn().Err(err).Msg("cannot hand out a producer id")
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
		return resp, nil
	})
}
