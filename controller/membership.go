package controller

// Quorum membership: opening (and distrusting) the Raft stores, the
// directory ids of the other voters, the preflight of a node about to
// bootstrap, and the online quorum changes (AddVoter, RemoveVoter).
//
// # Lost logs
//
// Raft's safety rests on every voter remembering its log and its vote. A
// voter whose disk was wiped comes back empty: it may vote a second time in
// a term, or help elect a leader that lacks entries it had acknowledged.
// KRaft (KIP-853) keys voters by (id, directory id) for this reason; here
// every data directory has a directory id (meta.properties), the Raft
// handshake carries it both ways, and each node records, in its Raft
// stable store, the directory id of every peer it has exchanged a
// handshake with (trust on first use). A peer that comes back with another
// directory id is refused, and a node that is refused so, or that a peer
// expects with another directory id, refuses to start: the operator must
// remove it from the quorum and add it back as a new member (Join), whose
// log the leader then fills before it votes. A node about to bootstrap on
// an empty directory first asks the other voters (preflight), so that it
// refuses before it writes any Raft state. Records of voters removed from
// the configuration are dropped, so a removed node can be added back.
//
// The leader always holds the record of every follower (it dials each of
// them), and every node that ever stood for election holds every voter's;
// a node wiped while every peer that knew its directory is down too is not
// detected.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/twmb/franz-go/pkg/kerr"
	bolt "go.etcd.io/bbolt"
)

// openStores opens raft.db (the log and stable store) and the snapshot
// store, and reads every log entry once: a corrupt file is refused here,
// naming it, rather than failing inside Raft later.
func (c *Controller) openStores(raftDir string) error {
	path := filepath.Join(raftDir, "raft.db")
	id := c.cfg.NodeID
	err := guardCorrupt(path, id, func() error {
		store, err := raftboltdb.New(raftboltdb.Options{
			Path:        path,
			BoltOptions: &bolt.Options{Timeout: time.Second},
		})
		if err != nil {
			return err
		}
		c.store = &closableStore{s: store}
		return verifyLog(store)
	})
	if err != nil {
		return err
	}
	if c.book, err = loadDirBook(c.store); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorruptLog, path, err)
	}
	hl := newHclogAdapter(c.log.With().Str("subsystem", "raft").Logger())
	if c.snaps, err = raft.NewFileSnapshotStoreWithLogger(raftDir, 2, hl); err != nil {
		return fmt.Errorf("controller: open snapshot store: %w", err)
	}
	return guardCorrupt(path, id, func() (err error) {
		c.existing, err = raft.HasExistingState(c.store, c.store, c.snaps)
		return err
	})
}

// guardCorrupt runs f, turning its error or panic (bolt panics on some
// corrupt pages) into ErrCorruptLog naming path.
func guardCorrupt(path string, id int32, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic reading it: %v", r)
		}
		if err != nil {
			err = fmt.Errorf("%w: %s cannot be read (%w). This node's copy of the metadata log cannot be trusted: "+
				"if the other voters are healthy, remove this node from the quorum ('samsa cluster remove-controller --id %d'), move its data directory aside, "+
				"start it with controller.quorum.join=true and add it back ('samsa cluster add-controller --id %d --address <its raft address>'); a single voter must be restored from a backup",
				ErrCorruptLog, path, err, id, id)
		}
	}()
	return f()
}

// verifyLog reads every entry of the log once.
func verifyLog(store *raftboltdb.BoltStore) error {
	first, err := store.FirstIndex()
	if err != nil {
		return err
	}
	last, err := store.LastIndex()
	if err != nil {
		return err
	}
	var l raft.Log
	for i := first; i > 0 && i <= last; i++ {
		if err := store.GetLog(i, &l); err != nil {
			return fmt.Errorf("log entry %d: %w", i, err)
		}
	}
	return nil
}

// dirBookKey is the stable-store key of the peers' directory ids.
const dirBookKey = "samsa.voter.directory.ids"

// dirBook is the directory id of each peer this node has exchanged a
// handshake with, kept in the Raft stable store (raft.db).
type dirBook struct {
	store raft.StableStore
	mu    struct {
		sync.Mutex
		dirs map[int32]dirID
	}
}

func loadDirBook(store raft.StableStore) (*dirBook, error) {
	b := &dirBook{store: store}
	b.mu.dirs = map[int32]dirID{}
	data, err := store.Get([]byte(dirBookKey))
	if errors.Is(err, raftboltdb.ErrKeyNotFound) || (err == nil && len(data) == 0) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	var raw map[int32][]byte
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("peer directory ids: %w", err)
	}
	for id, d := range raw {
		if len(d) == len(dirID{}) {
			b.mu.dirs[id] = dirID(d)
		}
	}
	return b, nil
}

