package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

const (
	// applyEnqueueTimeout bounds how long raft.Apply waits to enqueue an
	// entry. An entry not enqueued in time is never committed, so the
	// failure is safe to report.
	applyEnqueueTimeout = 10 * time.Second
	// shutdownGrace bounds how long Close waits for in-flight requests.
	shutdownGrace = 10 * time.Second
)

// Controller is one member of the controller quorum. When it is the Raft
// leader it is the active controller: it decides metadata changes and
// commits them; on every member it applies the committed log to the
// metadata image and publishes each image to subscribers.
//
// Decisions are serialised: an operation takes the proposal slot, reads the
// latest image, builds its records, commits them through raft.Apply and
// waits until they are applied before it releases the slot, so the next
// operation decides on an image that includes them. Once an entry is
// proposed the operation waits for Raft's verdict whatever its context
// says: it never reports a failure for an entry that may still commit.
type Controller struct {
	cfg Config
	log zerolog.Logger
	fsm *fsm
	reg *protocol.Registry

	// propose is the proposal slot (a one-token semaphore, so that waiting
	// for it can be cancelled).
	propose chan struct{}
	// reconfig is the quorum-change slot: one AddVoter or RemoveVoter at a
	// time (a one-token semaphore).
	reconfig chan struct{}
	// progress is the leader's view of each follower's replication.
	progress *progressTracker
	// active is true while this node is the Raft leader and its image has
	// caught up with every entry of earlier terms (after a barrier).
	active atomic.Bool
	// ready is closed once this node, as leader, has the cluster
	// bootstrapped; Start waits on it when this node is the only voter.
	ready     chan struct{}
	readyOnce sync.Once
	// activeAt is when this node last became the active controller (unix
	// nanoseconds); becameActive wakes the liveness loop then.
	activeAt     atomic.Int64
	becameActive chan struct{}
	// wasVoter is whether the latest configuration seen has this node as a
	// voter (to log its removal once).
	wasVoter atomic.Bool
	// observing is set once a configuration lists this observer
	// (Config.Observer) as a non-voter.
	observing atomic.Bool

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// mu serialises Start's setup with Close.
	mu struct {
		sync.Mutex
		started bool
		closed  bool
	}

	// Set by Start, released by Close.
	clusterID string
	dirID     dirID
	store     *closableStore
	snaps     raft.SnapshotStore
	existing  bool // the Raft stores held state when opened
	book      *dirBook
	stream    *streamLayer
	transport *trackingTransport
	raft      *raft.Raft
	ln        net.Listener
	server    *protocol.Server
	serveErr  chan error
}

// New validates cfg and returns a Controller that does nothing until Start.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With().Str("component", "controller").Int32("node", cfg.NodeID).Logger()
	c := &Controller{
		cfg:          cfg,
		log:          log,
		fsm:          newFSM(log),
		propose:      make(chan struct{}, 1),
		reconfig:     make(chan struct{}, 1),
		progress:     newProgressTracker(),
		ready:        make(chan struct{}),
		becameActive: make(chan struct{}, 1),
		stop:         make(chan struct{}),
	}
	c.reg = c.registry()
	onConfig := c.configurationChanged
	c.fsm.onConfig.Store(&onConfig)
	return c, nil
}

// Start opens the data directory and the Raft log, bootstraps the quorum on
// first start, starts the controller listener, and, when this node is the
// only voter, waits until it leads and the cluster is bootstrapped (the
// Bootstrap record is in the image). On failure, or when ctx ends first,
// the controller is closed. Close may be called while Start waits; the
// accessors (ListenAddr, RaftAddr, ClusterID) are valid once Start returns.
func (c *Controller) Start(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.mu.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.mu.started:
		c.mu.Unlock()
		return errors.New("controller: already started")
	}
	c.mu.started = true
	err := c.setupLocked()
	c.mu.Unlock()
	if err == nil {
		err = c.awaitReady(ctx)
	}
	if err != nil {
		_ = c.Close()
		return err
	}
	return nil
}

