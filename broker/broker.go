package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/broker/group"
	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/replication"
)

// Broker serves the Kafka API for the partitions this node hosts.
type Broker struct {
	cfg    Config
	log    zerolog.Logger
	parts  *replication.Manager
	server *protocol.Server
	ctrl   *controllerClient
	// ctrlReady publishes ctrl, set in Start, to the goroutines that may
	// run before it (the partitions' ISR senders).
	ctrlReady atomic.Pointer[controllerClient]
	pids      *producerIDAllocator
	sessions  *fetchSessions
	groups    *group.Coordinator
	// replicaThrottle is leader.replication.throttled.rate.
	replicaThrottle *replication.Throttle

	image atomic.Pointer[metadata.Image]
	// imageChanged is closed and replaced on every published image.
	imageMu      sync.Mutex
	imageChanged chan struct{}

	incarnation [16]byte
	epoch       atomic.Int64 // broker epoch from registration
	// straysChecked is set once PublishImage has removed the partition
	// directories that the first image holding this process's
	// registration assigns elsewhere. Only PublishImage's goroutine uses
	// it.
	straysChecked bool

	ln        net.Listener
	advertise metadata.Listener
	serveDone chan error
	stopOnce  sync.Once
	stopping  chan struct{}
}

// New creates a broker and opens its partition manager. It does not listen
// until Start.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	log := cfg.Logger.With().Int32("node", cfg.NodeID).Logger()
	b := &Broker{ // parts and groups are closed by Shutdown
		cfg: cfg, log: log,
		imageChanged: make(chan struct{}),
		sessions:     newFetchSessions(),
		stopping:     make(chan struct{}),

		replicaThrottle: replication.NewThrottle(cfg.LeaderReplicationThrottledRate),
	}
	fetcher := cfg.ReplicaFetch
	fetcher.Resolve = b.resolveBroker
	fetcher.Throttle = replication.NewThrottle(cfg.FollowerReplicationThrottledRate)
	fetcher.BrokerEpoch = func() int64 {
		if e := b.epoch.Load(); e > 0 {
			return e
		}
		return -1 // not registered yet
	}
	parts, err := replication.NewManager(replication.ManagerConfig{
		NodeID: cfg.NodeID, LogDir: cfg.LogDir, Durability: cfg.Durability,
		RetentionCheckInterval: cfg.RetentionCheckInterval,
		ReplicaLagTimeMax:      cfg.ReplicaLagTimeMax,
		ISR:                    isrSender{b},
		Fetcher:                fetcher,
		Logger:                 log,
	})
	if err != nil {
		return nil, err
	}
	gcfg := cfg.Group
	gcfg.Logger = log
	groups, err := group.NewCoordinator(gcfg)
	if err != nil {
		parts.Close()
		return nil, fmt.Errorf("broker config: %w", err)
	}
	b.parts, b.groups = parts, groups
	if _, err := rand.Read(b.incarnation[:]); err != nil {
		return nil, fmt.Errorf("generating incarnation id: %w", err)
	}
	b.image.Store(metadata.Empty())
	b.pids = newProducerIDAllocator(b)
	return b, nil
}

// Start binds the Kafka listener, registers with the controller quorum,
// waits until the registration is in the metadata image, and serves.
func (b *Broker) Start(ctx context.Context) error {
	if len(b.cfg.ControllerAddrs) == 0 {
		return errors.New("broker has no controller address (controller.quorum.bootstrap.servers)")
	}
	ln, err := net.Listen("tcp", b.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("kafka listener on %s: %w", b.cfg.ListenAddr, err)
	}
	b.ln = ln
	if b.advertise, err = advertisedListener(b.cfg, ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	if b.ctrl, err = newControllerClient(b.cfg, b.log); err != nil {
		ln.Close()
		return err
	}
	b.ctrlReady.Store(b.ctrl)
	if err := b.register(ctx); err != nil {
		ln.Close()
		b.ctrl.close()
		return err
	}
	srvCfg := b.cfg.Server
	srvCfg.Logger = b.log
	reg := protocol.NewRegistry()
	b.registerHandlers(reg)
	b.server = protocol.NewServer(srvCfg, reg)
	b.serveDone = make(chan error, 1)
	go func() { b.serveDone <- b.server.Serve(ln) }()
	b.log.Info().Str("listener", ln.Addr().String()).Int64("broker_epoch", b.epoch.Load()).Msg("broker serving")
	return nil
}

// Addr is the bound Kafka listener address.
func (b *Broker) Addr() net.Addr { return b.ln.Addr() }

// AdvertisedAddr is the host:port clients are told to use.
func (b *Broker) AdvertisedAddr() string {
	return net.JoinHostPort(b.advertise.Host, strconv.Itoa(int(b.advertise.Port)))
}

func advertisedListener(cfg Config, bound net.Addr) (metadata.Listener, error) {
	host, portStr, err := net.SplitHostPort(bound.String())
	if err != nil {
		return metadata.Listener{}, fmt.Errorf("parsing listener address %s: %w", bound, err)
	}
	port, _ := strconv.Atoi(portStr)
	if cfg.AdvertisedHost != "" {
		host = cfg.AdvertisedHost
	}
	if cfg.AdvertisedPort != 0 {
		port = int(cfg.AdvertisedPort)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return metadata.Listener{}, fmt.Errorf("listener %s binds all interfaces: set advertised.listeners host", bound)
	}
	return metadata.Listener{Name: listenerName, Host: host, Port: uint16(port)}, nil
}

// listenerName is the name of the client listener in broker registrations.
const listenerName = "PLAINTEXT"

// Shutdown stops serving: it first lets the controller move this broker's
// leaderships away (controlled shutdown), then stops accepting, answers
// every request already read, and closes every partition (syncing its log).
// ctx bounds the waits.
func (b *Broker) Shutdown(ctx context.Context) error {
	var errs []error
	b.stopOnce.Do(func() {
		b.awaitLeadershipsMoved(ctx)
		close(b.stopping)
		// Groups first: their waiting JoinGroups and SyncGroups are
		// answered (NOT_COORDINATOR) so the server's drain does not wait
		// out a rebalance.
		b.groups.Close()
		if b.server != nil {
			if err := b.server.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
			if err := <-b.serveDone; err != nil && !errors.Is(err, protocol.ErrServerClosed) {
				errs = append(errs, err)
			}
		}
		if b.ctrl != nil {
			b.ctrl.close()
		}
		if err := b.parts.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing partitions: %w", err))
		}
	})
	return errors.Join(errs...)
}

