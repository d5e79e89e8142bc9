package group

import (
	"bytes"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic group's state (Kafka's ClassicGroupState).
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// consumerProtocolType is the protocol type of Kafka consumers, whose
// member metadata lists the subscribed topics.
const consumerProtocolType = "consumer"

type topicPartition struct {
	topic     string
	partition int32
}

// offsetEntry is a committed offset.
type offsetEntry struct {
	offset          int64
	leaderEpoch     int32
	metadata        string
	commitTimestamp int64
	expireTimestamp int64 // -1: none (OffsetCommit v5+)
}

type protocol struct {
	name     string
	metadata []byte
}

// member is one member of a classic group.
type member struct {
	id                               string
	instanceID                       *string
	clientID, clientHost             string
	rebalanceTimeout, sessionTimeout int32 // milliseconds
	protocolType                     string
	protocols                        []protocol
	assignment                       []byte

	// joinReply and syncReply are set while a JoinGroup or SyncGroup of
	// the member waits for the rebalance to progress.
	joinReply func(joinResult)
	syncReply func(syncResult)
	// isNew marks a member added by the rebalance in progress; it expires
	// after newMemberJoinTimeout if the rebalance never completes.
	isNew bool
	// deadline is when the member's session (or new-member join) expires,
	// in unix milliseconds; 0 while it waits in a rebalance.
	deadline int64
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// matches reports whether protocols are exactly the member's, in order.
func (m *member) matches(protocols []protocol) bool {
	return slices.EqualFunc(m.protocols, protocols, func(a, b protocol) bool {
		return a.name == b.name && bytes.Equal(a.metadata, b.metadata)
	})
}

// vote is the member's preferred protocol among candidates.
func (m *member) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.name] {
			return p.name
		}
	}
	return ""
}

// group is one classic group with its committed offsets. It is owned by
// its shard's goroutine; nothing here locks.
type group struct {
	id             string
	state          groupState
	prevState      groupState
	stateTimestamp int64 // unix ms of the last transition; -1 unknown
	generation     int32
	protocolType   string // "" for none
	protocolName   string // "" for none
	leader         string // "" for none

	members     map[string]*member
	memberOrder []string          // join order: leader fallback and record order
	pending     map[string]int64  // KIP-394 member ids handed out -> expiry
	static      map[string]string // group.instance.id -> member id
	votes       map[string]int    // protocol name -> members supporting it
	awaiting    int               // members with a JoinGroup waiting
	pendingSync map[string]bool   // members expected to SyncGroup
	// newMemberAdded extends the initial rebalance delay.
	newMemberAdded bool

	// The join phase timer: joinDeadline (0: none); an initial delayed join
	// (group was empty) extends by joinDelay while joinRemaining lasts.
	joinDeadline             int64
	joinInitial              bool
	joinDelay, joinRemaining int64
	// syncDeadline ends the wait for SyncGroups after a join phase.
	syncDeadline int64

	// subscribed is the union of the consumer members' topics, valid when
	// subscribedKnown (consumer protocol, metadata parsed).
	subscribed      map[string]bool
	subscribedKnown bool

	offsets map[topicPartition]offsetEntry
	// pendingCommits counts offset writes in flight per partition, so that
	// expiry and deletion never race a commit that is about to land.
	pendingCommits map[topicPartition]int

	// cg is set for a KIP-848 consumer group (consumer.go): its members
	// live there, the classic fields stay empty, and state is only Empty,
	// Stable (has members) or Dead. A group id is one kind or the other.
	cg *consumerGroup

	// scheduled is the deadline this group has in the shard's timer heap.
	scheduled int64
}

func newGroup(id string, now int64) *group {
	return &group{
		id: id, state: stateEmpty, prevState: stateEmpty, stateTimestamp: now,
		members: map[string]*member{}, pending: map[string]int64{}, static: map[string]string{},
		votes: map[string]int{}, pendingSync: map[string]bool{},
		offsets: map[topicPartition]offsetEntry{}, pendingCommits: map[topicPartition]int{},
	}
}

