package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

// controllerClient sends Kafka-protocol requests to the active controller:
// admin requests forwarded from clients, registration, producer-id blocks.
// It tries the controller listeners in turn, starting with the one that
// last answered as the active controller, and moves on when one answers
// NOT_CONTROLLER or cannot be reached.
type controllerClient struct {
	conns   []*protocol.Client
	timeout time.Duration
	log     zerolog.Logger

	mu     sync.Mutex
	active int // index into conns of the last active controller
}

func newControllerClient(cfg Config, log zerolog.Logger) (*controllerClient, error) {
	c := &controllerClient{timeout: cfg.ControllerTimeout, log: log}
	clientID := fmt.Sprintf("samsa-broker-%d", cfg.NodeID)
	for _, addr := range cfg.ControllerAddrs {
		c.conns = append(c.conns, protocol.NewClient(addr, clientID))
	}
	return c, nil
}

func (c *controllerClient) close() {
	for _, cl := range c.conns {
		cl.Close()
	}
}

// errNoController is returned when no controller listener accepted a request.
var errNoController = fmt.Errorf("no active controller reachable: %w", kerr.NotController)

// send issues req to the active controller. The response's own error codes
// are the caller's to read, except NOT_CONTROLLER, which moves on.
func (c *controllerClient) send(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	c.mu.Lock()
	start := c.active
	c.mu.Unlock()
	var lastErr error = errNoController
	for i := range c.conns {
		idx := (start + i) % len(c.conns)
		resp, err := c.conns[idx].Request(ctx, req)
		if err != nil {
			lastErr = fmt.Errorf("controller request %s: %w", kmsg.NameForKey(req.Key()), err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if answeredNotController(resp) {
			continue
		}
		c.mu.Lock()
		c.active = idx
		c.mu.Unlock()
		return resp, nil
	}
	return nil, lastErr
}

// answeredNotController reports whether every result in resp is
// NOT_CONTROLLER, meaning the request reached a controller that is not active.
func answeredNotController(resp kmsg.Response) bool {
	nc := kerr.NotController.Code
	all := func(n int, code func(int) int16) bool {
		if n == 0 {
			return false
		}
		for i := 0; i < n; i++ {
			if code(i) != nc {
				return false
			}
		}
		return true
	}
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		return all(len(r.Topics), func(i int) int16 { return r.Topics[i].ErrorCode })
	case *kmsg.DeleteTopicsResponse:
		return all(len(r.Topics), func(i int) int16 { return r.Topics[i].ErrorCode })
	case *kmsg.CreatePartitionsResponse:
		return all(len(r.Topics), func(i int) int16 { return r.Topics[i].ErrorCode })
	case *kmsg.AlterConfigsResponse:
		return all(len(r.Resources), func(i int) int16 { return r.Resources[i].ErrorCode })
	case *kmsg.IncrementalAlterConfigsResponse:
		return all(len(r.Resources), func(i int) int16 { return r.Resources[i].ErrorCode })
	case *kmsg.AllocateProducerIDsResponse:
		return r.ErrorCode == nc
	case *kmsg.BrokerRegistrationResponse:
		return r.ErrorCode == nc
	}
	return false
}

// register announces this broker to the controller quorum and waits until
// the registration is in the broker's metadata image. It retries while no
// controller is active yet.
func (b *Broker) register(ctx context.Context) error {
	// The cluster id comes with the first metadata the broker follows; a
	// registration must name it.
	img, err := b.waitImage(ctx, func(img *metadata.Image) bool { return img.ClusterID() != "" })
	if err != nil {
		return fmt.Errorf("waiting for the cluster id in metadata: %w", err)
	}
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID = b.cfg.NodeID
	req.ClusterID = img.ClusterID()
	req.IncarnationID = b.incarnation
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port, l.SecurityProtocol = b.advertise.Name, b.advertise.Host, b.advertise.Port, 0
	req.Listeners = []kmsg.BrokerRegistrationRequestListener{l}
	f := kmsg.NewBrokerRegistrationRequestFeature()
	f.Name, f.MinSupportedVersion, f.MaxSupportedVersion = metadata.MetadataVersionFeature, 1, metadata.CurrentMetadataVersion
	req.Features = []kmsg.BrokerRegistrationRequestFeature{f}
	if b.cfg.Rack != "" {
		req.Rack = &b.cfg.Rack
	}
	backoff := 50 * time.Millisecond
	for {
		resp, err := b.ctrl.send(ctx, req)
		if err == nil {
			r := resp.(*kmsg.BrokerRegistrationResponse)
			if err = kerr.ErrorForCode(r.ErrorCode); err == nil {
				b.epoch.Store(r.BrokerEpoch)
				break
			}
			if !errors.Is(err, kerr.NotController) && !kerr.IsRetriable(err) {
				return fmt.Errorf("broker registration refused: %w", err)
			}
		}
		b.log.Debug().Err(err).Msg("broker registration not accepted yet; retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("registering broker %d: %w (last error: %v)", b.cfg.NodeID, ctx.Err(), err)
		case <-time.After(backoff):
			backoff = min(2*backoff, time.Second)
		}
	}
	_, err = b.waitImage(ctx, func(img *metadata.Image) bool {
		br, ok := img.Broker(b.cfg.NodeID)
		return ok && br.IncarnationID == b.incarnation
	})
	if err != nil {
		return fmt.Errorf("waiting for broker %d registration in metadata: %w", b.cfg.NodeID, err)
	}
	return nil
}
