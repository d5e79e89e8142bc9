package group

// Committed offsets and the group administration requests: OffsetCommit,
// OffsetFetch, OffsetDelete, DeleteGroups, DescribeGroups, ListGroups, and
// the expiry of old offsets (offsets.retention.minutes). Runs on the shard's
// owner goroutine like classic.go.

import (
	"cmp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

type commitPart struct {
	tp          topicPartition
	offset      int64
	leaderEpoch int32
	metadata    *string
	err         *kerr.Error // set by the caller for partitions it refused
}

type commitRequest struct {
	version           int16
	groupID, memberID string
	instanceID        *string
	generation        int32
	retentionMs       int64 // OffsetCommit v2-v4; -1 for the broker's retention
	parts             []commitPart
}

// commit handles an OffsetCommit. The offsets are written to the log and
// become visible (and the commit is answered) only once the write is
// acknowledged. reply gets one error per part.
func (s *state) commit(now int64, r *commitRequest, reply func([]*kerr.Error)) {
	errs := make([]*kerr.Error, len(r.parts))
	for i, p := range r.parts {
		errs[i] = p.err
	}
	failAll := func(err *kerr.Error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		reply(errs)
	}
	if r.groupID == "" {
		failAll(kerr.InvalidGroupID)
		return
	}
	g := s.groups[r.groupID]
	if g == nil {
		switch {
		case r.generation < 0:
			// A consumer without group management (or an admin tool)
			// stores offsets in a group of its own, created now.
			g = newGroup(r.groupID, now)
			s.groups[r.groupID] = g
		case r.version >= 9:
			failAll(kerr.GroupIDNotFound)
			return
		default:
			failAll(kerr.IllegalGeneration)
			return
		}
	}
	defer s.reschedule(g)
	if err := s.validateCommit(now, g, r); err != nil {
		failAll(err)
		return
	}
	type entry struct {
		i  int
		tp topicPartition
		o  offsetEntry
	}
	var entries []entry
	var recs []record
	for i, p := range r.parts {
		if errs[i] != nil {
			continue
		}
		if p.metadata != nil && len(*p.metadata) > s.cfg.metadataMax {
			errs[i] = kerr.OffsetMetadataTooLarge
			continue
		}
		o := offsetEntry{offset: p.offset, leaderEpoch: p.leaderEpoch, commitTimestamp: now, expireTimestamp: -1}
		if p.metadata != nil {
			o.metadata = *p.metadata
		}
		if r.retentionMs >= 0 {
			o.expireTimestamp = now + r.retentionMs
		}
		entries = append(entries, entry{i, p.tp, o})
		recs = append(recs, offsetRecord(g.id, p.tp, o))
	}
	if len(recs) == 0 {
		reply(errs)
		return
	}
	for _, e := range entries {
		g.pendingCommits[e.tp]++
	}
	s.writes = append(s.writes, write{g: g, records: recs, done: func(_ int64, err error) {
		for _, e := range entries {
			if g.pendingCommits[e.tp]--; g.pendingCommits[e.tp] <= 0 {
				delete(g.pendingCommits, e.tp)
			}
			if err != nil {
				errs[e.i] = commitError(err)
			} else {
				g.offsets[e.tp] = e.o
			}
		}
		reply(errs)
	}})
}

// validateCommit checks the committer against the group: members commit
// with their generation; anyone may commit with generation -1 to an empty
// group.
func (s *state) validateCommit(now int64, g *group, r *commitRequest) *kerr.Error {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable
	}
	if g.cg != nil {
		return s.validateConsumerCommit(g, r)
	}
	if r.generation < 0 && g.state == stateEmpty {
		return nil
	}
	if r.generation >= 0 || r.memberID != "" || r.instanceID != nil {
		if err := g.validateMember(r.memberID, r.instanceID); err != nil {
			return err
		}
		if r.generation != g.generation {
			return kerr.IllegalGeneration
		}
	} else if g.state != stateEmpty {
		return kerr.UnknownMemberID
	}
	if g.state == stateCompletingRebalance {
		// The member has its new generation but not its assignment yet.
		return kerr.RebalanceInProgress
	}
	if m := g.members[r.memberID]; m != nil {
		m.deadline = now + int64(m.sessionTimeout) // a commit is as good as a heartbeat
	}
	return nil
}

type fetchTopic struct {
	topic      string
	partitions []int32
}

type fetchedPartition struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    string
}

type fetchedTopic struct {
	topic      string
	partitions []fetchedPartition
}

