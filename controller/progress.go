package controller

// The leader's view of each follower's replication, for DescribeQuorum
// (KIP-595's LogEndOffset, LastFetchTimestamp, LastCaughtUpTimestamp) and
// for AddVoter, which promotes a new member only once it has caught up.
//
// hashicorp/raft keeps each follower's match index in its private
// replication state and exposes none of it (Stats reports only this node's
// own indexes; observers report heartbeat failures, not progress). It does
// send every AppendEntries through the Transport, so trackingTransport
// wraps the network transport and reads the leader's outcome of each one:
// a successful AppendEntries means the follower's log matches the leader's
// up to the request's last entry (PrevLogEntry when it carries none), which
// is exactly how Raft's leader advances matchIndex. Pipelined replication
// is declined (ErrPipelineReplicationNotSupported) so that every append
// passes through AppendEntries; the metadata log is small and its
// throughput is bounded by the proposal slot anyway.
//
// The view is the leader's, rebuilt from nothing when it takes office:
// until a follower has answered an append in this term its end offset is
// unknown (-1), as KIP-595 allows.

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// followerProgress is one follower's replication as the leader last saw it.
type followerProgress struct {
	known        bool   // match is known (an append succeeded this term)
	match        uint64 // the follower's log matches the leader's up to here
	lastContact  time.Time
	lastCaughtUp time.Time
}

// progressTracker holds every follower's progress, keyed by server id.
type progressTracker struct {
	mu struct {
		sync.Mutex
		m map[raft.ServerID]followerProgress
	}
}

func newProgressTracker() *progressTracker {
	p := &progressTracker{}
	p.mu.m = map[raft.ServerID]followerProgress{}
	return p
}

// reset forgets everything (this node has just become leader).
func (p *progressTracker) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.m = map[raft.ServerID]followerProgress{}
}

func (p *progressTracker) get(id raft.ServerID) (followerProgress, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fp, ok := p.mu.m[id]
	return fp, ok
}

// appended records a successful append: the follower matches the leader up
// to match; leaderLast was the leader's last index when it sent the append.
func (p *progressTracker) appended(id raft.ServerID, match, leaderLast uint64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fp := p.mu.m[id]
	if !fp.known || match > fp.match {
		fp.match = match
	}
	fp.known = true
	fp.lastContact = now
	if fp.match >= leaderLast {
		fp.lastCaughtUp = now
	}
	p.mu.m[id] = fp
}

// heartbeat records a successful heartbeat; leaderLast is the leader's last
// index now.
func (p *progressTracker) heartbeat(id raft.ServerID, leaderLast uint64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fp := p.mu.m[id]
	fp.lastContact = now
	if fp.known && fp.match >= leaderLast {
		fp.lastCaughtUp = now
	}
	p.mu.m[id] = fp
}

// trackingTransport is the Raft network transport, with every append's
// outcome recorded in progress.
type trackingTransport struct {
	*raft.NetworkTransport
	progress *progressTracker
	raft     atomic.Pointer[raft.Raft] // set once Raft runs
}

// AppendEntriesPipeline declines pipelining, so that Raft sends every
// append through AppendEntries.
func (t *trackingTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

// AppendEntries sends an append (or heartbeat) and records its outcome.
func (t *trackingTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	leaderLast := t.lastIndex()
	err := t.NetworkTransport.AppendEntries(id, target, args, resp)
	if err != nil || !resp.Success {
		return err
	}
	now := time.Now()
	if len(args.Entries) == 0 && args.PrevLogEntry == 0 && args.PrevLogTerm == 0 && args.LeaderCommitIndex == 0 {
		t.progress.heartbeat(id, t.lastIndex(), now) // hashicorp/raft's heartbeats carry no log position
		return nil
	}
	match := args.PrevLogEntry
	if n := len(args.Entries); n > 0 {
		match = args.Entries[n-1].Index
	}
	t.progress.appended(id, match, leaderLast, now)
	return nil
}

func (t *trackingTransport) lastIndex() uint64 {
	if r := t.raft.Load(); r != nil {
		return r.LastIndex()
	}
	return 0
}
