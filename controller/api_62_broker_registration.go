// BrokerRegistration (key 62), versions 0-4.
//
// A broker is registered fenced; the active controller unfences it once
// gossip shows its node alive with this registration's incarnation id and
// broker epoch (liveness.go). Without liveness (Config.Liveness nil, in
// tests) it is registered unfenced.
//
// Deliberate deviations from Kafka:
//   - A registration with a new incarnation id replaces the old one even if
//     the old one is still alive (Kafka answers DUPLICATE_BROKER_REGISTRATION
//     while the old session has not expired): gossip carries one
//     incarnation per node id, and the old registration is fenced as soon
//     as gossip shows the new one.
//   - Features, LogDirs and PreviousBrokerEpoch are accepted and ignored.
//   - A broker-only node names its Raft transport address in a listener
//     called RAFT (as AddRaftVoter does). That listener is not
//     registered; once the registration is committed the node is made a
//     Raft non-voter (an observer) of the metadata quorum, so that it
//     follows the metadata log (observers.go), and the broker is answered
//     only then. A RAFT listener from a node that is a voter is refused
//     with INVALID_REGISTRATION.

package controller

import (
	"context"
	"errors"
	"slices"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerRegistration registers a broker. The broker epoch is the offset
// (Raft index) of the registration's log entry. A retry with the same
// incarnation, listeners and rack is answered with the existing epoch
// without writing anything.
func (c *Controller) BrokerRegistration(ctx context.Context, req *kmsg.BrokerRegistrationRequest) (*kmsg.BrokerRegistrationResponse, error) {
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	raftAddr, listeners, err := brokerRaftListener(req.Listeners)
	if err == nil && raftAddr != "" {
		err = c.precheckObserver(req.BrokerID, raftAddr)
	}
	if err != nil {
		return c.registrationRefused(resp, req.BrokerID, err), nil
	}
	rec := &metadata.RegisterBrokerRecord{
		NodeID:        req.BrokerID,
		IncarnationID: req.IncarnationID,
		BrokerEpoch:   -1, // resolved to the entry's offset when applied
		Fenced:        c.cfg.Liveness != nil,
	}
	if req.Rack != nil {
		rec.Rack = *req.Rack
	}
	for _, l := range listeners {
		rec.Listeners = append(rec.Listeners, metadata.Listener{
			Name: l.Name, Host: l.Host, Port: l.Port, SecurityProtocol: l.SecurityProtocol,
		})
	}
	img, err := c.commit(ctx, func(img *metadata.Image) ([]metadata.Record, error) {
		if req.ClusterID != img.ClusterID() {
			return nil, errorf(kerr.InconsistentClusterID, "broker %d names cluster %q, this is cluster %q",
				req.BrokerID, req.ClusterID, img.ClusterID())
		}
		if req.BrokerID < 0 {
			return nil, errorf(kerr.InvalidRequest, "broker id %d is negative", req.BrokerID)
		}
		if b, ok := img.Broker(req.BrokerID); ok && sameRegistration(b, rec) {
			return nil, nil
		}
		return []metadata.Record{rec}, nil
	})
	if err == nil && raftAddr != "" {
		err = c.ensureObserver(ctx, req.BrokerID, raftAddr)
	}
	if err != nil {
		return c.registrationRefused(resp, req.BrokerID, err), nil
	}
	b, _ := img.Broker(req.BrokerID)
	resp.BrokerEpoch = b.Epoch
	c.log.Info().Int32("broker", req.BrokerID).Int64("broker_epoch", b.Epoch).Msg("broker registered")
	return resp, nil
}

// registrationRefused fills resp with err.
func (c *Controller) registrationRefused(resp *kmsg.BrokerRegistrationResponse, id int32, err error) *kmsg.BrokerRegistrationResponse {
	resp.ErrorCode = errCode(err)
	resp.BrokerEpoch = -1
	ev := c.log.Warn()
	if errors.Is(err, ErrNotController) {
		ev = c.log.Debug() // the broker tries the next controller
	}
	ev.Err(err).Int32("broker", id).Msg("broker registration refused")
	return resp
}

func sameRegistration(b metadata.Broker, rec *metadata.RegisterBrokerRecord) bool {
	return b.IncarnationID == rec.IncarnationID && b.Rack == rec.Rack &&
		slices.Equal(b.Listeners, rec.Listeners)
}

func errCode(err error) int16 {
	code, _ := errResult(err)
	return code
}
