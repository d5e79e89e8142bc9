// UnregisterBroker (key 64), version 0.
//
// The active controller removes a broker's registration from the metadata
// image (an UnregisterBrokerRecord naming the registration's epoch). The
// broker's partition assignments are left as they are, as in Kafka: an
// unregistered broker counts as fenced for leader election, and its
// replicas are reassigned by the operator.
//
// Deliberate deviation from Kafka: Kafka removes a live broker's
// registration too, and the broker simply registers again at its next
// heartbeat. Here only a fenced broker may be unregistered; a broker that is
// unfenced (alive, or not yet declared dead by gossip) is refused with
// INVALID_REQUEST "fence or stop the broker first". Stop the broker, wait
// until gossip has fenced it (`samsa broker describe ID`), then
// decommission it. A broker process that is still running after being
// unregistered registers again when it restarts.
//
// A broker-only node is also removed from the metadata quorum, where it
// was a Raft non-voter (observers.go); should that fail (a failover), the
// next active controller removes it.

package controller

import (
	"context"
	"errors"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// UnregisterBroker removes a fenced broker's registration.
func (c *Controller) UnregisterBroker(ctx context.Context, req *kmsg.UnregisterBrokerRequest) (*kmsg.UnregisterBrokerResponse, error) {
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	_, err := c.commit(ctx, func(img *metadata.Image) ([]metadata.Record, error) {
		b, ok := img.Broker(req.BrokerID)
		if !ok {
			return nil, errorf(kerr.BrokerIDNotRegistered, "broker %d is not registered", req.BrokerID)
		}
		if !b.Fenced {
			return nil, errorf(kerr.InvalidRequest,
				"broker %d is registered and unfenced: fence or stop the broker first", req.BrokerID)
		}
		return []metadata.Record{&metadata.UnregisterBrokerRecord{NodeID: b.ID, BrokerEpoch: b.Epoch}}, nil
	})
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errResult(err)
		ev := c.log.Warn()
		if errors.Is(err, ErrNotController) {
			ev = c.log.Debug()
		}
		ev.Err(err).Int32("broker", req.BrokerID).Msg("broker unregistration refused")
		return resp, nil
	}
	c.log.Info().Int32("broker", req.BrokerID).Msg("broker unregistered")
	if err := c.removeObserver(ctx, req.BrokerID); err != nil {
		c.log.Warn().Err(err).Int32("broker", req.BrokerID).Msg("unregistered broker not removed from the metadata quorum's non-voters yet")
	}
	return resp, nil
}