// get returns the directory id recorded for node id.
func (b *dirBook) get(id int32) (dirID, bool) {
	if b == nil {
		return dirID{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.mu.dirs[id]
	return d, ok
}

// learn records d for node id unless one is recorded already.
func (b *dirBook) learn(id int32, d dirID) error {
	if b == nil || d.isZero() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.mu.dirs[id]; ok {
		return nil
	}
	b.mu.dirs[id] = d
	return b.persistLocked()
}

// replace records d for node id, replacing what was recorded (a
// non-voter's directory may change harmlessly).
func (b *dirBook) replace(id int32, d dirID) error {
	if b == nil || d.isZero() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.mu.dirs[id]; ok && old == d {
		return nil
	}
	b.mu.dirs[id] = d
	return b.persistLocked()
}

// retain forgets every node but those in keep.
func (b *dirBook) retain(keep map[int32]bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	changed := false
	for id := range b.mu.dirs {
		if !keep[id] {
			delete(b.mu.dirs, id)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return b.persistLocked()
}

func (b *dirBook) persistLocked() error {
	raw := make(map[int32][]byte, len(b.mu.dirs))
	for id, d := range b.mu.dirs {
		raw[id] = d[:]
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return b.store.Set([]byte(dirBookKey), data)
}

// preflightTimeout bounds the preflight's wait for each voter.
var preflightTimeout = 2 * time.Second

// preflight asks every other bootstrap voter, before this node bootstraps
// on an empty directory, whether it knew this node with another data
// directory. Voters that cannot be reached (a new cluster starting) do not
// stop it.
func (c *Controller) preflight() error {
	type result struct {
		v   Voter
		err error
	}
	results := make(chan result, len(c.cfg.Voters))
	n := 0
	for _, v := range c.cfg.Voters {
		if v.ID == c.cfg.NodeID {
			continue
		}
		n++
		go func() { results <- result{v, c.stream.probe(v.Addr, v.ID, preflightTimeout)} }()
	}
	for range n {
		r := <-results
		var refused *PeerRefusedError
		if errors.As(r.err, &refused) && refused.reason == handshakeDirChanged {
			return lostLogError(fmt.Sprintf("voter %d at %s: %s", r.v.ID, r.v.Addr, refused.Msg), c.cfg.NodeID)
		}
	}
	return nil
}

// lostLogError is ErrLogLost with what the operator must do.
func lostLogError(cause string, self int32) error {
	return fmt.Errorf("%w: %s. This node was a voter of the quorum and its data directory was wiped or replaced, so it must not rejoin as the voter it was "+
		"(it may have voted or acknowledged entries it no longer has). On a healthy voter run 'samsa cluster remove-controller --id %d', "+
		"then start this node with controller.quorum.join=true on an empty data directory and run 'samsa cluster add-controller --id %d --address <its raft address>'",
		ErrLogLost, cause, self, self)
}

// configurationChanged follows the Raft configuration: Raft calls it
// (through the FSM) for every committed configuration entry, and openRaft
// for the configuration in the log at start. It keeps the transport's map
// of peer addresses and the directory-id book in line with it.
func (c *Controller) configurationChanged(conf raft.Configuration) {
	if len(conf.Servers) == 0 {
		return
	}
	peers := map[string]int32{}
	for _, v := range c.cfg.Voters {
		peers[v.Addr] = v.ID
	}
	keep, nonvoters := map[int32]bool{}, map[int32]bool{}
	self, member := false, false
	for _, s := range conf.Servers {
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil {
			continue
		}
		peers[string(s.Address)] = int32(id)
		keep[int32(id)] = true
		nonvoters[int32(id)] = s.Suffrage != raft.Voter
		self = self || (int32(id) == c.cfg.NodeID && s.Suffrage == raft.Voter)
		member = member || int32(id) == c.cfg.NodeID
	}
	c.stream.setPeers(peers)
	c.stream.setNonvoters(nonvoters)
	if c.cfg.Observer {
		c.observerConfigurationChanged(member)
	}
	if err := c.book.retain(keep); err != nil {
		c.log.Warn().Err(err).Msg("could not forget the directory ids of removed voters")
	}
	if !self && c.wasVoter.Swap(false) {
		c.log.Warn().Msg("this node is no longer a voter of the controller quorum (removed); its metadata stops advancing: stop it, or add it back")
	} else if self {
		c.wasVoter.Store(true)
	}
}

// StoreConfiguration is raft.ConfigurationStore, called by Raft's FSM
// goroutine for every committed configuration entry.
func (f *fsm) StoreConfiguration(_ uint64, conf raft.Configuration) {
	if fn := f.onConfig.Load(); fn != nil {
		(*fn)(conf)
	}
}

var _ raft.ConfigurationStore = (*fsm)(nil)

// Quorum-change refusals.
var (
	errLastVoter = errorf(kerr.InvalidRequest, "this is the last voter of the quorum; removing it would leave the metadata log without any")
)

// configuration returns the latest Raft configuration.
func (c *Controller) configuration() (raft.Configuration, error) {
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raft.Configuration{}, commitError(err)
	}
	return f.Configuration(), nil
}

// acquireReconfig takes the quorum-change slot.
func (c *Controller) acquireReconfig(ctx context.Context) (release func(), err error) {
	select {
	case c.reconfig <- struct{}{}:
		return func() { <-c.reconfig }, nil
	case <-ctx.Done():
		return nil, errorf(kerr.RequestTimedOut, "another quorum change is in progress: %v", ctx.Err())
	case <-c.stop:
		return nil, ErrNotController
	}
}

// catchUpPoll is how often AddVoter checks the new member's progress.
const catchUpPoll = 20 * time.Millisecond

// AddVoter adds node id, whose Raft transport listens at addr, to the
// quorum as a voter (KIP-853's AddRaftVoter). The node must be running
// with Config.Join. It is first added as a non-voter and promoted only once
// its log has caught up with the leader's (so that a slow or unreachable
// node never stalls commits); if it does not catch up before ctx ends, it
// is removed again and the request fails with REQUEST_TIMED_OUT.
func (c *Controller) AddVoter(ctx context.Context, id int32, addr string) error {
	conf, release, err := c.beginReconfig(ctx)
	if err != nil {
		return err
	}
	defer release()
	sid := serverID(id)
	for _, s := range conf.Servers {
		switch {
		case s.ID == sid && s.Suffrage == raft.Voter:
			return errorf(kerr.DuplicateVoter, "node %d is already a voter of the quorum (at %s)", id, s.Address)
		case s.ID != sid && string(s.Address) == addr:
			return errorf(kerr.DuplicateVoter, "address %s belongs to node %s of the quorum", addr, s.ID)
		}
	}
	c.stream.setPeer(addr, id)
	c.log.Info().Int32("voter", id).Str("raft_addr", addr).Msg("adding a voter: replicating the log to it as a non-voter first")
	if err := c.raft.AddNonvoter(sid, raft.ServerAddress(addr), 0, applyEnqueueTimeout).Error(); err != nil {
		return commitError(err)
	}
	if err := c.awaitCaughtUp(ctx, sid, addr); err != nil {
		if rerr := c.raft.RemoveServer(sid, 0, applyEnqueueTimeout).Error(); rerr != nil {
			c.log.Warn().Err(rerr).Int32("voter", id).Msg("could not remove the non-voter that did not catch up")
		}
		return err
	}
	if err := c.raft.AddVoter(sid, raft.ServerAddress(addr), 0, applyEnqueueTimeout).Error(); err != nil {
		return commitError(err)
	}
	c.log.Info().Int32("voter", id).Str("raft_addr", addr).Msg("voter added to the quorum")
	return nil
}

// awaitCaughtUp waits until follower sid has every entry the leader had
// when the wait began.
func (c *Controller) awaitCaughtUp(ctx context.Context, sid raft.ServerID, addr string) error {
	target := c.raft.LastIndex()
	tick := time.NewTicker(catchUpPoll)
	defer tick.Stop()
	for {
		if p, ok := c.progress.get(sid); ok && p.known && p.match >= target {
			return nil
		}
		if !c.IsLeader() {
			return ErrNotController
		}
		select {
		case <-tick.C:
		case <-c.stop:
			return ErrNotController
		case <-ctx.Done():
			why := "is it running with controller.quorum.join=true and this cluster's cluster.id, and reachable at that address?"
			if r := c.stream.refusalOf(addr); r != nil {
				why = r.Error()
			}
			return errorf(kerr.RequestTimedOut, "node %s at %s did not catch up with the metadata log in time, so it was not added: %s", sid, addr, why)
		}
	}
}

// RemoveVoter removes node id from the quorum (KIP-853's RemoveRaftVoter).
// Removing the active controller works: it commits its own removal and
// steps down, and the others elect a new leader. The last voter cannot be
// removed.
func (c *Controller) RemoveVoter(ctx context.Context, id int32) error {
	conf, release, err := c.beginReconfig(ctx)
	if err != nil {
		return err
	}
	defer release()
	sid := serverID(id)
	i := slices.IndexFunc(conf.Servers, func(s raft.Server) bool { return s.ID == sid })
	if i < 0 {
		return errorf(kerr.VoterNotFound, "node %d is not a member of the quorum (voters: %v)", id, voterIDs(conf))
	}
	if conf.Servers[i].Suffrage == raft.Voter && len(voterIDs(conf)) == 1 {
		return errLastVoter
	}
	c.log.Info().Int32("voter", id).Msg("removing a voter from the quorum")
	if err := c.raft.RemoveServer(sid, 0, applyEnqueueTimeout).Error(); err != nil {
		return commitError(err)
	}
	c.log.Info().Int32("voter", id).Msg("voter removed from the quorum")
	return nil
}

// voterIDs lists the configuration's voters.
func voterIDs(conf raft.Configuration) []string {
	var ids []string
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			ids = append(ids, string(s.ID))
		}
	}
	return ids
}

// beginReconfig starts a quorum change on the leader: it takes the
// reconfiguration lock and returns the current configuration. The caller
// calls release when done.
func (c *Controller) beginReconfig(ctx context.Context) (conf raft.Configuration, release func(), err error) {
	if !c.IsLeader() {
		return raft.Configuration{}, nil, ErrNotController
	}
	if release, err = c.acquireReconfig(ctx); err != nil {
		return raft.Configuration{}, nil, err
	}
	if conf, err = c.configuration(); err != nil {
		release()
		return raft.Configuration{}, nil, err
	}
	return conf, release, nil
}

// serverID is node id's Raft server id.
func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }
