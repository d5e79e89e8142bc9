package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// Config configures a node's gossip membership.
type Config struct {
	// NodeID names the member (its decimal form is the memberlist name).
	NodeID int32
	// BindAddr is host:port for both the UDP and TCP gossip sockets; port
	// 0 picks a free one (tests).
	BindAddr string
	// AdvertiseAddr is host:port the others reach this node at; empty
	// means the bound address (memberlist picks a private IP when binding
	// all interfaces).
	AdvertiseAddr string
	// Seeds are other members' gossip addresses to join through. A node
	// with no reachable seed runs alone and keeps trying.
	Seeds []string
	// ProbeInterval is how often a member probes another; SuspicionMult
	// times it (scaled by log10 of the cluster size) is how long a suspect
	// has to refute before it is declared dead.
	ProbeInterval time.Duration
	SuspicionMult int
	Logger        zerolog.Logger
}

// DefaultConfig returns the tuning that detects a kill -9 in about 3.5 s
// and lets a 2 s pause go by; BindAddr must still be set.
func DefaultConfig() Config {
	return Config{ProbeInterval: 500 * time.Millisecond, SuspicionMult: 6, Logger: zerolog.Nop()}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID < 0 {
		errs = append(errs, fmt.Errorf("node id %d is negative", c.NodeID))
	}
	if _, _, err := splitAddr(c.BindAddr); err != nil {
		errs = append(errs, fmt.Errorf("gossip bind address: %w", err))
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitAddr(c.AdvertiseAddr); err != nil {
			errs = append(errs, fmt.Errorf("gossip advertise address: %w", err))
		}
	}
	for _, s := range c.Seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			errs = append(errs, fmt.Errorf("gossip seed %q is not host:port", s))
		}
	}
	if c.ProbeInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("gossip probe interval %v is below 10ms", c.ProbeInterval))
	}
	if c.SuspicionMult < 2 {
		errs = append(errs, fmt.Errorf("gossip suspicion multiplier %d is below 2", c.SuspicionMult))
	}
	if len(errs) > 0 {
		return fmt.Errorf("gossip config: %w", errors.Join(errs...))
	}
	return nil
}

// splitAddr parses host:port with a numeric port.
func splitAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%q has no valid port", addr)
	}
	return host, int(port), nil
}

// Member is one node as gossip knows it.
type Member struct {
	Meta
	Addr  string // gossip address
	Alive bool   // false once declared dead or left
	// Since is when this node last saw the member change state.
	Since time.Time
}

// rejoin timing: a node alone retries its seeds with a growing backoff;
// one that has company checks now and then that it still has.
const (
	rejoinMin   = 100 * time.Millisecond
	rejoinMax   = 2 * time.Second
	rejoinCheck = 5 * time.Second
	// updateTimeout bounds the broadcast of a metadata update.
	updateTimeout = 2 * time.Second
	// leaveTimeout bounds the broadcast of a graceful leave.
	leaveTimeout = 2 * time.Second
)

// Gossip is this node's membership in the cluster's gossip group.
type Gossip struct {
	cfg Config
	log zerolog.Logger
	ml  *memberlist.Memberlist

	mu struct {
		sync.Mutex
		meta    Meta
		members map[int32]Member
		changed chan struct{} // closed and replaced on every change
	}

	// life orders Update and Leave with Close: memberlist panics on a
	// leave after shutdown.
	life struct {
		sync.Mutex
		shut bool
	}

	// quiet drops memberlist's log lines and events once Close has begun:
	// memberlist's Shutdown does not wait for its goroutines or stop its
	// suspicion timers, which may still log or report a member dead.
	quiet atomic.Bool

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start creates the memberlist on cfg.BindAddr with meta as this node's
// metadata, and joins the seeds in the background.
func Start(cfg Config, meta Meta) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	meta.NodeID = cfg.NodeID
	g := &Gossip{cfg: cfg, stop: make(chan struct{}),
		log: cfg.Logger.With().Str("component", "gossip").Int32("node", cfg.NodeID).Logger()}
	g.mu.meta = meta
	g.mu.members = map[int32]Member{}
	g.mu.changed = make(chan struct{})
	if _, err := encodeMeta(meta, memberlist.MetaMaxSize); err != nil {
		return nil, err
	}
	mc, err := g.memberlistConfig()
	if err != nil {
		return nil, err
	}
	g.ml, err = memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: listen on %s: %w", cfg.BindAddr, err)
	}
	g.wg.Add(1)
	go g.joinLoop()
	g.log.Info().Str("addr", g.Addr()).Strs("seeds", cfg.Seeds).Msg("gossip started")
	return g, nil
}

