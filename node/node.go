package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/samsa-io/samsa/broker"
	"github.com/samsa-io/samsa/controller"
	"github.com/samsa-io/samsa/gossip"
	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/storage"
)

// Roles a node can have.
const (
	RoleController = "controller"
	RoleBroker     = "broker"
)

// Config is everything one node needs. Controller, Broker and Gossip
// carry each part's own settings; Start fills in the fields derived from
// the node (node id, directories, loggers, liveness).
// Broker.ControllerAddrs lists every voter's controller listener; empty
// means this node's own, which is right only for a single voter. An empty
// Gossip.BindAddr runs the node without gossip: brokers are then
// registered unfenced and never fenced (tests, the in-process harness).
//
// A broker-only node (Roles without controller) still runs a Controller,
// as a Raft non-voter that follows the metadata log
// (controller.Config.Observer, which Start sets, with no controller
// listener); it needs Broker.ControllerAddrs and Controller.ClusterID.
type Config struct {
	NodeID     int32
	Roles      []string
	DataDir    string
	Controller controller.Config
	Broker     broker.Config
	Gossip     gossip.Config
	Logger     zerolog.Logger
	// MaxOpenSegments bounds the sealed segment files the process keeps
	// open (storage.max.open.segments); 0 keeps storage's default.
	MaxOpenSegments int
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if len(c.Roles) == 0 {
		return errors.New("node has no roles: set roles to controller, broker or both")
	}
	for _, r := range c.Roles {
		if r != RoleController && r != RoleBroker {
			return fmt.Errorf("unknown role %q (roles are %q and %q)", r, RoleController, RoleBroker)
		}
	}
	if !slices.Contains(c.Roles, RoleController) {
		if len(c.Broker.ControllerAddrs) == 0 {
			return errors.New("a broker-only node needs the voters' controller listeners (controller.quorum.bootstrap.servers)")
		}
		if c.Controller.ClusterID == "" {
			return errors.New("a broker-only node needs the cluster id of the quorum it follows (cluster.id)")
		}
	}
	if c.DataDir == "" {
		return errors.New("data directory is not set")
	}
	if c.MaxOpenSegments < 0 {
		return fmt.Errorf("storage.max.open.segments %d is negative", c.MaxOpenSegments)
	}
	return nil
}

// Node is a running Samsa process.
type Node struct {
	cfg    Config
	ctrl   *controller.Controller
	brk    *broker.Broker
	gossip *gossip.Gossip
}

// Start starts the node's roles and returns once the broker (if any) serves.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg}
	if cfg.MaxOpenSegments > 0 {
		// The cache is the process's: every partition log shares it.
		storage.DefaultFileCache().SetMaxOpen(cfg.MaxOpenSegments)
	}
	if err := n.create(); err != nil {
		n.closeAll()
		return nil, err
	}
	if err := n.start(ctx); err != nil {
		n.closeAll()
		return nil, err
	}
	return n, nil
}

// create builds the roles and starts gossip (the broker first: gossip
// announces its incarnation id, and the controller reads gossip).
func (n *Node) create() error {
	cfg := n.cfg
	if slices.Contains(cfg.Roles, RoleBroker) {
		bcfg := cfg.Broker
		bcfg.NodeID = cfg.NodeID
		bcfg.LogDir = filepath.Join(cfg.DataDir, "logs")
		bcfg.Logger = cfg.Logger.With().Str("role", RoleBroker).Logger()
		brk, err := broker.New(bcfg)
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		n.brk = brk
	}
	ccfg := cfg.Controller
	ccfg.NodeID = cfg.NodeID
	ccfg.DataDir = filepath.Join(cfg.DataDir, "controller")
	ccfg.Logger = cfg.Logger.With().Str("role", RoleController).Logger()
	if n.observer() {
		// The metadata log's follower: a Raft non-voter that is never the
		// active controller, so it has no controller listener.
		ccfg.Observer, ccfg.Join, ccfg.Voters, ccfg.ListenAddr = true, false, nil, ""
		ccfg.Logger = cfg.Logger.With().Str("role", "observer").Logger()
	}
	if cfg.Gossip.BindAddr != "" {
		if err := n.startGossip(); err != nil {
			return err
		}
		if !n.observer() {
			ccfg.Liveness = gossipView{n.gossip}
		}
	}
	ctrl, err := controller.New(ccfg)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	n.ctrl = ctrl
	if n.brk != nil {
		// Subscribe before the controller starts so the broker sees every
		// image from the first replayed one.
		brk := n.brk
		ctrl.Subscribe(func(img *metadata.Image, d *metadata.Delta) { brk.PublishImage(img, d) })
	}
	return nil
}

func (n *Node) startGossip() error {
	gcfg := n.cfg.Gossip
	gcfg.NodeID = n.cfg.NodeID
	gcfg.Logger = n.cfg.Logger
	meta := gossip.Meta{Roles: n.cfg.Roles}
	if n.brk != nil {
		meta.Incarnation = n.brk.Incarnation()
	}
	g, err := gossip.Start(gcfg, meta)
	if err != nil {
		return err
	}
	n.gossip = g
	if n.brk != nil {
		n.brk.SetLiveness(gossipView{g})
	}
	return nil
}

// observer reports whether this is a broker-only node.
func (n *Node) observer() bool { return !slices.Contains(n.cfg.Roles, RoleController) }

