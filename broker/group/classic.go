package group

// The classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup)
// as Kafka's group coordinator runs it, KIP-394 member ids and KIP-345
// static membership included. Every function here runs on the shard's owner
// goroutine with the time passed in.

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

type joinRequest struct {
	version                          int16
	groupID, memberID                string
	instanceID                       *string
	clientID, clientHost             string
	sessionTimeout, rebalanceTimeout int32
	protocolType                     string
	protocols                        []protocol
	reason                           string
}

type joinMember struct {
	id         string
	instanceID *string
	metadata   []byte
}

type joinResult struct {
	err                        *kerr.Error
	memberID                   string
	generation                 int32
	protocolType, protocolName string
	leader                     string
	members                    []joinMember
	skipAssignment             bool
}

func joinError(memberID string, err *kerr.Error) joinResult {
	return joinResult{err: err, memberID: memberID, generation: -1}
}

type syncRequest struct {
	groupID, memberID          string
	instanceID                 *string
	generation                 int32
	protocolType, protocolName *string
	assignments                map[string][]byte
}

type syncResult struct {
	err                        *kerr.Error
	protocolType, protocolName string
	assignment                 []byte
}

// join handles a JoinGroup. reply is called exactly once, now or when the
// rebalance the member waits for completes.
func (s *state) join(now int64, r *joinRequest, reply func(joinResult)) {
	if r.groupID == "" {
		reply(joinError(r.memberID, kerr.InvalidGroupID))
		return
	}
	if st := int64(r.sessionTimeout); st < s.cfg.minSession || st > s.cfg.maxSession {
		reply(joinError(r.memberID, kerr.InvalidSessionTimeout))
		return
	}
	g := s.groups[r.groupID]
	created := false
	if g == nil {
		if r.memberID != "" {
			reply(joinError(r.memberID, kerr.UnknownMemberID))
			return
		}
		g = newGroup(r.groupID, now)
		s.groups[r.groupID] = g
		created = true
	}
	if g.cg != nil {
		if len(g.cg.members) > 0 {
			// Samsa does not mix classic members into a consumer group
			// (Kafka's group.consumer.migration.policy=disabled).
			reply(joinError(r.memberID, kerr.InconsistentGroupProtocol))
			return
		}
		s.toClassic(g)
	}
	switch {
	case !s.acceptJoiningMember(g, r.memberID):
		if m := g.members[r.memberID]; m != nil {
			s.removeMemberAndUpdateGroup(now, g, m, "group is full")
		}
		reply(joinError("", kerr.GroupMaxSizeReached))
	case r.memberID == "":
		s.joinNewMember(now, g, r, reply)
	default:
		s.joinExistingMember(now, g, r, reply)
	}
	s.maybeCompleteJoinPhase(now, g)
	if created && len(g.members) == 0 && len(g.pending) == 0 {
		delete(s.groups, g.id) // the join failed; do not keep an empty shell
	}
	s.reschedule(g)
}

// acceptJoiningMember applies group.max.size: members already waiting in a
// rebalance stay, new ones come in while there is room.
func (s *state) acceptJoiningMember(g *group, memberID string) bool {
	m := g.members[memberID]
	switch g.state {
	case statePreparingRebalance:
		return (m != nil && m.joinReply != nil) || g.awaiting < s.cfg.maxSize
	case stateCompletingRebalance, stateStable:
		return m != nil || len(g.members) < s.cfg.maxSize
	}
	return true
}

// toClassic turns an empty consumer group into a classic one, keeping its
// offsets; its consumer group records are deleted first.
func (s *state) toClassic(g *group) {
	s.log.Info().Str("group", g.id).Msg("empty consumer group becomes a classic group")
	s.writes = append(s.writes, write{g: g, records: g.metadataTombstones(), done: func(int64, error) {}})
	g.cg = nil
	g.protocolType, g.subscribed, g.subscribedKnown = "", nil, false
	g.state, g.prevState = stateEmpty, stateEmpty
}

func (s *state) memberID(r *joinRequest) string {
	if r.instanceID != nil {
		return *r.instanceID + "-" + s.newUUID()
	}
	return r.clientID + "-" + s.newUUID()
}

func (s *state) joinNewMember(now int64, g *group, r *joinRequest, reply func(joinResult)) {
	if g.state == stateDead {
		reply(joinError(r.memberID, kerr.CoordinatorNotAvailable))
		return
	}
	if !g.supportsProtocols(r.protocolType, r.protocols) {
		reply(joinError(r.memberID, kerr.InconsistentGroupProtocol))
		return
	}
	id := s.memberID(r)
	if r.instanceID != nil {
		if oldID, ok := g.static[*r.instanceID]; ok {
			s.replaceStaticMember(now, g, oldID, id, r, reply)
			return
		}
		s.addMemberAndRebalance(now, g, id, r, reply)
		return
	}
	if r.version >= 4 {
		// KIP-394: hand out the id first; the member joins with it.
		g.pending[id] = now + int64(r.sessionTimeout)
		reply(joinResult{err: kerr.MemberIDRequired, memberID: id, generation: -1})
		return
	}
	s.addMemberAndRebalance(now, g, id, r, reply)
}

func (s *state) joinExistingMember(now int64, g *group, r *joinRequest, reply func(joinResult)) {
	if g.state == stateDead {
		reply(joinError(r.memberID, kerr.CoordinatorNotAvailable))
		return
	}
	if !g.supportsProtocols(r.protocolType, r.protocols) {
		reply(joinError(r.memberID, kerr.InconsistentGroupProtocol))
		return
	}
	if _, ok := g.pending[r.memberID]; ok {
		if r.instanceID != nil { // pending ids are only handed to dynamic members
			reply(joinError(r.memberID, kerr.UnknownMemberID))
			return
		}
		s.addMemberAndRebalance(now, g, r.memberID, r, reply)
		return
	}
	if g.isStaticFenced(r.instanceID, r.memberID) {
		reply(joinError(r.memberID, kerr.FencedInstanceID))
		return
	}
	m := g.members[r.memberID]
	if m == nil || (r.instanceID != nil && g.static[*r.instanceID] == "") {
		reply(joinError(r.memberID, kerr.UnknownMemberID))
		return
	}
	switch g.state {
	case statePreparingRebalance:
		s.updateMemberAndRebalance(now, g, m, r, reply)
	case stateCompletingRebalance:
		if m.matches(r.protocols) {
			// It lost our answer; give it again.
			reply(g.joinResultFor(m.id, g.leader == m.id))
			return
		}
		s.updateMemberAndRebalance(now, g, m, r, reply)
	case stateStable:
		// The leader rejoining asks for a rebalance (topic metadata
		// changed, say); a follower with unchanged metadata just syncs.
		if g.leader == m.id || !m.matches(r.protocols) {
			s.updateMemberAndRebalance(now, g, m, r, reply)
			return
		}
		reply(g.joinResultFor(m.id, false))
	default:
		reply(joinError(r.memberID, kerr.UnknownMemberID))
	}
}

func (g *group) joinResultFor(id string, withMembers bool) joinResult {
	res := joinResult{memberID: id, generation: g.generation, protocolType: g.protocolType,
		protocolName: g.protocolName, leader: g.leader}
	if withMembers {
		res.members = g.currentMembers()
	}
	return res
}

func (s *state) addMemberAndRebalance(now int64, g *group, id string, r *joinRequest, reply func(joinResult)) {
	m := &member{
		id: id, instanceID: cloneString(r.instanceID), clientID: r.clientID, clientHost: r.clientHost,
		rebalanceTimeout: r.rebalanceTimeout, sessionTimeout: r.sessionTimeout,
		protocolType: r.protocolType, protocols: r.protocols, isNew: true,
	}
	if g.state == statePreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(m, reply)
	m.deadline = now + newMemberJoinTimeout
	s.maybePrepareRebalance(now, g, "new member "+id+" joined"+clientReason(r))
}

func (s *state) updateMemberAndRebalance(now int64, g *group, m *member, r *joinRequest, reply func(joinResult)) {
	g.updateMember(m, r.protocols, r.rebalanceTimeout, r.sessionTimeout, reply)
	s.maybePrepareRebalance(now, g, "member "+m.id+" rejoined"+clientReason(r))
}