// controlledShutdownTimeout bounds how long a stopping broker waits for the
// controller to move its leaderships away.
const controlledShutdownTimeout = 10 * time.Second

// awaitLeadershipsMoved is the broker's side of a controlled shutdown. The
// node has left gossip before calling Shutdown, so the active controller
// fences this broker and, in the same metadata batch, gives each partition
// it leads to another in-sync replica. Until that image arrives the broker
// keeps serving: producers and consumers find the new leaders through
// NOT_LEADER_OR_FOLLOWER and a metadata refresh instead of a dead
// connection, and acks=all requests in flight are answered. It returns at
// once when nothing can move (no liveness, or no partition led here has
// another unfenced ISR member) or no controller is active to move it (the
// last nodes of a cluster stopping: no quorum is left to fence anyone).
func (b *Broker) awaitLeadershipsMoved(ctx context.Context) {
	if b.cfg.Liveness == nil || !b.leadsMovablePartition(b.Image()) {
		// Nothing to move, or already moved: leaving gossip usually takes
		// long enough for the controller to fence this broker.
		return
	}
	if !b.controllerActive(ctx) {
		b.log.Info().Msg("controlled shutdown: no active controller to move leaderships; stopping")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, controlledShutdownTimeout)
	defer cancel()
	start := time.Now()
	_, err := b.waitImage(ctx, func(img *metadata.Image) bool {
		br, ok := img.Broker(b.cfg.NodeID)
		return !ok || br.Fenced || !b.leadsMovablePartition(img)
	})
	if err != nil {
		b.log.Warn().Err(err).Dur("waited", time.Since(start)).Msg("controlled shutdown: leaderships were not moved in time; stopping anyway")
		return
	}
	b.log.Info().Dur("took", time.Since(start)).Msg("controlled shutdown: leaderships moved to other replicas")
}

// controllerActive asks the quorum, briefly, whether it has an active
// controller (DescribeQuorum answered by the leader).
func (b *Broker) controllerActive(ctx context.Context) bool {
	ctrl := b.ctrlReady.Load()
	if ctrl == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, controllerProbeTimeout)
	defer cancel()
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata" // the metadata log, as KRaft names it
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{rt}
	resp, err := ctrl.send(ctx, req)
	if err != nil {
		return false
	}
	r := resp.(*kmsg.DescribeQuorumResponse)
	return r.ErrorCode == 0 && len(r.Topics) == 1 && len(r.Topics[0].Partitions) == 1 &&
		r.Topics[0].Partitions[0].ErrorCode == 0
}

// controllerProbeTimeout bounds controllerActive.
const controllerProbeTimeout = 2 * time.Second

// leadsMovablePartition reports whether this broker leads a partition that
// another unfenced ISR member could take over.
func (b *Broker) leadsMovablePartition(img *metadata.Image) bool {
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if p.Leader != b.cfg.NodeID {
				continue
			}
			for _, id := range p.ISR {
				if br, ok := img.Broker(id); ok && id != b.cfg.NodeID && !br.Fenced {
					return true
				}
			}
		}
	}
	return false
}

// Image returns the latest metadata image the broker has applied.
func (b *Broker) Image() *metadata.Image { return b.image.Load() }

// waitImage waits until cond holds for the current image or ctx ends.
func (b *Broker) waitImage(ctx context.Context, cond func(*metadata.Image) bool) (*metadata.Image, error) {
	for {
		b.imageMu.Lock()
		changed := b.imageChanged
		b.imageMu.Unlock()
		img := b.image.Load()
		if cond(img) {
			return img, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return img, ctx.Err()
		case <-b.stopping:
			return img, errors.New("broker is shutting down")
		}
	}
}

// SetControllerAddrs sets the controller listeners before Start; a combined
// node learns its controller's bound address only after the controller
// starts.
func (b *Broker) SetControllerAddrs(addrs []string) { b.cfg.ControllerAddrs = addrs }