func (g *Gossip) memberlistConfig() (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
	mc.Name = strconv.Itoa(int(g.cfg.NodeID))
	host, port, err := splitAddr(g.cfg.BindAddr)
	if err != nil {
		return nil, err
	}
	ip, err := resolveIP(host)
	if err != nil {
		return nil, fmt.Errorf("gossip bind address: %w", err)
	}
	mc.BindAddr, mc.BindPort = ip, port
	mc.AdvertisePort = port
	if g.cfg.AdvertiseAddr != "" {
		ahost, aport, _ := splitAddr(g.cfg.AdvertiseAddr)
		if mc.AdvertiseAddr, err = resolveIP(ahost); err != nil {
			return nil, fmt.Errorf("gossip advertise address: %w", err)
		}
		mc.AdvertisePort = aport
	}
	mc.ProbeInterval = g.cfg.ProbeInterval
	mc.ProbeTimeout = g.cfg.ProbeInterval / 2
	mc.SuspicionMult = g.cfg.SuspicionMult
	mc.SuspicionMaxTimeoutMult = 2
	// A restarted node may come back at another address (a new pod IP):
	// let it reclaim its name from its dead predecessor quickly.
	mc.DeadNodeReclaimTime = time.Second
	mc.Delegate = (*delegate)(g)
	mc.Events = (*events)(g)
	mc.Conflict = (*conflicts)(g)
	mc.Logger = nil
	mc.LogOutput = logWriter{zl: g.log.With().Str("subsystem", "memberlist").Logger(), quiet: &g.quiet}
	return mc, nil
}

// resolveIP turns a host into an IP string ("" stays "", meaning all
// interfaces); memberlist takes IPs only.
func resolveIP(host string) (string, error) {
	if host == "" {
		return "0.0.0.0", nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("resolving %q: %v", host, err)
	}
	return ips[0].String(), nil
}

// joinLoop joins the seeds until one answers (at start they may not be up
// yet; a node that others joined meanwhile is not thereby connected to
// the seeds' group), and joins them again whenever fewer members are alive
// here than there are other seeds. That covers a node that lost every
// other member and, after a network partition heals, both sides: each has
// declared the other dead and memberlist never probes a dead node, so
// without a join the views merge only at the next full state exchange
// (30 s). A join of a seed that is alive is one push-pull exchange, and
// one that is still unreachable fails quickly.
func (g *Gossip) joinLoop() {
	defer g.wg.Done()
	seeds := g.otherSeeds()
	if len(seeds) == 0 {
		return
	}
	joined := false
	backoff := rejoinMin
	for {
		wait := rejoinCheck
		if !joined || g.ml.NumMembers()-1 < len(seeds) {
			n, err := g.ml.Join(seeds)
			if n == 0 {
				g.log.Debug().Err(err).Strs("seeds", seeds).Msg("no gossip seed reachable yet; retrying")
				wait, backoff = backoff, min(2*backoff, rejoinMax)
			} else {
				if !joined {
					g.log.Info().Int("contacted", n).Msg("joined the gossip cluster")
				}
				joined, backoff = true, rejoinMin
			}
		}
		select {
		case <-g.stop:
			return
		case <-time.After(wait):
		}
	}
}

// otherSeeds drops this node's own address from the seeds.
func (g *Gossip) otherSeeds() []string {
	self := g.Addr()
	var out []string
	for _, s := range g.cfg.Seeds {
		if s != self && s != g.cfg.BindAddr && s != g.cfg.AdvertiseAddr {
			out = append(out, s)
		}
	}
	return out
}