// fetchOffsets answers an OffsetFetch for one group: the named partitions
// (-1 where nothing is committed), or every committed offset when topics is
// nil. Offsets being written are not returned until they are committed. A
// member of a consumer group (OffsetFetch v9) must name its current member
// epoch.
func (s *state) fetchOffsets(groupID string, memberID *string, memberEpoch int32, topics []fetchTopic) (*kerr.Error, []fetchedTopic) {
	if groupID == "" {
		return kerr.InvalidGroupID, nil
	}
	g := s.groups[groupID]
	if g != nil && g.state == stateDead {
		g = nil
	}
	if err := validateConsumerFetch(g, memberID, memberEpoch); err != nil {
		return err, nil
	}
	lookup := func(tp topicPartition) fetchedPartition {
		if g != nil {
			if o, ok := g.offsets[tp]; ok {
				return fetchedPartition{tp.partition, o.offset, o.leaderEpoch, o.metadata}
			}
		}
		return fetchedPartition{tp.partition, -1, -1, ""}
	}
	var out []fetchedTopic
	if topics == nil {
		if g == nil {
			return nil, nil
		}
		for _, tp := range sortedPartitions(g.offsets) {
			if n := len(out); n == 0 || out[n-1].topic != tp.topic {
				out = append(out, fetchedTopic{topic: tp.topic})
			}
			out[len(out)-1].partitions = append(out[len(out)-1].partitions, lookup(tp))
		}
		return nil, out
	}
	for _, t := range topics {
		ft := fetchedTopic{topic: t.topic}
		for _, p := range t.partitions {
			ft.partitions = append(ft.partitions, lookup(topicPartition{t.topic, p}))
		}
		out = append(out, ft)
	}
	return nil, out
}

