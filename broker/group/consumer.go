package group

// The KIP-848 consumer group protocol (ConsumerGroupHeartbeat): the broker
// assigns partitions and every member converges to its target assignment on
// its own heartbeats. Runs on the shard's owner goroutine like classic.go.
//
// Three epochs order everything (KIP-848, "Group Epoch - Trigger a
// rebalance"):
//
//   - the group epoch goes up whenever what an assignment depends on
//     changes: a member joins or leaves, a subscription changes, a
//     subscribed topic's partition count changes;
//   - the target assignment epoch catches up with the group epoch when the
//     assignor computes a new target assignment (on the next heartbeat);
//   - each member's epoch catches up with the target assignment epoch once
//     it has revoked what it must give up (CurrentAssignmentBuilder).
//
// A partition moves to a new owner only after its previous owner revoked it:
// every owned partition (assigned or pending revocation) is recorded in
// owners, and a target partition still owned by another member is held
// back (the member is UNRELEASED_PARTITIONS) until that owner's heartbeat
// shows it gone. Members that do not heartbeat within the session timeout,
// or do not revoke within their rebalance timeout, are removed and their
// partitions freed.
//
// State changes apply in memory at once and are answered only after their
// records are acknowledged (write.done), in log order: no answer reflects a
// state a failover could lose. If a write fails the group is marked dirty
// and its next write restates it whole (snapshot), so the log catches up
// with memory.

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

type topicID = [16]byte

// assignment is partitions by topic id, each list sorted and unique.
type assignment map[topicID][]int32

func (a assignment) topicIDs() []topicID {
	ids := make([]topicID, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y topicID) int { return slices.Compare(x[:], y[:]) })
	return ids
}

func (a assignment) equal(b assignment) bool {
	if len(a) != len(b) {
		return false
	}
	for id, ps := range a {
		if !slices.Equal(ps, b[id]) {
			return false
		}
	}
	return true
}

func (a assignment) has(id topicID, p int32) bool {
	_, ok := slices.BinarySearch(a[id], p)
	return ok
}

func (a assignment) clone() assignment {
	out := make(assignment, len(a))
	for id, ps := range a {
		out[id] = slices.Clone(ps)
	}
	return out
}

func (a assignment) size() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func normalize(ps []int32) []int32 {
	slices.Sort(ps)
	return slices.Compact(ps)
}

// memberState is Kafka's MemberState.
type memberState int8

const (
	memberStable               memberState = 0
	memberUnrevokedPartitions  memberState = 1
	memberUnreleasedPartitions memberState = 2
)

// Member epochs with a meaning (ConsumerGroupHeartbeat).
const (
	epochJoin        = 0
	epochLeave       = -1
	epochLeaveStatic = -2
)

// maxCachedRegexes bounds a group's compiled subscription expressions.
const maxCachedRegexes = 64

// Server-side assignors.
const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

// consumerMember is one member of a consumer group.
type consumerMember struct {
	id                   string
	instanceID, rackID   *string
	clientID, clientHost string
	subscribedNames      []string // sorted
	subscribedRegex      *string
	serverAssignor       *string
	rebalanceTimeout     int32

	epoch, previousEpoch int32
	state                memberState
	assigned             assignment
	pendingRevocation    assignment

	sessionDeadline int64 // unix ms
	revokeDeadline  int64 // while revoking, the rebalance timeout; 0 none
}

type owner struct {
	member string
	epoch  int32
}

// consumerGroup is the KIP-848 part of a group of kind consumer.
type consumerGroup struct {
	epoch       int32
	hash        uint64 // of the subscribed topics, as of the last heartbeat
	targetEpoch int32
	target      map[string]assignment
	members     map[string]*consumerMember
	static      map[string]string // instance id -> member id
	owners      map[topicID]map[int32]owner
	names       map[topicID]string // topic names seen, for describing
	regex       map[string]*regexp.Regexp

	// dirty: a write failed, so the log may lack some of this state; the
	// next write restates the group. forgotten are members removed since,
	// whose tombstones must go with it.
	dirty     bool
	forgotten map[string]bool
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		target: map[string]assignment{}, members: map[string]*consumerMember{}, static: map[string]string{},
		owners: map[topicID]map[int32]owner{}, names: map[topicID]string{}, regex: map[string]*regexp.Regexp{},
		forgotten: map[string]bool{},
	}
}