// setupLocked opens everything Start opens; c.mu is held so that a
// concurrent Close waits for it and then releases what it opened.
func (c *Controller) setupLocked() error {
	raftDir := filepath.Join(c.cfg.DataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o755); err != nil {
		return fmt.Errorf("controller: create %s: %w", raftDir, err)
	}
	_, dbErr := os.Stat(filepath.Join(raftDir, "raft.db"))
	_, metaErr := os.Stat(filepath.Join(c.cfg.DataDir, metaFile))
	if dbErr != nil && !errors.Is(dbErr, os.ErrNotExist) {
		return fmt.Errorf("controller: %w", dbErr)
	}
	state := raftAbsent
	if dbErr == nil || errors.Is(metaErr, os.ErrNotExist) {
		// raft.db is created before meta.properties is first written, so
		// that a crash in between never looks like a lost log.
		if err := c.openStores(raftDir); err != nil {
			return err
		}
		if state = raftEmpty; c.existing {
			state = raftPresent
		}
	}
	meta, err := loadOrCreateMeta(c.cfg, state)
	if err != nil {
		return err
	}
	c.clusterID = meta.ClusterID
	c.dirID = meta.DirectoryID
	c.log = c.log.With().Str("cluster", meta.ClusterID).Logger()
	if c.store == nil {
		if err := c.openStores(raftDir); err != nil {
			return err
		}
	}
	if err := c.openRaft(); err != nil {
		return err
	}
	if err := c.startListener(); err != nil {
		return err
	}
	c.wg.Add(1)
	go c.leadershipLoop()
	if c.cfg.Observer {
		// Never the active controller: none of its loops has work.
		c.log.Info().Str("raft_addr", string(c.transport.LocalAddr())).Str("directory_id", c.dirID.String()).
			Msg("following the metadata log as a raft non-voter (observer)")
		return nil
	}
	if c.cfg.Liveness != nil {
		c.wg.Add(1)
		go c.livenessLoop()
	}
	c.wg.Add(1)
	go c.reassignLoop()
	if c.cfg.AutoLeaderRebalance {
		c.wg.Add(1)
		go c.rebalanceLoop()
	}
	c.log.Info().Str("raft_addr", string(c.transport.LocalAddr())).Str("listen_addr", c.ListenAddr()).
		Str("directory_id", c.dirID.String()).Msg("controller started")
	return nil
}

// awaitReady waits, when this node is the only voter, until it is the
// active controller of a bootstrapped cluster, and checks that the log's
// cluster id is the data directory's.
func (c *Controller) awaitReady(ctx context.Context) error {
	if !c.cfg.singleVoter() {
		return nil
	}
	select {
	case <-c.ready:
	case <-c.stop:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("controller: waiting for leadership: %w", ctx.Err())
	}
	if got := c.fsm.Image().ClusterID(); got != c.clusterID {
		return fmt.Errorf("%w: the metadata log belongs to cluster %q, %s names cluster %q",
			ErrClusterIDMismatch, got, metaFile, c.clusterID)
	}
	return nil
}

// refusalPoll is how often WaitReady checks whether peers refuse this node.
const refusalPoll = 100 * time.Millisecond

// WaitReady returns once this member has the cluster's metadata (the
// Bootstrap record is in its image), which with several voters takes a
// quorum: a node started before its peers waits for them. It fails when
// the log belongs to another cluster than the data directory, or when so
// many voters refuse this node in the Raft handshake (another cluster id,
// or another node expected at its address) that it can never be part of a
// quorum, or when the node at its own voter address has its id.
func (c *Controller) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(refusalPoll)
	defer tick.Stop()
	for {
		if err := c.refusedByQuorum(); err != nil {
			return err
		}
		img, changed := c.fsm.watch()
		if got := img.ClusterID(); got != "" {
			if got != c.clusterID {
				return fmt.Errorf("%w: the metadata log belongs to cluster %q, %s names cluster %q",
					ErrClusterIDMismatch, got, metaFile, c.clusterID)
			}
			return nil
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-c.stop:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("controller: waiting for the controller quorum: %w", ctx.Err())
		}
	}
}