func (g *group) transition(to groupState, now int64) {
	g.prevState, g.state = g.state, to
	g.stateTimestamp = now
}

// canRebalance: a rebalance may start from Stable, CompletingRebalance
// and Empty.
func (g *group) canRebalance() bool {
	return g.state == stateStable || g.state == stateCompletingRebalance || g.state == stateEmpty
}

func (g *group) has(id string) bool { _, ok := g.members[id]; return ok }

func (g *group) isStaticFenced(instanceID *string, memberID string) bool {
	if instanceID == nil {
		return false
	}
	existing, ok := g.static[*instanceID]
	return ok && existing != memberID
}

// validateMember checks that instanceID (if any) maps to memberID and that
// memberID is a member.
func (g *group) validateMember(memberID string, instanceID *string) *kerr.Error {
	if instanceID != nil {
		existing, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if existing != memberID {
			return kerr.FencedInstanceID
		}
	}
	if !g.has(memberID) {
		return kerr.UnknownMemberID
	}
	return nil
}

func (g *group) rebalanceTimeout() int64 {
	var t int32
	for _, m := range g.members {
		t = max(t, m.rebalanceTimeout)
	}
	return int64(t)
}

func (g *group) hasAllMembersJoined() bool {
	return g.awaiting == len(g.members) && len(g.pending) == 0
}

// candidates are the protocols every member supports.
func (g *group) candidates() map[string]bool {
	out := map[string]bool{}
	for name, n := range g.votes {
		if n == len(g.members) {
			out[name] = true
		}
	}
	return out
}