func (cg *consumerGroup) ownerOf(id topicID, p int32) (owner, bool) {
	o, ok := cg.owners[id][p]
	return o, ok
}

func (cg *consumerGroup) release(m *consumerMember) {
	for _, a := range []assignment{m.assigned, m.pendingRevocation} {
		for id, ps := range a {
			for _, p := range ps {
				if o, ok := cg.owners[id][p]; ok && o.member == m.id {
					delete(cg.owners[id], p)
				}
			}
			if len(cg.owners[id]) == 0 {
				delete(cg.owners, id)
			}
		}
	}
}

func (cg *consumerGroup) claim(m *consumerMember) {
	for _, a := range []assignment{m.assigned, m.pendingRevocation} {
		for id, ps := range a {
			if cg.owners[id] == nil {
				cg.owners[id] = map[int32]owner{}
			}
			for _, p := range ps {
				cg.owners[id][p] = owner{m.id, m.epoch}
			}
		}
	}
}

func (cg *consumerGroup) addMember(m *consumerMember) {
	cg.members[m.id] = m
	if m.instanceID != nil {
		cg.static[*m.instanceID] = m.id
	}
	cg.claim(m)
}

func (cg *consumerGroup) removeMember(m *consumerMember) {
	cg.release(m)
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
}

// stateName is the group state ListGroups and ConsumerGroupDescribe show
// (Kafka's ConsumerGroupState).
func (cg *consumerGroup) stateName() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.epoch != cg.targetEpoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.targetEpoch || m.state != memberStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

