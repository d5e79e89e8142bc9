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
	"github.com/samsa-io/samsa/metadata"
)

// Roles a node can have.
const (
	RoleController = "controller"
	RoleBroker     = "broker"
)

// Config is everything one node needs. Controller and Broker carry each
// role's own settings; Start fills in the fields derived from the node
// (node id, directories, the controller address for the broker).
type Config struct {
	NodeID     int32
	Roles      []string
	DataDir    string
	Controller controller.Config
	Broker     broker.Config
	Logger     zerolog.Logger
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
		return errors.New("a broker-only node needs a controller quorum to follow, which is not supported yet: add the controller role")
	}
	if c.DataDir == "" {
		return errors.New("data directory is not set")
	}
	return nil
}

// Node is a running Samsa process.
type Node struct {
	cfg  Config
	ctrl *controller.Controller
	brk  *broker.Broker
}

// Start starts the node's roles and returns once the broker (if any) serves.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg}
	ccfg := cfg.Controller
	ccfg.NodeID = cfg.NodeID
	ccfg.DataDir = filepath.Join(cfg.DataDir, "controller")
	ccfg.Logger = cfg.Logger.With().Str("role", RoleController).Logger()
	ctrl, err := controller.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	n.ctrl = ctrl

	if slices.Contains(cfg.Roles, RoleBroker) {
		bcfg := cfg.Broker
		bcfg.NodeID = cfg.NodeID
		bcfg.LogDir = filepath.Join(cfg.DataDir, "logs")
		bcfg.Logger = cfg.Logger.With().Str("role", RoleBroker).Logger()
		brk, err := broker.New(bcfg)
		if err != nil {
			ctrl.Close()
			return nil, fmt.Errorf("broker: %w", err)
		}
		n.brk = brk
		// Subscribe before the controller starts so the broker sees every
		// image from the first replayed one.
		ctrl.Subscribe(func(img *metadata.Image, d *metadata.Delta) { brk.PublishImage(img, d) })
	}
	if err := ctrl.Start(ctx); err != nil {
		n.closeAll()
		return nil, fmt.Errorf("starting controller: %w", err)
	}
	if n.brk != nil {
		n.brk.SetControllerAddrs([]string{ctrl.ListenAddr()})
		if err := n.brk.Start(ctx); err != nil {
			n.closeAll()
			return nil, fmt.Errorf("starting broker: %w", err)
		}
	}
	return n, nil
}

func (n *Node) closeAll() {
	if n.brk != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n.brk.Shutdown(ctx)
	}
	n.ctrl.Close()
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

// Shutdown stops the broker gracefully (stop accepting, answer in-flight
// requests, sync and close logs), then the controller. ctx bounds the wait
// for in-flight requests.
func (n *Node) Shutdown(ctx context.Context) error {
	var errs []error
	if n.brk != nil {
		if err := n.brk.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("broker shutdown: %w", err))
		}
	}
	if err := n.ctrl.Close(); err != nil {
		errs = append(errs, fmt.Errorf("controller shutdown: %w", err))
	}
	return errors.Join(errs...)
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
