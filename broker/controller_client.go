package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
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
// NOT_CONTROLLER, cannot be reached, or does not answer within
// controllerAttemptTimeout (a paused process). When no listener answers as
// the active controller (an election is under way), it starts over after a
// backoff, until ControllerTimeout.
type controllerClient struct {
	conns   []*protocol.Client
	timeout time.Duration
	log     zerolog.Logger

	mu     sync.Mutex
	active int // index into conns of the last active controller
}

const (
	// controllerAttemptTimeout bounds one attempt at one controller. A
	// controller operation is one Raft commit, milliseconds normally;
	// waiting longer on one listener only delays finding the new active
	// controller after a failover.
	controllerAttemptTimeout = 5 * time.Second
	// Backoff between rounds over every controller listener.
	controllerRetryMin = 25 * time.Millisecond
	controllerRetryMax = 500 * time.Millisecond
)

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

// send issues req to the active controller, retrying while none is found.
// The response's own error codes are the caller's to read, except
// NOT_CONTROLLER, which moves on. A request whose outcome is unknown (the
// controller stopped answering) may be sent again to the next active
// controller, as a Kafka client retries: it then answers for the change
// as it finds it (TOPIC_ALREADY_EXISTS, say), never reports a failure for
// a change that committed.
func (c *controllerClient) send(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	backoff := controllerRetryMin
	for {
		resp, err := c.sendRound(ctx, req)
		if err == nil || ctx.Err() != nil {
			return resp, err
		}
		c.log.Debug().Err(err).Str("api", kmsg.NameForKey(req.Key())).Msg("no active controller answered; retrying")
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
			backoff = min(2*backoff, controllerRetryMax)
		}
	}
}

// sendRound tries each controller listener once.
func (c *controllerClient) sendRound(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.mu.Lock()
	start := c.active
	c.mu.Unlock()
	var lastErr error = errNoController
	for i := range c.conns {
		idx := (start + i) % len(c.conns)
		actx, cancel := context.WithTimeout(ctx, controllerAttemptTimeout)
		resp, err := c.conns[idx].Request(actx, req)
		cancel()
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
	case *kmsg.AddRaftVoterResponse:
		return r.ErrorCode == nc
	case *kmsg.RemoveRaftVoterResponse:
		return r.ErrorCode == nc
	case *kmsg.AlterPartitionResponse:
		return r.ErrorCode == nc
	case *kmsg.AlterPartitionAssignmentsResponse:
		return r.ErrorCode == nc
	case *kmsg.ListPartitionReassignmentsResponse:
		return r.ErrorCode == nc
	case *kmsg.ElectLeadersResponse:
		return r.ErrorCode == nc // the controller answers at v1+, which has it
	case *kmsg.DescribeQuorumResponse:
		// Only the leader describes the quorum; the others answer
		// NOT_LEADER_OR_FOLLOWER for the metadata partition.
		if r.ErrorCode == nc {
			return true
		}
		var codes []int16
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				codes = append(codes, p.ErrorCode)
			}
		}
		return len(codes) > 0 && !slices.ContainsFunc(codes, func(c int16) bool { return c != kerr.NotLeaderForPartition.Code })
	}
	return false
}

// SetObserver makes this broker a broker-only node's, before Start: it
// registers with clusterID, and names raftAddr, where the node's Raft
// non-voter listens, in a RAFT listener (see Config.RaftObserverAddr).
func (b *Broker) SetObserver(clusterID, raftAddr string) {
	b.cfg.ClusterID, b.cfg.RaftObserverAddr = clusterID, raftAddr
}

// raftListenerName names the Raft address in a broker-only node's
// registration (controller.RaftListenerName).
const raftListenerName = "RAFT"

// register announces this broker to the controller quorum and waits until
// the registration is in the broker's metadata image. It retries while no
// controller is active yet.
func (b *Broker) register(ctx context.Context) error {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID = b.cfg.NodeID
	req.ClusterID = b.cfg.ClusterID
	if req.ClusterID == "" {
		// The cluster id comes with the first metadata the broker
		// follows; a registration must name it.
		img, err := b.waitImage(ctx, func(img *metadata.Image) bool { return img.ClusterID() != "" })
		if err != nil {
			return fmt.Errorf("waiting for the cluster id in metadata: %w", err)
		}
		req.ClusterID = img.ClusterID()
	}
	req.IncarnationID = b.incarnation
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port, l.SecurityProtocol = b.advertise.Name, b.advertise.Host, b.advertise.Port, 0
	req.Listeners = []kmsg.BrokerRegistrationRequestListener{l}
	if b.cfg.RaftObserverAddr != "" {
		host, portStr, err := net.SplitHostPort(b.cfg.RaftObserverAddr)
		port, perr := strconv.ParseUint(portStr, 10, 16)
		if err != nil || perr != nil || port == 0 {
			return fmt.Errorf("raft address %q of this broker-only node is not host:port", b.cfg.RaftObserverAddr)
		}
		rl := kmsg.NewBrokerRegistrationRequestListener()
		rl.Name, rl.Host, rl.Port = raftListenerName, host, uint16(port)
		req.Listeners = append(req.Listeners, rl)
	}
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
	_, err := b.waitImage(ctx, func(img *metadata.Image) bool {
		br, ok := img.Broker(b.cfg.NodeID)
		return ok && br.IncarnationID == b.incarnation
	})
	if err != nil {
		return fmt.Errorf("waiting for broker %d registration in metadata: %w", b.cfg.NodeID, err)
	}
	if b.cfg.Liveness == nil {
		return nil
	}
	// The registration is in this broker's image, so it has followed the
	// metadata log that far: say so through gossip, and wait for the
	// active controller to unfence it.
	if err := b.cfg.Liveness.AnnounceRegistration(b.incarnation, b.epoch.Load()); err != nil {
		return fmt.Errorf("announcing broker %d registration: %w", b.cfg.NodeID, err)
	}
	b.log.Info().Int64("broker_epoch", b.epoch.Load()).Msg("registered; waiting for the controller to unfence this broker")
	_, err = b.waitImage(ctx, func(img *metadata.Image) bool {
		br, ok := img.Broker(b.cfg.NodeID)
		return ok && br.IncarnationID == b.incarnation && !br.Fenced
	})
	if err != nil {
		return fmt.Errorf("waiting for broker %d to be unfenced: %w", b.cfg.NodeID, err)
	}
	return nil
}
