package group

import (
	"container/heap"
	"errors"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
)

// newMemberJoinTimeout bounds how long a member added by a rebalance waits
// for that rebalance to complete (Kafka's classic new-member join timeout):
// a client that gave up and retried would otherwise leave defunct members.
const newMemberJoinTimeout = int64(5 * time.Minute / time.Millisecond)

// coreConfig is Config in the units the decision core uses (milliseconds).
type coreConfig struct {
	initialDelay, minSession, maxSession int64
	maxSize, metadataMax                 int
	retention                            int64
	// KIP-848 consumer groups
	cgHeartbeat, cgSession int64
	cgMaxSize              int
}

func newCoreConfig(c Config) coreConfig {
	return coreConfig{
		initialDelay: c.InitialRebalanceDelay.Milliseconds(),
		minSession:   c.MinSessionTimeout.Milliseconds(), maxSession: c.MaxSessionTimeout.Milliseconds(),
		maxSize: c.MaxSize, metadataMax: c.OffsetMetadataMaxBytes,
		retention:   c.OffsetsRetention.Milliseconds(),
		cgHeartbeat: c.ConsumerHeartbeatInterval.Milliseconds(), cgSession: c.ConsumerSessionTimeout.Milliseconds(),
		cgMaxSize: c.ConsumerMaxSize,
	}
}

// write is a batch of records the core wants on the offsets partition. The
// driver appends it with acks=all and, once it is acknowledged or has
// failed, calls done on the owner goroutine, in the order writes were made.
// State that a write changes is applied in done, so nothing is visible
// before it is committed.
type write struct {
	g       *group
	records []record
	done    func(now int64, err error)
}

// state is the decision core of one coordinator partition: its groups and
// offsets and the classic-protocol state machine over them. It does no IO
// and reads no clock: every entry point takes the time (unix milliseconds),
// answers through the reply functions it is given, and leaves records to
// persist in writes. One goroutine owns it (see shard); tests drive it
// directly, feeding requests and ticks.
type state struct {
	cfg     coreConfig
	log     zerolog.Logger
	groups  map[string]*group
	timers  timerHeap
	writes  []write
	newUUID func() string
}

func newState(cfg coreConfig, log zerolog.Logger, newUUID func() string) *state {
	return &state{cfg: cfg, log: log, groups: map[string]*group{}, newUUID: newUUID}
}

// takeWrites hands the pending writes to the driver.
func (s *state) takeWrites() []write {
	w := s.writes
	s.writes = nil
	return w
}

// completeWrite runs a write's continuation.
func (s *state) completeWrite(w write, now int64, err error) {
	w.done(now, err)
	if w.g != nil {
		s.reschedule(w.g)
	}
}

// store persists g's metadata with the given assignments.
func (s *state) store(g *group, assignment map[string][]byte, done func(now int64, err error)) {
	s.writes = append(s.writes, write{g: g, records: []record{groupRecord(g, assignment)}, done: done})
}

// storeError maps an append failure to the error a group request answers,
// as Kafka's coordinator does.
func storeError(err error) *kerr.Error {
	return appendError(err, kerr.UnknownServerError)
}

// commitError maps an append failure for an offset commit.
func commitError(err error) *kerr.Error {
	return appendError(err, kerr.InvalidCommitOffsetSize)
}

func appendError(err error, tooLarge *kerr.Error) *kerr.Error {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return kerr.NotCoordinator
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
		return kerr.CoordinatorNotAvailable
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError, kerr.NotCoordinator:
		return kerr.NotCoordinator
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
		return tooLarge
	}
	return ke
}

// unload answers every waiting request NOT_COORDINATOR and forgets all
// state: this broker no longer leads the partition.
func (s *state) unload() {
	for _, g := range s.groups {
		for _, id := range g.memberOrder {
			m := g.members[id]
			g.completeJoin(m, joinError(id, kerr.NotCoordinator))
			g.completeSync(m, syncResult{err: kerr.NotCoordinator})
		}
		g.state = stateDead
	}
	s.groups = map[string]*group{}
	s.timers = nil
}

// reschedule puts g's earliest deadline in the timer heap if it is earlier
// than the one already there; a later one is found when that fires.
func (s *state) reschedule(g *group) {
	if s.groups[g.id] != g {
		return
	}
	d := g.nextDeadline()
	if d != 0 && (g.scheduled == 0 || d < g.scheduled) {
		heap.Push(&s.timers, timerEntry{at: d, group: g.id})
		g.scheduled = d
	}
}

// nextDeadline is when tick next has work, 0 for never.
func (s *state) nextDeadline() int64 {
	for len(s.timers) > 0 {
		e := s.timers[0]
		if g := s.groups[e.group]; g != nil && g.scheduled == e.at {
			return e.at
		}
		heap.Pop(&s.timers)
	}
	return 0
}

// tick fires every deadline at or before now: session and pending-member
// expiry, the end of a join phase (rebalance timeout, initial delay) and of
// the wait for SyncGroups.
func (s *state) tick(now int64) {
	for len(s.timers) > 0 && s.timers[0].at <= now {
		e := heap.Pop(&s.timers).(timerEntry)
		g := s.groups[e.group]
		if g == nil || g.scheduled != e.at {
			continue
		}
		g.scheduled = 0
		s.expire(now, g)
		s.reschedule(g)
	}
}

func (s *state) expire(now int64, g *group) {
	if g.cg != nil {
		s.expireConsumerMembers(now, g)
		return
	}
	for id, at := range g.pending {
		if at <= now {
			delete(g.pending, id)
			s.log.Info().Str("group", g.id).Str("member", id).Msg("pending member expired before joining")
			s.maybeCompleteJoinPhase(now, g)
		}
	}
	for _, id := range append([]string(nil), g.memberOrder...) {
		m := g.members[id]
		if m == nil || m.deadline == 0 || m.deadline > now {
			continue
		}
		m.deadline = 0
		// A member waiting in a rebalance satisfies its heartbeats, unless
		// it is new to this rebalance and the rebalance never completed.
		if m.isNew || (m.joinReply == nil && m.syncReply == nil) {
			s.log.Info().Str("group", g.id).Str("member", id).Int32("generation", g.generation).
				Msg("member session expired; removing it from the group")
			s.removeMemberAndUpdateGroup(now, g, m, "session timeout of "+id)
		}
	}
	if g.joinDeadline != 0 && g.joinDeadline <= now {
		s.onJoinTimer(now, g)
	}
	if g.syncDeadline != 0 && g.syncDeadline <= now {
		s.onSyncTimeout(now, g)
	}
}

type timerEntry struct {
	at    int64
	group string
}

// timerHeap orders deadlines; entries whose group has since scheduled
// another deadline are stale and skipped when they surface.
type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