// Addr is the address other members reach this node at.
func (g *Gossip) Addr() string {
	n := g.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Watch returns a copy of the member table (every node seen since start,
// dead ones included, keyed by node id) and a channel closed at the next
// change.
func (g *Gossip) Watch() (map[int32]Member, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.mu.members), g.mu.changed
}

// Update changes this node's metadata and broadcasts it. The change takes
// effect locally at once; a broadcast that times out (members that are
// gone but not yet declared dead) is only logged, since the next gossip or
// push-pull exchange carries the metadata anyway. The error is for
// metadata that cannot be gossiped at all.
func (g *Gossip) Update(change func(*Meta)) error {
	g.mu.Lock()
	change(&g.mu.meta)
	g.mu.meta.NodeID = g.cfg.NodeID
	meta := g.mu.meta
	g.mu.Unlock()
	if _, err := encodeMeta(meta, memberlist.MetaMaxSize); err != nil {
		return err
	}
	g.life.Lock()
	defer g.life.Unlock()
	if g.life.shut {
		return nil
	}
	if err := g.ml.UpdateNode(updateTimeout); err != nil {
		g.log.Warn().Err(err).Msg("node metadata broadcast not confirmed; gossip will carry it")
	}
	return nil
}

// Leave announces that this node leaves (the others see it as left at
// once, not after a suspicion timeout). Close calls it too.
func (g *Gossip) Leave() error {
	g.life.Lock()
	defer g.life.Unlock()
	return g.leaveLocked()
}

func (g *Gossip) leaveLocked() error {
	if g.life.shut {
		return nil
	}
	if err := g.ml.Leave(leaveTimeout); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// Close leaves the cluster and stops memberlist.
func (g *Gossip) Close() error {
	g.closeOnce.Do(func() {
		close(g.stop)
		g.life.Lock()
		leaveErr := g.leaveLocked()
		g.quiet.Store(true)
		err := g.ml.Shutdown()
		g.life.shut = true
		g.life.Unlock()
		g.wg.Wait()
		g.closeErr = errors.Join(leaveErr, err)
	})
	return g.closeErr
}

// setMember records a member's state and wakes the watchers.
func (g *Gossip) setMember(n *memberlist.Node, alive bool) {
	if g.quiet.Load() {
		return // closed: memberlist's timers may still fire
	}
	id, err := strconv.ParseInt(n.Name, 10, 32)
	if err != nil {
		g.log.Warn().Str("member", n.Name).Msg("gossip member whose name is not a node id; ignored")
		return
	}
	m := Member{Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), Alive: alive, Since: time.Now()}
	if meta, err := decodeMeta(n.Meta); err == nil {
		m.Meta = meta
	} else {
		g.log.Warn().Err(err).Str("member", n.Name).Msg("gossip member with unreadable metadata")
	}
	m.NodeID = int32(id)
	g.mu.Lock()
	defer g.mu.Unlock()
	old, had := g.mu.members[m.NodeID]
	if had && old.Alive == m.Alive && old.Addr == m.Addr && metaEqual(old.Meta, m.Meta) {
		return
	}
	if had && old.Alive == m.Alive {
		m.Since = old.Since
	}
	g.mu.members[m.NodeID] = m
	close(g.mu.changed)
	g.mu.changed = make(chan struct{})
	ev := g.log.Info()
	if !alive {
		ev = g.log.Warn()
	}
	ev.Int32("member", m.NodeID).Str("addr", m.Addr).Bool("alive", alive).Int64("broker_epoch", m.BrokerEpoch).Msg("gossip member changed")
}

func metaEqual(a, b Meta) bool {
	return a.NodeID == b.NodeID && slices.Equal(a.Roles, b.Roles) && a.Incarnation == b.Incarnation &&
		a.BrokerEpoch == b.BrokerEpoch && a.Kafka == b.Kafka && a.Controller == b.Controller && a.Raft == b.Raft
}

// delegate supplies this node's metadata; the user-message hooks are
// unused.
type delegate Gossip

func (d *delegate) NodeMeta(limit int) []byte {
	g := (*Gossip)(d)
	g.mu.Lock()
	meta := g.mu.meta
	g.mu.Unlock()
	b, err := encodeMeta(meta, limit)
	if err != nil {
		g.log.Error().Err(err).Msg("node metadata not gossiped")
		return nil
	}
	return b
}

func (*delegate) NotifyMsg([]byte)                           {}
func (*delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (*delegate) LocalState(join bool) []byte                { return nil }
func (*delegate) MergeRemoteState(buf []byte, join bool)     {}

// events follows membership changes.
type events Gossip

func (e *events) NotifyJoin(n *memberlist.Node)   { (*Gossip)(e).setMember(n, true) }
func (e *events) NotifyUpdate(n *memberlist.Node) { (*Gossip)(e).setMember(n, true) }
func (e *events) NotifyLeave(n *memberlist.Node)  { (*Gossip)(e).setMember(n, false) }

// conflicts reports two live nodes with one node id.
type conflicts Gossip

func (c *conflicts) NotifyConflict(existing, other *memberlist.Node) {
	(*Gossip)(c).log.Error().Str("member", existing.Name).
		Str("addr", net.JoinHostPort(existing.Addr.String(), strconv.Itoa(int(existing.Port)))).
		Str("other_addr", net.JoinHostPort(other.Addr.String(), strconv.Itoa(int(other.Port)))).
		Msg("two nodes gossip with the same node id: check node.id")
}

// logWriter turns memberlist's "[LEVEL] memberlist: message" lines into
// zerolog events.
type logWriter struct {
	zl    zerolog.Logger
	quiet *atomic.Bool
}

func (w logWriter) Write(p []byte) (int, error) {
	if w.quiet.Load() {
		return len(p), nil
	}
	line := bytes.TrimSpace(p)
	// The standard logger may prefix a date; the level tag follows it.
	if i := bytes.IndexByte(line, '['); i >= 0 {
		line = line[i:]
	}
	level := zerolog.InfoLevel
	for tag, l := range map[string]zerolog.Level{"[DEBUG]": zerolog.DebugLevel, "[INFO]": zerolog.InfoLevel,
		"[WARN]": zerolog.WarnLevel, "[ERR]": zerolog.ErrorLevel, "[ERROR]": zerolog.ErrorLevel} {
		if bytes.HasPrefix(line, []byte(tag)) {
			level, line = l, bytes.TrimSpace(line[len(tag):])
			break
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	w.zl.WithLevel(level).Msg(string(line))
	return len(p), nil
}

var _ io.Writer = logWriter{}