// start starts the controller, waits for the quorum, then starts the
// broker, announcing each endpoint through gossip once it serves. A
// broker-only node waits for nothing before its broker registers: the
// registration is what makes it a follower of the metadata log.
func (n *Node) start(ctx context.Context) error {
	if err := n.ctrl.Start(ctx); err != nil {
		return fmt.Errorf("starting controller: %w", err)
	}
	if n.observer() {
		return n.startObserver(ctx)
	}
	// With several voters this waits for a quorum, and fails if the other
	// voters refuse this node (wrong cluster or node id).
	if err := n.ctrl.WaitReady(ctx); err != nil {
		return fmt.Errorf("starting controller: %w", err)
	}
	n.announce(func(m *gossip.Meta) { m.Controller, m.Raft = n.ctrl.ListenAddr(), n.ctrl.RaftAddr() })
	if n.brk == nil {
		return nil
	}
	if len(n.cfg.Broker.ControllerAddrs) == 0 {
		n.brk.SetControllerAddrs([]string{n.ctrl.ListenAddr()})
	}
	if err := n.brk.Start(ctx); err != nil {
		return fmt.Errorf("starting broker: %w", err)
	}
	n.announce(func(m *gossip.Meta) { m.Kafka = n.brk.AdvertisedAddr() })
	return nil
}

// startObserver starts a broker-only node's broker: it registers with the
// configured cluster id and its Raft address, is made a Raft non-voter by
// the active controller, and serves once the log has brought its
// registration into its image.
func (n *Node) startObserver(ctx context.Context) error {
	n.announce(func(m *gossip.Meta) { m.Raft = n.ctrl.RaftAddr() })
	n.brk.SetObserver(n.ctrl.ClusterID(), n.ctrl.RaftAddr())
	if err := n.brk.Start(ctx); err != nil {
		return fmt.Errorf("starting broker: %w", err)
	}
	n.announce(func(m *gossip.Meta) { m.Kafka = n.brk.AdvertisedAddr() })
	return nil
}

// announce updates this node's gossip metadata, if it gossips.
func (n *Node) announce(change func(*gossip.Meta)) {
	if n.gossip != nil {
		if err := n.gossip.Update(change); err != nil {
			n.cfg.Logger.Warn().Err(err).Msg("gossip metadata not updated")
		}
	}
}

func (n *Node) closeAll() {
	if n.brk != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n.brk.Shutdown(ctx)
	}
	if n.ctrl != nil {
		n.ctrl.Close()
	}
	if n.gossip != nil {
		n.gossip.Close()
	}
}

// Bootstrap is the address Kafka clients connect to ("" without a broker).
func (n *Node) Bootstrap() string {
	if n.brk == nil {
		return ""
	}
	return n.brk.AdvertisedAddr()
}

// ClusterID is the cluster id from the metadata image.
func (n *Node) ClusterID() string { return n.ctrl.Image().ClusterID() }

// ControllerAddr is the controller listener's address.
func (n *Node) ControllerAddr() string { return n.ctrl.ListenAddr() }

// Shutdown leaves gossip (the active controller fences this broker at
// once, moving its leaderships, instead of after a failure timeout), stops
// the broker gracefully (stop accepting, answer in-flight requests, sync
// and close logs), then the controller, then gossip. ctx bounds the wait
// for in-flight requests.
func (n *Node) Shutdown(ctx context.Context) error {
	var errs []error
	if n.gossip != nil {
		if err := n.gossip.Leave(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.brk != nil {
		if err := n.brk.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("broker shutdown: %w", err))
		}
	}
	if err := n.ctrl.Close(); err != nil {
		errs = append(errs, fmt.Errorf("controller shutdown: %w", err))
	}
	if n.gossip != nil {
		if err := n.gossip.Close(); err != nil {
			errs = append(errs, fmt.Errorf("gossip shutdown: %w", err))
		}
	}
	return errors.Join(errs...)
}

// gossipView adapts gossip to what the controller (the member table) and
// the broker (announcing its registration) need from it.
type gossipView struct{ g *gossip.Gossip }

func (v gossipView) Members() (map[int32]controller.MemberState, <-chan struct{}) {
	members, changed := v.g.Watch()
	out := make(map[int32]controller.MemberState, len(members))
	for id, m := range members {
		out[id] = controller.MemberState{Alive: m.Alive, Incarnation: m.Incarnation, BrokerEpoch: m.BrokerEpoch}
	}
	return out, changed
}

func (v gossipView) AnnounceRegistration(incarnation [16]byte, epoch int64) error {
	return v.g.Update(func(m *gossip.Meta) { m.Incarnation, m.BrokerEpoch = incarnation, epoch })
}

// DerivePort returns host:port with port = base port + offset, or port 0
// when the base port is 0 (tests bind everything to free ports).
func DerivePort(addr string, offset int) (string, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("parsing %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", fmt.Errorf("parsing port of %q: %w", addr, err)
	}
	if port == 0 {
		return net.JoinHostPort(host, "0"), nil
	}
	return net.JoinHostPort(host, strconv.Itoa(port+offset)), nil
}

// shutdownGrace is the default bound for a graceful shutdown.
const shutdownGrace = 30 * time.Second

// DefaultShutdownGrace returns how long Shutdown callers should allow.
func DefaultShutdownGrace() time.Duration { return shutdownGrace }