func sortedPartitions[V any](m map[topicPartition]V) []topicPartition {
	tps := make([]topicPartition, 0, len(m))
	for tp := range m {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b topicPartition) int {
		return cmp.Or(strings.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	return tps
}

// deleteOffsets handles an OffsetDelete: an empty group's offsets go; a
// consumer group keeps those of topics it still subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC); another non-empty group refuses
// (NON_EMPTY_GROUP). reply gets the group error and one error per part.
func (s *state) deleteOffsets(now int64, groupID string, parts []commitPart, reply func(*kerr.Error, []*kerr.Error)) {
	g := s.groups[groupID]
	switch {
	case groupID == "":
		reply(kerr.InvalidGroupID, nil)
		return
	case g == nil || g.state == stateDead:
		reply(kerr.GroupIDNotFound, nil)
		return
	case g.state != stateEmpty && g.protocolType != consumerProtocolType:
		reply(kerr.NonEmptyGroup, nil)
		return
	}
	errs := make([]*kerr.Error, len(parts))
	var tps []topicPartition
	var recs []record
	for i, p := range parts {
		errs[i] = p.err
		if errs[i] != nil {
			continue
		}
		if g.state != stateEmpty && g.isSubscribedTo(p.tp.topic) {
			errs[i] = kerr.GroupSubscribedToTopic
			continue
		}
		_, committed := g.offsets[p.tp]
		if (committed || g.pendingCommits[p.tp] > 0) && !slices.Contains(tps, p.tp) {
			tps = append(tps, p.tp)
			recs = append(recs, offsetTombstone(g.id, p.tp))
		}
	}
	if len(recs) == 0 {
		reply(nil, errs)
		return
	}
	s.writes = append(s.writes, write{g: g, records: recs, done: func(_ int64, err error) {
		if err != nil {
			reply(storeError(err), nil)
			return
		}
		for _, tp := range tps {
			delete(g.offsets, tp)
		}
		reply(nil, errs)
	}})
}

// deleteGroup handles one group of a DeleteGroups: only an empty group
// goes, with its offsets. It is Dead (refusing joins and commits) while the
// tombstones are written, and gone once they are committed.
func (s *state) deleteGroup(now int64, groupID string, reply func(*kerr.Error)) {
	g := s.groups[groupID]
	switch {
	case g == nil || g.state == stateDead:
		reply(kerr.GroupIDNotFound)
		return
	case g.state != stateEmpty:
		reply(kerr.NonEmptyGroup)
		return
	}
	var recs []record
	for _, tp := range sortedPartitions(g.offsets) {
		recs = append(recs, offsetTombstone(g.id, tp))
	}
	for _, tp := range sortedPartitions(g.pendingCommits) {
		if _, ok := g.offsets[tp]; !ok {
			recs = append(recs, offsetTombstone(g.id, tp))
		}
	}
	recs = append(recs, g.metadataTombstones()...)
	g.transition(stateDead, now)
	s.writes = append(s.writes, write{g: g, records: recs, done: func(now int64, err error) {
		if err != nil {
			if g.state == stateDead {
				g.transition(stateEmpty, now)
			}
			reply(storeError(err))
			return
		}
		if s.groups[g.id] == g {
			delete(s.groups, g.id)
		}
		s.log.Info().Str("group", g.id).Msg("group deleted")
		reply(nil)
	}})
}

// expireOffsets removes offsets past retention (KIP-211): all of an empty
// group's once it has been empty for the retention period, a stable
// consumer group's for topics it no longer subscribes to, a standalone
// consumer's per commit, and any commit past its own expire timestamp
// (OffsetCommit v2-v4). An empty group left without offsets is deleted.
func (s *state) expireOffsets(now int64) {
	for _, g := range s.groups {
		if g.state == stateDead {
			continue
		}
		expired := g.expiredOffsets(now, s.cfg.retention)
		dead := g.state == stateEmpty && len(g.pending) == 0 && len(g.pendingCommits) == 0 &&
			len(expired) == len(g.offsets)
		if len(expired) == 0 && !dead {
			continue
		}
		var recs []record
		for _, tp := range sortedPartitions(expired) {
			recs = append(recs, offsetTombstone(g.id, tp))
		}
		if dead {
			recs = append(recs, g.metadataTombstones()...)
			g.transition(stateDead, now)
		}
		s.log.Info().Str("group", g.id).Int("offsets", len(expired)).Bool("group_removed", dead).Msg("expiring offsets")
		s.writes = append(s.writes, write{g: g, records: recs, done: func(now int64, err error) {
			if err != nil {
				if dead && g.state == stateDead {
					g.transition(stateEmpty, now)
				}
				return
			}
			for tp, o := range expired {
				if g.offsets[tp] == o { // not overwritten by a later commit
					delete(g.offsets, tp)
				}
			}
			if dead && s.groups[g.id] == g {
				delete(s.groups, g.id)
			}
		}})
	}
}

func (g *group) expiredOffsets(now, retention int64) map[topicPartition]offsetEntry {
	var base func(offsetEntry) int64
	skipSubscribed := false
	switch {
	case g.protocolType != "" && g.state == stateEmpty:
		base = func(o offsetEntry) int64 {
			if g.stateTimestamp >= 0 {
				return g.stateTimestamp
			}
			return o.commitTimestamp
		}
	case g.protocolType == consumerProtocolType && g.subscribedKnown && g.state == stateStable:
		base, skipSubscribed = func(o offsetEntry) int64 { return o.commitTimestamp }, true
	case g.protocolType == "":
		base = func(o offsetEntry) int64 { return o.commitTimestamp }
	default:
		return nil
	}
	out := map[topicPartition]offsetEntry{}
	for tp, o := range g.offsets {
		if g.pendingCommits[tp] > 0 || (skipSubscribed && g.subscribed[tp.topic]) {
			continue
		}
		if (o.expireTimestamp >= 0 && now >= o.expireTimestamp) || (o.expireTimestamp < 0 && now-base(o) >= retention) {
			out[tp] = o
		}
	}
	return out
}

type describedMember struct {
	id, clientID, clientHost string
	instanceID               *string
	metadata, assignment     []byte
}

type describedGroup struct {
	found                         bool
	state, protocolType, protocol string
	members                       []describedMember
}

// describe answers DescribeGroups for one group. Only a stable group shows
// its protocol and the members' metadata and assignments. A consumer group
// (KIP-848) is shown too, as Kafka's consumers would see it: protocol type
// "consumer", its assignor as protocol, each member's subscription and
// assignment in the consumer protocol's encoding.
func (s *state) describe(groupID string, topics Topics) describedGroup {
	g := s.groups[groupID]
	if g == nil || g.state == stateDead {
		return describedGroup{state: stateDead.String()}
	}
	if g.cg != nil {
		return describeConsumerGroup(g, topics)
	}
	d := describedGroup{found: true, state: g.state.String(), protocolType: g.protocolType}
	stable := g.state == stateStable
	if stable {
		d.protocol = g.protocolName
	}
	for _, id := range g.memberOrder {
		m := g.members[id]
		dm := describedMember{id: id, clientID: m.clientID, clientHost: m.clientHost, instanceID: m.instanceID,
			metadata: []byte{}, assignment: []byte{}}
		if stable {
			dm.metadata, dm.assignment = m.metadataFor(g.protocolName), m.assignment
		}
		d.members = append(d.members, dm)
	}
	return d
}

type listedGroup struct {
	id, protocolType, state, kind string
}

// list answers ListGroups for this partition's groups, keeping those whose
// state is in states and whose type ("classic" or "consumer") is in types
// (all when empty).
func (s *state) list(states, types []string) []listedGroup {
	var out []listedGroup
	for _, g := range s.groups {
		if g.state == stateDead {
			continue
		}
		lg := listedGroup{id: g.id, protocolType: g.protocolType, state: g.state.String(), kind: "classic"}
		if g.cg != nil {
			lg.state, lg.kind = g.cg.stateName(), "consumer"
		}
		if len(states) > 0 && !slices.ContainsFunc(states, func(st string) bool { return strings.EqualFold(st, lg.state) }) {
			continue
		}
		if len(types) > 0 && !slices.ContainsFunc(types, func(t string) bool { return strings.EqualFold(t, lg.kind) }) {
			continue
		}
		out = append(out, lg)
	}
	slices.SortFunc(out, func(a, b listedGroup) int { return strings.Compare(a.id, b.id) })
	return out
}