// replaceStaticMember gives a static member (KIP-345) that rejoined without
// its member id a new id, fencing the old instance. In a stable group whose
// protocol choice it does not change, it takes over the old assignment
// without a rebalance once the group metadata is stored.
func (s *state) replaceStaticMember(now int64, g *group, oldID, newID string, r *joinRequest, reply func(joinResult)) {
	m := g.members[oldID]
	currentLeader := g.leader
	g.completeJoin(m, joinError(oldID, kerr.FencedInstanceID))
	g.completeSync(m, syncResult{err: kerr.FencedInstanceID})
	g.rename(m, newID)
	oldProtocols, oldRebalance, oldSession := m.protocols, m.rebalanceTimeout, m.sessionTimeout
	g.updateMember(m, r.protocols, r.rebalanceTimeout, r.sessionTimeout, reply)
	m.deadline = now + int64(m.sessionTimeout)
	s.log.Info().Str("group", g.id).Str("instance", *r.instanceID).Str("old_member", oldID).
		Str("member", newID).Str("state", g.state.String()).Msg("static member rejoined")
	switch g.state {
	case stateStable:
		if g.selectProtocol() != g.protocolName {
			s.prepareRebalance(now, g, "static member "+newID+" changed the group's protocol")
			return
		}
		assignment := make(map[string][]byte, len(g.members))
		for id, mm := range g.members {
			assignment[id] = mm.assignment
		}
		s.store(g, assignment, func(now int64, err error) {
			if g.members[newID] != m {
				return // replaced or removed meanwhile; its join was answered then
			}
			if err != nil {
				g.completeJoin(m, joinError("", storeError(err)))
				g.countProtocols(m, -1)
				m.protocols, m.rebalanceTimeout, m.sessionTimeout = oldProtocols, oldRebalance, oldSession
				g.countProtocols(m, 1)
				g.rename(m, oldID)
				return
			}
			res := g.joinResultFor(newID, false)
			res.leader = currentLeader // so the old leader does not think it leads and reassign
			if r.version >= 9 && g.leader == newID {
				// KIP-814: the leader learns the members but must not reassign.
				res.members, res.leader, res.skipAssignment = g.currentMembers(), g.leader, true
			}
			g.completeJoin(m, res)
		})
	case stateCompletingRebalance:
		// The leader may be assigning with the old id; start over.
		s.prepareRebalance(now, g, "static member "+newID+" rejoined during the sync phase")
	}
	// PreparingRebalance: the member waits for the join phase like the others.
}

func (s *state) maybePrepareRebalance(now int64, g *group, reason string) {
	if g.canRebalance() {
		s.prepareRebalance(now, g, reason)
	}
}

// prepareRebalance starts a join phase. An empty group waits
// group.initial.rebalance.delay.ms for more members (extended while they
// keep coming, up to the rebalance timeout); otherwise the phase ends when
// every member has rejoined or the rebalance timeout passes.
func (s *state) prepareRebalance(now int64, g *group, reason string) {
	if g.state == stateCompletingRebalance {
		s.resetAssignments(g, kerr.RebalanceInProgress)
	}
	g.syncDeadline = 0
	clear(g.pendingSync)
	if g.state == stateEmpty {
		g.joinInitial = true
		g.joinDelay = s.cfg.initialDelay
		g.joinRemaining = max(g.rebalanceTimeout()-g.joinDelay, 0)
		g.joinDeadline = now + g.joinDelay
	} else {
		g.joinInitial = false
		g.joinDeadline = now + g.rebalanceTimeout()
	}
	g.transition(statePreparingRebalance, now)
	s.log.Info().Str("group", g.id).Int32("generation", g.generation).Str("reason", reason).Msg("preparing to rebalance")
	s.maybeCompleteJoinPhase(now, g)
}

// maybeCompleteJoinPhase ends the join phase once every member has
// rejoined; the initial rebalance of an empty group always waits its delay.
func (s *state) maybeCompleteJoinPhase(now int64, g *group) {
	if g.state == statePreparingRebalance && g.hasAllMembersJoined() && g.prevState != stateEmpty {
		s.completeJoinPhase(now, g)
	}
}

func (s *state) onJoinTimer(now int64, g *group) {
	g.joinDeadline = 0
	if g.state != statePreparingRebalance {
		return
	}
	if g.joinInitial && g.newMemberAdded && g.joinRemaining != 0 {
		g.newMemberAdded = false
		delay := min(s.cfg.initialDelay, g.joinRemaining)
		g.joinRemaining = max(g.joinRemaining-g.joinDelay, 0)
		g.joinDelay = delay
		g.joinDeadline = now + delay
		return
	}
	s.completeJoinPhase(now, g)
}