// assignor is the assignor the group uses: the one most members ask for,
// uniform if none does (Kafka's group.consumer.assignors default order).
func (cg *consumerGroup) assignor() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.serverAssignor != nil {
			votes[*m.serverAssignor]++
		}
	}
	best := assignorUniform
	for _, name := range []string{assignorUniform, assignorRange} {
		if votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// Topics is the part of the metadata image the consumer group protocol
// needs. The broker implements it over one image; it must be safe to use
// from the shard goroutine while the image lives.
type Topics interface {
	// Topic returns a topic's id and partition count.
	Topic(name string) (id topicID, partitions int32, ok bool)
	// TopicByID returns a topic's name and partition count.
	TopicByID(id topicID) (name string, partitions int32, ok bool)
	// Names lists every topic, for regular-expression subscriptions.
	Names() []string
}

type ownedTopic struct {
	id         topicID
	partitions []int32
}

// cghRequest is a ConsumerGroupHeartbeat. Nil fields (names, regex,
// assignor, owned) mean "unchanged since the last heartbeat".
type cghRequest struct {
	version              int16
	groupID, memberID    string
	memberEpoch          int32
	instanceID, rackID   *string
	rebalanceTimeout     int32 // -1: unchanged
	subscribedNames      []string
	subscribedRegex      *string
	serverAssignor       *string
	owned                []ownedTopic
	clientID, clientHost string
	topics               Topics
}

type cghResult struct {
	err        *kerr.Error
	msg        string
	memberID   string
	epoch      int32
	interval   int32
	assignment assignment // nil: not sent
}

func cghError(err *kerr.Error, format string, args ...any) cghResult {
	return cghResult{err: err, msg: fmt.Sprintf(format, args...)}
}

// validateHeartbeat applies Kafka's request checks (INVALID_REQUEST and
// the regex and assignor errors) before anything is looked up.
func validateHeartbeat(r *cghRequest) (cghResult, bool) {
	switch {
	case r.groupID == "":
		return cghError(kerr.InvalidRequest, "GroupId can't be empty."), false
	case r.memberID == "" && (r.version >= 1 || r.memberEpoch != epochJoin):
		return cghError(kerr.InvalidRequest, "MemberId can't be empty."), false
	case r.instanceID != nil && *r.instanceID == "":
		return cghError(kerr.InvalidRequest, "InstanceId can't be empty."), false
	case r.rackID != nil && *r.rackID == "":
		return cghError(kerr.InvalidRequest, "RackId can't be empty."), false
	case r.memberEpoch < epochLeaveStatic:
		return cghError(kerr.InvalidRequest, "MemberEpoch is invalid."), false
	case r.memberEpoch == epochLeaveStatic && r.instanceID == nil:
		return cghError(kerr.InvalidRequest, "InstanceId can't be null."), false
	}
	if r.memberEpoch == epochJoin {
		switch {
		case r.rebalanceTimeout == -1:
			return cghError(kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request."), false
		case r.owned == nil || len(r.owned) > 0:
			return cghError(kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining."), false
		case r.subscribedNames == nil && r.subscribedRegex == nil:
			return cghError(kerr.InvalidRequest, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."), false
		}
	}
	if r.subscribedRegex != nil {
		if _, err := compileSubscription(*r.subscribedRegex); err != nil {
			return cghError(kerr.InvalidRegularExpression, "SubscribedTopicRegex %q is not a valid regular expression: %v", *r.subscribedRegex, err), false
		}
	}
	if a := r.serverAssignor; a != nil && *a != assignorUniform && *a != assignorRange {
		return cghError(kerr.UnsupportedAssignor, "ServerAssignor %s is not supported. Supported assignors: uniform, range.", *a), false
	}
	return cghResult{}, true
}

// compileSubscription compiles a KIP-848 topic regex. Kafka uses RE2/J and
// matches the whole topic name; Go's regexp is RE2.
func compileSubscription(expr string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + expr + ")$")
}

// consumerHeartbeat handles a ConsumerGroupHeartbeat; reply is called once,
// after the records it wrote (or every earlier write) are acknowledged.
func (s *state) consumerHeartbeat(now int64, r *cghRequest, reply func(cghResult)) {
	if res, ok := validateHeartbeat(r); !ok {
		reply(res)
		return
	}
	if r.memberEpoch == epochJoin && r.memberID == "" {
		r.memberID = s.newUUID() // v0: the coordinator names the member
	}
	if r.memberEpoch < 0 {
		s.consumerLeave(now, r, reply)
		return
	}
	g, pre, res := s.consumerGroupFor(now, r.groupID, r.memberEpoch == epochJoin)
	if res.err != nil {
		reply(res)
		return
	}
	defer s.reschedule(g)
	cg := g.cg
	b := &cgBatch{recs: pre}
	m, isNew, res := s.memberFor(now, g, r, b)
	if res.err != nil {
		reply(res)
		return
	}
	bump := isNew
	if updateSubscription(m, r) {
		bump = true
		b.recs = append(b.recs, cgMemberRecord(g.id, m))
	}
	subs := s.resolveSubscriptions(g, r.topics)
	if subs.hash != cg.hash {
		cg.hash, bump = subs.hash, true
	}
	if bump {
		cg.epoch++
		b.recs = append(b.recs, cgEpochRecord(g.id, cg.epoch, cg.hash))
		s.log.Info().Str("group", g.id).Int32("epoch", cg.epoch).Str("member", m.id).Msg("consumer group epoch bumped")
	}
	if cg.epoch > cg.targetEpoch {
		s.computeTarget(g, subs, b)
	}
	before := m.assigned
	if s.reconcile(now, g, m, r.owned) {
		b.recs = append(b.recs, cgCurrentRecord(g.id, m))
	}
	m.sessionDeadline = now + s.cfg.cgSession
	if g.state != stateStable {
		g.transition(stateStable, now)
	}
	out := cghResult{memberID: m.id, epoch: m.epoch, interval: int32(s.cfg.cgHeartbeat)}
	full := r.rebalanceTimeout != -1 && (r.subscribedNames != nil || r.subscribedRegex != nil) && r.owned != nil
	if r.memberEpoch == epochJoin || full || !before.equal(m.assigned) {
		out.assignment = m.assigned.clone()
	}
	s.persistConsumer(g, b, func(err error) {
		if err != nil {
			reply(cghResult{err: storeError(err)})
			return
		}
		reply(out)
	})
}

// cgBatch is the records one change writes and the members it removed.
type cgBatch struct {
	recs    []record
	removed []string
}

// consumerGroupFor finds or creates the consumer group of a heartbeat. An
// empty classic group (offsets only, or members all gone) becomes a
// consumer group on a join, keeping its offsets; pre are the records that
// conversion writes.
func (s *state) consumerGroupFor(now int64, id string, create bool) (*group, []record, cghResult) {
	g := s.groups[id]
	switch {
	case g != nil && g.state == stateDead:
		return nil, nil, cghError(kerr.CoordinatorNotAvailable, "Group %s is being deleted.", id)
	case g != nil && g.cg != nil:
		return g, nil, cghResult{}
	case g == nil && !create:
		return nil, nil, cghError(kerr.UnknownMemberID, "Group %s not found.", id)
	case g == nil:
		g = newGroup(id, now)
		g.toConsumer()
		s.groups[id] = g
		return g, nil, cghResult{}
	case create && len(g.members) == 0 && len(g.pending) == 0:
		s.log.Info().Str("group", id).Msg("empty classic group becomes a consumer group")
		g.toConsumer()
		return g, []record{groupTombstone(id)}, cghResult{}
	}
	return nil, nil, cghError(kerr.GroupIDNotFound, "Group %s is not a consumer group.", id)
}

// toConsumer makes g a KIP-848 consumer group, keeping its offsets.
func (g *group) toConsumer() {
	g.cg = newConsumerGroup()
	g.protocolType, g.protocolName, g.leader, g.generation = consumerProtocolType, "", "", 0
	g.state, g.prevState = stateEmpty, stateEmpty
}

// memberFor finds the heartbeat's member, creating it on a join, and
// fences what Kafka fences (throwIfMemberEpochIsInvalid and the static
// membership rules).
func (s *state) memberFor(now int64, g *group, r *cghRequest, b *cgBatch) (*consumerMember, bool, cghResult) {
	cg := g.cg
	if r.instanceID != nil {
		return s.staticMemberFor(now, g, r, b)
	}
	m := cg.members[r.memberID]
	if m == nil {
		if r.memberEpoch != epochJoin {
			return nil, false, cghError(kerr.UnknownMemberID, "Member %s is not a member of group %s.", r.memberID, g.id)
		}
		if len(cg.members) >= s.cfg.cgMaxSize {
			return nil, false, cghError(kerr.GroupMaxSizeReached, "The consumer group has reached its maximum capacity of %d members.", s.cfg.cgMaxSize)
		}
		m = &consumerMember{id: r.memberID, assigned: assignment{}, pendingRevocation: assignment{}}
		cg.addMember(m)
		return m, true, cghResult{}
	}
	if err := checkMemberEpoch(m, r); err.err != nil {
		return nil, false, err
	}
	return m, false, cghResult{}
}

func (s *state) staticMemberFor(now int64, g *group, r *cghRequest, b *cgBatch) (*consumerMember, bool, cghResult) {
	cg := g.cg
	existingID, known := cg.static[*r.instanceID]
	if r.memberEpoch != epochJoin {
		switch {
		case !known:
			return nil, false, cghError(kerr.UnknownMemberID, "Instance %s is not a member of group %s.", *r.instanceID, g.id)
		case existingID != r.memberID:
			return nil, false, cghError(kerr.FencedInstanceID, "Instance %s is used by member %s.", *r.instanceID, existingID)
		}
		m := cg.members[existingID]
		if err := checkMemberEpoch(m, r); err.err != nil {
			return nil, false, err
		}
		return m, false, cghResult{}
	}
	if !known {
		if m := cg.members[r.memberID]; m != nil { // a dynamic member turning static
			cg.static[*r.instanceID] = m.id
			return m, false, cghResult{}
		}
		if len(cg.members) >= s.cfg.cgMaxSize {
			return nil, false, cghError(kerr.GroupMaxSizeReached, "The consumer group has reached its maximum capacity of %d members.", s.cfg.cgMaxSize)
		}
		m := &consumerMember{id: r.memberID, instanceID: cloneString(r.instanceID), assigned: assignment{}, pendingRevocation: assignment{}}
		cg.addMember(m)
		return m, true, cghResult{}
	}
	old := cg.members[existingID]
	if existingID == r.memberID {
		if old.epoch == epochLeaveStatic { // back before its session ran out
			old.epoch = old.previousEpoch
			b.recs = append(b.recs, cgCurrentRecord(g.id, old))
		}
		return old, false, cghResult{}
	}
	if old.epoch != epochLeaveStatic {
		return nil, false, cghError(kerr.UnreleasedInstanceID, "Static member %s with instance id %s is not released yet.", existingID, *r.instanceID)
	}
	// The instance came back under a new member id: it takes over the old
	// member's assignment and epoch, without a rebalance.
	m := &consumerMember{
		id: r.memberID, instanceID: cloneString(r.instanceID), rackID: old.rackID,
		subscribedNames: old.subscribedNames, subscribedRegex: old.subscribedRegex, serverAssignor: old.serverAssignor,
		rebalanceTimeout: old.rebalanceTimeout, epoch: old.previousEpoch, previousEpoch: old.previousEpoch,
		state: old.state, assigned: old.assigned, pendingRevocation: old.pendingRevocation,
	}
	target := cg.target[old.id]
	cg.removeMember(old)
	b.recs = append(b.recs, cgMemberTombstones(g.id, old.id)...)
	b.removed = append(b.removed, old.id)
	cg.addMember(m)
	if target != nil {
		cg.target[m.id] = target
		b.recs = append(b.recs, cgTargetMemberRecord(g.id, m.id, target))
	}
	b.recs = append(b.recs, cgMemberRecord(g.id, m), cgCurrentRecord(g.id, m))
	s.log.Info().Str("group", g.id).Str("instance", *r.instanceID).Str("old_member", old.id).Str("member", m.id).
		Msg("static member rejoined")
	return m, false, cghResult{}
}

// checkMemberEpoch: a larger epoch than the member's is fenced; a smaller
// one only if it is the previous epoch and the member owns no more than it
// is assigned (the answer bumping its epoch was lost). Epoch 0 is a rejoin:
// the member gave up everything and gets its assignment again.
func checkMemberEpoch(m *consumerMember, r *cghRequest) cghResult {
	e := r.memberEpoch
	switch {
	case e == epochJoin:
		return cghResult{}
	case m.epoch == epochLeaveStatic || e > m.epoch:
		return cghError(kerr.FencedMemberEpoch, "The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", e, m.epoch)
	case e < m.epoch && (e != m.previousEpoch || !ownsSubset(r.owned, m.assigned)):
		return cghError(kerr.FencedMemberEpoch, "The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", e, m.epoch)
	}
	return cghResult{}
}

func ownsSubset(owned []ownedTopic, a assignment) bool {
	if owned == nil {
		return false
	}
	for _, t := range owned {
		for _, p := range t.partitions {
			if !a.has(t.id, p) {
				return false
			}
		}
	}
	return true
}

// updateSubscription applies the heartbeat's member fields and reports
// whether anything the assignment depends on, or the stored member
// metadata, changed.
func updateSubscription(m *consumerMember, r *cghRequest) bool {
	changed := false
	setStr := func(dst **string, v *string) {
		if v != nil && (*dst == nil || **dst != *v) {
			*dst, changed = cloneString(v), true
		}
	}
	setStr(&m.instanceID, r.instanceID)
	setStr(&m.rackID, r.rackID)
	setStr(&m.serverAssignor, r.serverAssignor)
	if r.subscribedRegex != nil && *r.subscribedRegex == "" {
		if m.subscribedRegex != nil {
			m.subscribedRegex, changed = nil, true
		}
	} else {
		setStr(&m.subscribedRegex, r.subscribedRegex)
	}
	if r.subscribedNames != nil {
		names := normalizeNames(r.subscribedNames)
		if !slices.Equal(names, m.subscribedNames) {
			m.subscribedNames, changed = names, true
		}
	}
	if r.rebalanceTimeout != -1 && r.rebalanceTimeout != m.rebalanceTimeout {
		m.rebalanceTimeout, changed = r.rebalanceTimeout, true
	}
	if r.clientID != m.clientID || r.clientHost != m.clientHost {
		m.clientID, m.clientHost, changed = r.clientID, r.clientHost, true
	}
	return changed
}

func normalizeNames(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// consumerLeave handles a heartbeat with epoch -1 (leave) or -2 (a static
// member leaving for now: it keeps its partitions until its session
// expires or its instance rejoins).
func (s *state) consumerLeave(now int64, r *cghRequest, reply func(cghResult)) {
	g := s.groups[r.groupID]
	if g == nil || g.cg == nil || g.state == stateDead {
		reply(cghError(kerr.UnknownMemberID, "Group %s has no member %s.", r.groupID, r.memberID))
		return
	}
	defer s.reschedule(g)
	cg := g.cg
	m := cg.members[r.memberID]
	if r.instanceID != nil {
		id, ok := cg.static[*r.instanceID]
		switch {
		case !ok:
			reply(cghError(kerr.UnknownMemberID, "Instance %s is not a member of group %s.", *r.instanceID, g.id))
			return
		case id != r.memberID:
			reply(cghError(kerr.FencedInstanceID, "Instance %s is used by member %s.", *r.instanceID, id))
			return
		}
	}
	if m == nil {
		reply(cghError(kerr.UnknownMemberID, "Member %s is not a member of group %s.", r.memberID, g.id))
		return
	}
	out := cghResult{memberID: m.id, epoch: r.memberEpoch, interval: int32(s.cfg.cgHeartbeat)}
	b := &cgBatch{}
	if r.memberEpoch == epochLeaveStatic {
		if m.epoch != epochLeaveStatic {
			m.previousEpoch, m.epoch = m.epoch, epochLeaveStatic
			m.revokeDeadline = 0
			b.recs = append(b.recs, cgCurrentRecord(g.id, m))
		}
		m.sessionDeadline = now + s.cfg.cgSession
		s.log.Info().Str("group", g.id).Str("member", m.id).Str("instance", *m.instanceID).Msg("static member left for now")
	} else {
		s.removeConsumerMember(now, g, m, "left the group", b)
	}
	s.persistConsumer(g, b, func(err error) {
		if err != nil {
			reply(cghResult{err: storeError(err)})
			return
		}
		reply(out)
	})
}

// removeConsumerMember drops m, frees its partitions and bumps the group
// epoch; the next heartbeat computes the new target assignment.
func (s *state) removeConsumerMember(now int64, g *group, m *consumerMember, reason string, b *cgBatch) {
	cg := g.cg
	cg.removeMember(m)
	cg.epoch++
	b.recs = append(b.recs, cgMemberTombstones(g.id, m.id)...)
	b.recs = append(b.recs, cgEpochRecord(g.id, cg.epoch, cg.hash))
	b.removed = append(b.removed, m.id)
	if len(cg.members) == 0 {
		g.transition(stateEmpty, now)
	}
	s.log.Info().Str("group", g.id).Str("member", m.id).Int32("epoch", cg.epoch).Str("reason", reason).
		Msg("consumer group member removed")
}

// expireConsumerMembers removes members whose session or rebalance
// timeout passed.
func (s *state) expireConsumerMembers(now int64, g *group) {
	cg := g.cg
	b := &cgBatch{}
	ids := make([]string, 0, len(cg.members))
	for id := range cg.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := cg.members[id]
		switch {
		case m.sessionDeadline != 0 && m.sessionDeadline <= now:
			s.removeConsumerMember(now, g, m, "session timeout", b)
		case m.revokeDeadline != 0 && m.revokeDeadline <= now:
			s.removeConsumerMember(now, g, m, "did not revoke its partitions within the rebalance timeout", b)
		}
	}
	if len(b.recs) > 0 {
		s.persistConsumer(g, b, func(err error) {
			if err != nil {
				s.log.Warn().Err(err).Str("group", g.id).Msg("storing expired consumer group members failed")
			}
		})
	}
}

func (cg *consumerGroup) nextDeadline() int64 {
	d := int64(0)
	for _, m := range cg.members {
		for _, t := range []int64{m.sessionDeadline, m.revokeDeadline} {
			if t != 0 && (d == 0 || t < d) {
				d = t
			}
		}
	}
	return d
}

// persistConsumer writes b's records (or, with none, waits for the writes
// before it) and then calls done. A failed write marks the group dirty;
// the next one restates the whole group first.
func (s *state) persistConsumer(g *group, b *cgBatch, done func(err error)) {
	cg := g.cg
	recs := b.recs
	var restated []string
	restating := cg.dirty
	if restating {
		for id := range cg.forgotten {
			restated = append(restated, id)
		}
		recs = append(cg.snapshot(g.id, restated), recs...)
	}
	s.writes = append(s.writes, write{g: g, records: recs, done: func(_ int64, err error) {
		switch {
		case err != nil && len(recs) > 0:
			cg.dirty = true
			for _, id := range b.removed {
				cg.forgotten[id] = true
			}
		case err == nil && restating:
			cg.dirty = false
			for _, id := range restated {
				delete(cg.forgotten, id)
			}
		}
		done(err)
	}})
}

// snapshot is every record of the group's current state, with tombstones
// for the forgotten members.
func (cg *consumerGroup) snapshot(group string, forgotten []string) []record {
	var recs []record
	for _, id := range forgotten {
		if cg.members[id] == nil {
			recs = append(recs, cgMemberTombstones(group, id)...)
		}
	}
	ids := make([]string, 0, len(cg.members))
	for id := range cg.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		recs = append(recs, cgMemberRecord(group, cg.members[id]))
	}
	recs = append(recs, cgEpochRecord(group, cg.epoch, cg.hash))
	for _, id := range ids {
		if a := cg.target[id]; a != nil {
			recs = append(recs, cgTargetMemberRecord(group, id, a))
		}
	}
	recs = append(recs, cgTargetMetadataRecord(group, cg.targetEpoch))
	for _, id := range ids {
		recs = append(recs, cgCurrentRecord(group, cg.members[id]))
	}
	return recs
}

// validateConsumerCommit checks an OffsetCommit against a consumer group:
// with epoch -1 only while it has no members; otherwise from a member, at
// OffsetCommit v9+, with its current member epoch (STALE_MEMBER_EPOCH).
func (s *state) validateConsumerCommit(g *group, r *commitRequest) *kerr.Error {
	cg := g.cg
	if r.generation < 0 && len(cg.members) == 0 {
		return nil
	}
	m := cg.members[r.memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case r.version < 9:
		return kerr.UnsupportedVersion
	case r.generation != m.epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}

// validateConsumerFetch checks an OffsetFetch (v9+) naming a member of a
// consumer group; epoch -1 is an admin and is not checked.
func validateConsumerFetch(g *group, memberID *string, epoch int32) *kerr.Error {
	if g == nil || g.cg == nil || epoch == -1 {
		return nil
	}
	id := ""
	if memberID != nil {
		id = *memberID
	}
	m := g.cg.members[id]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}

// sortedMembers lists a consumer group's members by id.
func (cg *consumerGroup) sortedMembers() []*consumerMember {
	out := make([]*consumerMember, 0, len(cg.members))
	for _, m := range cg.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *consumerMember) int { return cmp.Compare(a.id, b.id) })
	return out
}
