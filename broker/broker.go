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

	"github.com/rs/zerolog"

	"github.com/samsa-io/samsa/broker/group"
	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/replication"
)

// Broker serves the Kafka API for the partitions this node hosts.
type Broker struct {
	cfg      Config
	log      zerolog.Logger
	parts    *replication.Manager
	server   *protocol.Server
	ctrl     *controllerClient
	pids     *producerIDAllocator
	sessions *fetchSessions
	groups   *group.Coordinator

	image atomic.Pointer[metadata.Image]
	// imageChanged is closed and replaced on every published image.
	imageMu      sync.Mutex
	imageChanged chan struct{}

	incarnation [16]byte
	epoch       atomic.Int64 // broker epoch from registration

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
	parts, err := replication.NewManager(replication.ManagerConfig{
		NodeID: cfg.NodeID, LogDir: cfg.LogDir, Durability: cfg.Durability,
		RetentionCheckInterval: cfg.RetentionCheckInterval, Logger: log,
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
	b := &Broker{ // parts and groups are closed by Shutdown
		cfg: cfg, log: log, parts: parts, groups: groups,
		imageChanged: make(chan struct{}),
		sessions:     newFetchSessions(),
		stopping:     make(chan struct{}),
	}
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

// Shutdown stops serving: it stops accepting, answers every request already
// read, then closes every partition (syncing its log). ctx bounds the wait
// for in-flight requests.
func (b *Broker) Shutdown(ctx context.Context) error {
	var errs []error
	b.stopOnce.Do(func() {
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