// completeJoinPhase drops the dynamic members that did not rejoin, starts
// the next generation and answers every waiting JoinGroup: the leader gets
// the members' metadata to assign from. Everyone then has the rebalance
// timeout to SyncGroup.
func (s *state) completeJoinPhase(now int64, g *group) {
	g.joinDeadline = 0
	for _, id := range append([]string(nil), g.memberOrder...) {
		if m := g.members[id]; m.joinReply == nil && m.instanceID == nil {
			s.log.Info().Str("group", g.id).Str("member", id).Msg("member did not rejoin in time; removing it")
			g.remove(id)
		}
	}
	if g.state == stateDead {
		return
	}
	if !g.electJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined: wait once more
		// while their sessions run out.
		g.joinInitial = false
		g.joinDeadline = now + g.rebalanceTimeout()
		return
	}
	g.generation++
	if len(g.members) > 0 {
		g.protocolName = g.selectProtocol()
		g.transition(stateCompletingRebalance, now)
	} else {
		g.protocolName = ""
		g.transition(stateEmpty, now)
	}
	g.computeSubscribed()
	clear(g.pendingSync)
	g.syncDeadline = 0
	if g.state == stateEmpty {
		s.log.Info().Str("group", g.id).Int32("generation", g.generation).Msg("group is now empty")
		s.store(g, nil, func(_ int64, err error) {
			if err != nil {
				s.log.Warn().Err(err).Str("group", g.id).Msg("storing the empty group failed")
			}
		})
		return
	}
	s.log.Info().Str("group", g.id).Int32("generation", g.generation).Str("protocol", g.protocolName).
		Int("members", len(g.members)).Str("leader", g.leader).Msg("join phase complete")
	for _, id := range g.memberOrder {
		m := g.members[id]
		g.completeJoin(m, g.joinResultFor(id, id == g.leader))
		m.deadline = now + int64(m.sessionTimeout)
		m.isNew = false
		g.pendingSync[id] = true
	}
	g.syncDeadline = now + g.rebalanceTimeout()
}

// electJoinedLeader keeps the leader if it rejoined, or picks a member that
// did. It reports false when nobody rejoined.
func (g *group) electJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if l := g.members[g.leader]; l != nil && l.joinReply != nil {
		return true
	}
	for _, id := range g.memberOrder {
		if g.members[id].joinReply != nil {
			g.leader = id
			return true
		}
	}
	return false
}

func (s *state) onSyncTimeout(now int64, g *group) {
	g.syncDeadline = 0
	if g.state != stateCompletingRebalance && g.state != stateStable {
		return
	}
	for _, id := range append([]string(nil), g.memberOrder...) {
		if g.pendingSync[id] {
			s.log.Info().Str("group", g.id).Str("member", id).Msg("member did not sync in time; removing it")
			g.remove(id)
		}
	}
	clear(g.pendingSync)
	s.maybePrepareRebalance(now, g, "members did not sync in time")
}

func (g *group) removePendingSync(id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 {
		g.syncDeadline = 0
	}
}

// resetAssignments clears every assignment and fails waiting SyncGroups.
func (s *state) resetAssignments(g *group, err *kerr.Error) {
	for _, id := range g.memberOrder {
		m := g.members[id]
		m.assignment = nil
		g.completeSync(m, syncResult{err: err})
	}
}

// setAssignments installs the leader's assignment and answers the waiting
// SyncGroups; their sessions restart now.
func (s *state) setAssignments(now int64, g *group, assignment map[string][]byte) {
	for _, id := range g.memberOrder {
		m := g.members[id]
		m.assignment = assignment[id]
		res := syncResult{protocolType: g.protocolType, protocolName: g.protocolName, assignment: m.assignment}
		if g.completeSync(m, res) {
			m.deadline = now + int64(m.sessionTimeout)
		}
	}
}

// removeMemberAndUpdateGroup removes m and moves the group on: a stable or
// syncing group rebalances; a group in its join phase may now be complete.
func (s *state) removeMemberAndUpdateGroup(now int64, g *group, m *member, reason string) {
	g.remove(m.id)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		s.maybePrepareRebalance(now, g, reason)
	case statePreparingRebalance:
		s.maybeCompleteJoinPhase(now, g)
	}
}

// sync handles a SyncGroup; reply is called once, now or when the leader's
// assignment is stored.
func (s *state) sync(now int64, r *syncRequest, reply func(syncResult)) {
	if r.groupID == "" {
		reply(syncResult{err: kerr.InvalidGroupID})
		return
	}
	g := s.groups[r.groupID]
	if g == nil {
		reply(syncResult{err: kerr.UnknownMemberID})
		return
	}
	defer s.reschedule(g)
	if err := s.validateSync(g, r); err != nil {
		reply(syncResult{err: err})
		return
	}
	m := g.members[r.memberID]
	switch g.state {
	case stateEmpty:
		reply(syncResult{err: kerr.UnknownMemberID})
	case statePreparingRebalance:
		reply(syncResult{err: kerr.RebalanceInProgress})
	case stateCompletingRebalance:
		if m.syncReply != nil {
			g.completeSync(m, syncResult{err: kerr.RebalanceInProgress}) // superseded
		}
		m.syncReply = reply
		g.removePendingSync(m.id)
		if g.leader == m.id {
			s.storeAssignment(g, r.assignments)
		}
	case stateStable:
		g.removePendingSync(m.id)
		reply(syncResult{protocolType: g.protocolType, protocolName: g.protocolName, assignment: m.assignment})
		m.deadline = now + int64(m.sessionTimeout)
	}
}