// refusedByQuorum returns an error when a voter says this node lost its
// log, or when enough voters refused this node that the rest cannot form a
// majority with it.
func (c *Controller) refusedByQuorum() error {
	if c.stream == nil || c.cfg.singleVoter() {
		return nil
	}
	if r := c.stream.lostLog(); r != nil {
		return lostLogError(r.Msg, c.cfg.NodeID)
	}
	refusals := c.stream.refusals()
	for _, r := range refusals {
		switch {
		case r.duplicateID():
			return fmt.Errorf("%w: %v", ErrNodeIDMismatch, r)
		case r.lostLog():
			return lostLogError(r.Error(), c.cfg.NodeID)
		}
	}
	n := c.voterCount()
	if n == 0 || n-len(refusals) >= n/2+1 {
		return nil
	}
	sentinel := ErrNodeIDMismatch
	msgs := make([]string, 0, len(refusals))
	for _, r := range refusals {
		if r.reason == handshakeClusterMismatch {
			sentinel = ErrClusterIDMismatch
		}
		msgs = append(msgs, r.Error())
	}
	slices.Sort(msgs)
	return fmt.Errorf("%w: %d of %d voters refuse this node, so it can never join a quorum: %s",
		sentinel, len(refusals), n, strings.Join(msgs, "; "))
}

// openRaft starts Raft on the opened stores. A node with no Raft state
// bootstraps the configured voters, unless it joins an existing quorum
// (Config.Join), or the other voters say it was one of them before it
// lost its log (preflight).
// voterCount is the number of voters in the latest Raft configuration, or
// in the bootstrap list before the log has one; 0 for a joining node that
// has not been added yet.
func (c *Controller) voterCount() int {
	if c.raft != nil {
		if f := c.raft.GetConfiguration(); f.Error() == nil && len(f.Configuration().Servers) > 0 {
			return len(voterIDs(f.Configuration()))
		}
	}
	if c.cfg.Join || c.cfg.Observer {
		return 0
	}
	return len(c.cfg.Voters)
}

func (c *Controller) openRaft() error {
	hl := newHclogAdapter(c.log.With().Str("subsystem", "raft").Logger())
	if err := c.openTransport(hl); err != nil {
		return err
	}
	rc := c.raftConfig(hl)
	if !c.existing && !c.cfg.Join && !c.cfg.Observer {
		if !c.cfg.singleVoter() {
			if err := c.preflight(); err != nil {
				return err
			}
		}
		// Written to the stores before Raft starts, so that nothing a
		// peer replicates meanwhile can race with it.
		conf := c.bootstrapConfiguration()
		if err := raft.BootstrapCluster(rc, c.store, c.store, c.snaps, c.transport, conf); err != nil {
			return fmt.Errorf("controller: bootstrap raft configuration: %w", err)
		}
		c.log.Info().Int("voters", len(conf.Servers)).Msg("raft quorum bootstrapped")
	}
	var err error
	c.raft, err = raft.NewRaft(rc, c.fsm, c.store, c.store, c.snaps, c.transport)
	if err != nil {
		return fmt.Errorf("controller: start raft: %w", err)
	}
	c.transport.raft.Store(c.raft)
	if conf := c.raft.GetConfiguration(); conf.Error() == nil {
		c.configurationChanged(conf.Configuration())
	}
	switch {
	case c.cfg.Observer && !c.existing:
		c.log.Info().Msg("waiting to be added to the metadata quorum as a non-voter (the active controller adds this node when its broker registers)")
	case c.cfg.Join && !c.existing:
		c.log.Info().Msg("waiting to be added to the controller quorum (samsa cluster add-controller)")
	}
	return nil
}

// openTransport binds the Raft transport and, with several voters, checks
// that this node's address in the voter list leads back to it before it
// takes part in Raft.
func (c *Controller) openTransport(hl *hclogAdapter) error {
	advertise, err := c.advertiseAddr()
	if err != nil {
		return err
	}
	c.stream, err = newStreamLayer(c.cfg.RaftListener, c.cfg.RaftBindAddr, advertise, c.clusterID, c.cfg.NodeID, c.cfg.Voters)
	if err != nil {
		return fmt.Errorf("controller: raft transport on %s: %w", c.cfg.RaftBindAddr, err)
	}
	c.stream.dir, c.stream.book, c.stream.observer = c.dirID, c.book, c.cfg.Observer
	c.transport = &trackingTransport{
		NetworkTransport: raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: c.stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: hl,
		}),
		progress: c.progress,
	}
	if self, ok := c.cfg.selfVoter(); ok && !c.cfg.singleVoter() {
		if err := c.stream.verifySelf(self.Addr, c.stop); err != nil {
			return fmt.Errorf("controller: %w", err)
		}
	}
	return nil
}