// supportsProtocols: an empty group takes any non-empty type and protocol
// list; otherwise the type must match and one protocol must be supported by
// every member.
func (g *group) supportsProtocols(protocolType string, protocols []protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.votes[p.name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol lets each member vote for its first choice among the
// protocols all support; the most votes win, ties going to the choice of
// the earliest member.
func (g *group) selectProtocol() string {
	candidates := g.candidates()
	votes := map[string]int{}
	var order []string
	for _, id := range g.memberOrder {
		v := g.members[id].vote(candidates)
		if _, seen := votes[v]; !seen {
			order = append(order, v)
		}
		votes[v]++
	}
	best := ""
	for _, name := range order {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

func (g *group) countProtocols(m *member, delta int) {
	seen := map[string]bool{}
	for _, p := range m.protocols {
		if seen[p.name] {
			continue
		}
		seen[p.name] = true
		g.votes[p.name] += delta
		if g.votes[p.name] == 0 {
			delete(g.votes, p.name)
		}
	}
}

// add makes m a member; reply (may be nil when loading) waits for the join.
func (g *group) add(m *member, reply func(joinResult)) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members[m.id] = m
	g.memberOrder = append(g.memberOrder, m.id)
	if g.leader == "" {
		g.leader = m.id
	}
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	g.countProtocols(m, 1)
	if reply != nil {
		m.joinReply = reply
		g.awaiting++
	}
	delete(g.pending, m.id)
}

// remove drops a member. A JoinGroup or SyncGroup still waiting for it is
// answered UNKNOWN_MEMBER_ID so that no request is left without an answer.
func (g *group) remove(id string) *member {
	m, ok := g.members[id]
	if !ok {
		return nil
	}
	g.completeJoin(m, joinError("", kerr.UnknownMemberID))
	g.completeSync(m, syncResult{err: kerr.UnknownMemberID})
	g.countProtocols(m, -1)
	delete(g.members, id)
	g.memberOrder = slices.DeleteFunc(g.memberOrder, func(s string) bool { return s == id })
	if m.instanceID != nil && g.static[*m.instanceID] == id {
		delete(g.static, *m.instanceID)
	}
	delete(g.pendingSync, id)
	if g.leader == id {
		g.leader = ""
		if len(g.memberOrder) > 0 {
			g.leader = g.memberOrder[0]
		}
	}
	return m
}

// rename re-keys a static member under a new member id.
func (g *group) rename(m *member, newID string) {
	oldID := m.id
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	for i, id := range g.memberOrder {
		if id == oldID {
			g.memberOrder[i] = newID
		}
	}
	if g.leader == oldID {
		g.leader = newID
	}
	if m.instanceID != nil {
		g.static[*m.instanceID] = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
}

// updateMember replaces a member's protocols and timeouts and sets (or
// clears, with nil) its waiting JoinGroup. A JoinGroup it replaces is
// answered REBALANCE_IN_PROGRESS rather than left waiting.
func (g *group) updateMember(m *member, protocols []protocol, rebalanceTimeout, sessionTimeout int32, reply func(joinResult)) {
	g.countProtocols(m, -1)
	m.protocols = protocols
	g.countProtocols(m, 1)
	m.rebalanceTimeout, m.sessionTimeout = rebalanceTimeout, sessionTimeout
	if m.joinReply != nil {
		old := m.joinReply
		m.joinReply = nil
		g.awaiting--
		old(joinError(m.id, kerr.RebalanceInProgress))
	}
	if reply != nil {
		m.joinReply = reply
		g.awaiting++
	}
}

// completeJoin answers m's waiting JoinGroup, if any.
func (g *group) completeJoin(m *member, res joinResult) bool {
	if m.joinReply == nil {
		return false
	}
	reply := m.joinReply
	m.joinReply = nil
	g.awaiting--
	reply(res)
	return true
}

// completeSync answers m's waiting SyncGroup, if any.
func (g *group) completeSync(m *member, res syncResult) bool {
	if m.syncReply == nil {
		return false
	}
	reply := m.syncReply
	m.syncReply = nil
	reply(res)
	return true
}

// currentMembers is what the leader receives in its JoinGroup answer.
func (g *group) currentMembers() []joinMember {
	out := make([]joinMember, 0, len(g.members))
	for _, id := range g.memberOrder {
		m := g.members[id]
		out = append(out, joinMember{id: id, instanceID: m.instanceID, metadata: m.metadataFor(g.protocolName)})
	}
	return out
}

// computeSubscribed records the topics the consumer members subscribe to,
// as Kafka does, for OffsetDelete and offset expiry. Unknown (another
// protocol type, or metadata that does not parse) counts as subscribed to
// everything.
func (g *group) computeSubscribed() {
	g.subscribed, g.subscribedKnown = nil, false
	if g.protocolType != consumerProtocolType {
		return
	}
	topics := map[string]bool{}
	if len(g.members) > 0 && g.protocolName == "" {
		return
	}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocolName)); err != nil {
			return
		}
		for _, t := range meta.Topics {
			topics[t] = true
		}
	}
	g.subscribed, g.subscribedKnown = topics, true
}

func (g *group) isSubscribedTo(topic string) bool {
	return !g.subscribedKnown || g.subscribed[topic]
}

// nextDeadline is the earliest timer of the group, 0 for none.
func (g *group) nextDeadline() int64 {
	d := int64(0)
	earliest := func(t int64) {
		if t != 0 && (d == 0 || t < d) {
			d = t
		}
	}
	earliest(g.joinDeadline)
	earliest(g.syncDeadline)
	for _, m := range g.members {
		earliest(m.deadline)
	}
	for _, t := range g.pending {
		earliest(t)
	}
	if g.cg != nil {
		earliest(g.cg.nextDeadline())
	}
	return d
}

// metadataTombstones delete the group's metadata records, of its kind.
func (g *group) metadataTombstones() []record {
	if g.cg != nil {
		return cgGroupTombstones(g.id)
	}
	return []record{groupTombstone(g.id)}
}