func (s *state) validateSync(g *group, r *syncRequest) *kerr.Error {
	switch {
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable
	case g.validateMember(r.memberID, r.instanceID) != nil:
		return g.validateMember(r.memberID, r.instanceID)
	case r.generation != g.generation:
		return kerr.IllegalGeneration
	case r.protocolType != nil && *r.protocolType != g.protocolType,
		r.protocolName != nil && *r.protocolName != g.protocolName:
		return kerr.InconsistentGroupProtocol
	}
	return nil
}

// storeAssignment persists the leader's assignment (members it left out get
// an empty one) and, once stored, makes the group stable and answers every
// SyncGroup — unless the group moved on meanwhile.
func (s *state) storeAssignment(g *group, assignments map[string][]byte) {
	assignment := make(map[string][]byte, len(g.members))
	for id := range g.members {
		assignment[id] = assignments[id]
		if assignment[id] == nil {
			assignment[id] = []byte{}
		}
	}
	gen := g.generation
	s.store(g, assignment, func(now int64, err error) {
		if g.state != stateCompletingRebalance || g.generation != gen || s.groups[g.id] != g {
			return
		}
		if err != nil {
			s.log.Warn().Err(err).Str("group", g.id).Int32("generation", gen).Msg("storing the assignment failed")
			s.resetAssignments(g, storeError(err))
			s.maybePrepareRebalance(now, g, "storing the assignment failed")
			return
		}
		s.setAssignments(now, g, assignment)
		g.transition(stateStable, now)
		s.log.Info().Str("group", g.id).Int32("generation", gen).Msg("group is stable")
	})
}

// heartbeat handles a Heartbeat: it keeps the member's session alive and
// tells it whether a rebalance is in progress.
func (s *state) heartbeat(now int64, groupID, memberID string, instanceID *string, generation int32) *kerr.Error {
	if groupID == "" {
		return kerr.InvalidGroupID
	}
	g := s.groups[groupID]
	if g == nil {
		return kerr.UnknownMemberID
	}
	defer s.reschedule(g)
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable
	}
	if err := g.validateMember(memberID, instanceID); err != nil {
		return err
	}
	if generation != g.generation {
		return kerr.IllegalGeneration
	}
	m := g.members[memberID]
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID
	case statePreparingRebalance:
		m.deadline = now + int64(m.sessionTimeout)
		return kerr.RebalanceInProgress
	}
	m.deadline = now + int64(m.sessionTimeout)
	return nil
}

type leaveMember struct {
	memberID   string
	instanceID *string
	reason     string
}

// leave handles a LeaveGroup: a member by id, a static member by instance
// id alone (an admin removing it), or a pending member. It returns the
// group-level error and one error per member.
func (s *state) leave(now int64, groupID string, members []leaveMember) (*kerr.Error, []*kerr.Error) {
	if groupID == "" {
		return kerr.InvalidGroupID, nil
	}
	errs := make([]*kerr.Error, len(members))
	g := s.groups[groupID]
	if g == nil {
		for i := range errs {
			errs[i] = kerr.UnknownMemberID
		}
		return nil, errs
	}
	defer s.reschedule(g)
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable, nil
	}
	for i, lm := range members {
		errs[i] = s.leaveOne(now, g, lm)
	}
	return nil, errs
}

func (s *state) leaveOne(now int64, g *group, lm leaveMember) *kerr.Error {
	if lm.memberID == "" {
		if lm.instanceID == nil || g.static[*lm.instanceID] == "" {
			return kerr.UnknownMemberID
		}
		id := g.static[*lm.instanceID]
		s.log.Info().Str("group", g.id).Str("member", id).Str("instance", *lm.instanceID).Msg("static member removed")
		s.removeMemberAndUpdateGroup(now, g, g.members[id], "static member "+id+" removed")
		return nil
	}
	if _, ok := g.pending[lm.memberID]; ok {
		delete(g.pending, lm.memberID)
		s.maybeCompleteJoinPhase(now, g)
		return nil
	}
	if err := g.validateMember(lm.memberID, lm.instanceID); err != nil {
		return err
	}
	s.log.Info().Str("group", g.id).Str("member", lm.memberID).Str("reason", lm.reason).Msg("member left the group")
	s.removeMemberAndUpdateGroup(now, g, g.members[lm.memberID], "member "+lm.memberID+" left")
	return nil
}

// clientReason is the JoinGroup reason (v8+, KIP-800) for the log.
func clientReason(r *joinRequest) string {
	if r.reason == "" {
		return ""
	}
	return "; client reason: " + r.reason
}

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}