func (c *Controller) raftConfig(hl *hclogAdapter) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = serverID(c.cfg.NodeID)
	rc.Logger = hl
	rc.HeartbeatTimeout = c.cfg.HeartbeatTimeout
	rc.ElectionTimeout = c.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = c.cfg.HeartbeatTimeout / 2
	rc.SnapshotThreshold = c.cfg.SnapshotThreshold
	rc.SnapshotInterval = c.cfg.SnapshotInterval
	rc.TrailingLogs = c.cfg.TrailingLogs
	// A voter removed from the quorum keeps running as a follower that
	// takes no part in elections, rather than shutting Raft down under the
	// node's other components.
	rc.ShutdownOnRemove = false
	return rc
}

// advertiseAddr is the address the other voters know this node by: the
// configured advertise address, else this node's entry in the voter list,
// else "" to advertise the bound address, unless that is an unspecified
// host: a lone voter then advertises loopback with the bound port.
func (c *Controller) advertiseAddr() (string, error) {
	if c.cfg.RaftAdvertiseAddr != "" {
		return c.cfg.RaftAdvertiseAddr, nil
	}
	if v, ok := c.cfg.selfVoter(); ok && !c.cfg.singleVoter() {
		return v.Addr, nil
	}
	host, port, _ := net.SplitHostPort(c.cfg.RaftBindAddr)
	ip := net.ParseIP(host)
	if host != "" && (ip == nil || !ip.IsUnspecified()) {
		return "", nil
	}
	if port == "0" {
		return "", errors.New("controller: binding port 0 on all interfaces needs a raft advertise address")
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

func (c *Controller) bootstrapConfiguration() raft.Configuration {
	if len(c.cfg.Voters) == 0 {
		return raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       serverID(c.cfg.NodeID),
			Address:  c.transport.LocalAddr(),
		}}}
	}
	// Every voter must bootstrap the same configuration, so addresses are
	// taken as the voter list spells them, this node's included.
	var conf raft.Configuration
	for _, v := range c.cfg.Voters {
		addr := raft.ServerAddress(v.Addr)
		if c.cfg.singleVoter() {
			addr = c.transport.LocalAddr()
		}
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter,
			ID:       serverID(v.ID),
			Address:  addr,
		})
	}
	return conf
}

func (c *Controller) startListener() error {
	if c.cfg.ListenAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", c.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("controller: listen on %s: %w", c.cfg.ListenAddr, err)
	}
	scfg := protocol.DefaultServerConfig()
	scfg.Name = "controller"
	scfg.Logger = c.log
	c.ln = ln
	c.server = protocol.NewServer(scfg, c.reg)
	c.serveErr = make(chan error, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.serveErr <- c.server.Serve(ln)
	}()
	return nil
}

// leadershipLoop follows Raft leadership. On becoming leader it waits for a
// barrier (every entry of earlier terms applied) before it accepts
// operations, then writes the Bootstrap record if the log has none.
func (c *Controller) leadershipLoop() {
	defer c.wg.Done()
	leaderCh := c.raft.LeaderCh()
	for {
		select {
		case <-c.stop:
			return
		case leader := <-leaderCh:
			c.active.Store(false)
			if leader {
				c.progress.reset()
				c.becomeActive()
			} else {
				c.log.Info().Msg("lost leadership; no longer the active controller")
			}
		}
	}
}

func (c *Controller) becomeActive() {
	if err := c.raft.Barrier(0).Error(); err != nil {
		c.log.Warn().Err(err).Msg("leader barrier failed")
		return
	}
	c.activeAt.Store(time.Now().UnixNano())
	c.active.Store(true)
	select {
	case c.becameActive <- struct{}{}:
	default:
	}
	c.log.Info().Uint64("offset", c.fsm.Image().Offset()).Msg("became the active controller")
	_, err := c.commit(context.Background(), func(img *metadata.Image) ([]metadata.Record, error) {
		if img.ClusterID() != "" {
			return nil, nil
		}
		return []metadata.Record{&metadata.BootstrapRecord{
			ClusterID:       c.clusterID,
			MetadataVersion: metadata.CurrentMetadataVersion,
		}}, nil
	})
	if err != nil {
		c.log.Warn().Err(err).Msg("could not write the bootstrap record")
		return
	}
	if got := c.fsm.Image().ClusterID(); got != c.clusterID {
		c.log.Error().Str("log_cluster", got).Msg("the metadata log belongs to another cluster than meta.properties")
	}
	c.readyOnce.Do(func() { close(c.ready) })
	c.forgetUnregisteredObservers()
}

// commit runs decide on the latest image and commits the records it
// returns, holding the proposal slot from the decision until the records
// are applied. It returns the image that includes them (or the current one
// when decide returns none). ctx bounds only the wait for the slot.
func (c *Controller) commit(ctx context.Context, decide func(*metadata.Image) ([]metadata.Record, error)) (*metadata.Image, error) {
	if !c.IsLeader() {
		return nil, ErrNotController
	}
	select {
	case c.propose <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.stop:
		return nil, ErrNotController
	}
	defer func() { <-c.propose }()
	if !c.IsLeader() {
		return nil, ErrNotController
	}
	img := c.fsm.Image()
	recs, err := decide(img)
	if err != nil || len(recs) == 0 {
		return img, err
	}
	f := c.raft.Apply(metadata.EncodeBatch(recs), applyEnqueueTimeout)
	if err := f.Error(); err != nil {
		return nil, commitError(err)
	}
	res, _ := f.Response().(applyResult)
	if res.err != nil {
		return nil, fmt.Errorf("controller: committed batch rejected by the image: %w", res.err)
	}
	return res.img, nil
}

// ListenAddr is the controller listener's bound address ("" when disabled
// or not started).
func (c *Controller) ListenAddr() string {
	if c.ln == nil {
		return ""
	}
	return c.ln.Addr().String()
}

// RaftAddr is the address the Raft transport advertises ("" before Start).
func (c *Controller) RaftAddr() string {
	if c.transport == nil {
		return ""
	}
	return string(c.transport.LocalAddr())
}

// ClusterID is the cluster id from the data directory ("" before Start).
func (c *Controller) ClusterID() string { return c.clusterID }

// IsLeader reports whether this node is the active controller.
func (c *Controller) IsLeader() bool {
	return c.active.Load() && c.raft != nil && c.raft.State() == raft.Leader
}

// Image returns the latest metadata image.
func (c *Controller) Image() *metadata.Image { return c.fsm.Image() }

// WaitForOffset returns once the latest image's offset is at least offset,
// or ctx's error. Offsets are Raft indexes of metadata batches; an index
// that holds no batch (a Raft no-op or configuration entry) is passed when
// the next batch is applied.
func (c *Controller) WaitForOffset(ctx context.Context, offset uint64) error {
	return c.fsm.waitForOffset(ctx, offset)
}

// Subscribe registers fn to receive every new image with its delta. fn is
// first called with the image current at subscription and the delta from
// the empty image, then with each later image, in apply order. All calls,
// for all subscribers, come from one publisher goroutine: fn must return
// promptly (it delays the other subscribers, not Raft) and must not call
// Subscribe or the returned function. The returned function unsubscribes;
// a call already in progress may still complete after it returns.
func (c *Controller) Subscribe(fn func(img *metadata.Image, delta *metadata.Delta)) (unsubscribe func()) {
	return c.fsm.subscribe(fn)
}

// Close stops the listener (letting in-flight requests finish), shuts Raft
// down, and closes the Raft stores. It is idempotent and returns after
// every goroutine the controller started has exited.
func (c *Controller) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.mu.closed = true
		c.closeErr = c.shutdownLocked()
	})
	return c.closeErr
}

func (c *Controller) shutdownLocked() error {
	var errs []error
	if c.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		if err := c.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop listener: %w", err))
		}
		cancel()
		if err := <-c.serveErr; err != nil && !errors.Is(err, net.ErrClosed) {
			c.log.Debug().Err(err).Msg("listener stopped")
		}
	}
	close(c.stop)
	c.active.Store(false)
	if c.raft != nil {
		if err := c.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("stop raft: %w", err))
		}
	}
	c.wg.Wait()
	if c.transport != nil {
		if err := c.transport.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft transport: %w", err))
		}
	} else if c.stream != nil {
		c.stream.Close()
	} else if c.cfg.RaftListener != nil {
		c.cfg.RaftListener.Close() // Start failed before it was used
	}
	if c.store != nil {
		if err := c.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft log: %w", err))
		}
	}
	c.fsm.pub.close()
	if len(errs) > 0 {
		return fmt.Errorf("controller: close: %w", errors.Join(errs...))
	}
	return nil
}
