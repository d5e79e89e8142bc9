package group

// Consumer group (KIP-848) assignment and reconciliation: subscriptions
// resolved against the metadata image, the target assignment the assignor
// computes when the group epoch moves, and each member's step toward it
// (Kafka's CurrentAssignmentBuilder). Runs on the shard's owner goroutine.

import (
	"regexp"
	"slices"
)

type topicMeta struct {
	id         topicID
	partitions int32
}

// subscriptions are the group's subscriptions resolved against the image.
type subscriptions struct {
	topics  map[string]topicMeta        // every subscribed topic that exists
	members map[string]map[topicID]bool // member -> subscribed topic ids
	hash    uint64
}

// resolveSubscriptions resolves every member's topic names and regex
// against topics, records the topic names (for describing) and the union
// of subscribed names (for offset expiry and OffsetDelete), and hashes the
// subscribed topics' metadata: a change bumps the group epoch.
func (s *state) resolveSubscriptions(g *group, topics Topics) subscriptions {
	cg := g.cg
	subs := subscriptions{topics: map[string]topicMeta{}, members: map[string]map[topicID]bool{}}
	var all []string
	add := func(m *consumerMember, name string) {
		id, n, ok := topics.Topic(name)
		if !ok {
			return
		}
		subs.topics[name] = topicMeta{id, n}
		subs.members[m.id][id] = true
		cg.names[id] = name
	}
	g.subscribed, g.subscribedKnown = map[string]bool{}, true
	for _, m := range cg.members {
		subs.members[m.id] = map[topicID]bool{}
		for _, name := range m.subscribedNames {
			g.subscribed[name] = true
			add(m, name)
		}
		if m.subscribedRegex == nil {
			continue
		}
		re := cg.compiled(*m.subscribedRegex)
		if re == nil {
			continue
		}
		if all == nil {
			all = topics.Names()
		}
		for _, name := range all {
			if name != OffsetsTopic && re.MatchString(name) {
				g.subscribed[name] = true
				add(m, name)
			}
		}
	}
	subs.hash = hashTopics(subs.topics)
	return subs
}

func (cg *consumerGroup) compiled(expr string) *regexp.Regexp {
	if re, ok := cg.regex[expr]; ok {
		return re
	}
	re, err := compileSubscription(expr)
	if err != nil {
		re = nil
	}
	if len(cg.regex) >= maxCachedRegexes {
		clear(cg.regex) // members keep changing expressions: start over
	}
	cg.regex[expr] = re
	return re
}

// hashTopics is FNV-1a 64 over the sorted topics' names, ids and
// partition counts; 0 is kept for "no topics".
func hashTopics(topics map[string]topicMeta) uint64 {
	if len(topics) == 0 {
		return 0
	}
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	slices.Sort(names)
	h := uint64(14695981039346656037)
	mix := func(b []byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= 1099511628211
		}
	}
	for _, n := range names {
		t := topics[n]
		mix([]byte(n))
		mix(t.id[:])
		mix([]byte{byte(t.partitions >> 24), byte(t.partitions >> 16), byte(t.partitions >> 8), byte(t.partitions), 0})
	}
	if h == 0 {
		h = 1
	}
	return h
}

// computeTarget runs the group's assignor and makes its result the target
// assignment at the group epoch.
func (s *state) computeTarget(g *group, subs subscriptions, b *cgBatch) {
	cg := g.cg
	in := assignInput{topics: map[topicID]int32{}}
	for _, t := range subs.topics {
		in.topics[t.id] = t.partitions
	}
	ids := make([]string, 0, len(cg.members))
	for id := range cg.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		am := assignMember{id: id, prev: cg.target[id]}
		for t := range subs.members[id] {
			am.topics = append(am.topics, t)
		}
		slices.SortFunc(am.topics, func(x, y topicID) int { return slices.Compare(x[:], y[:]) })
		in.members = append(in.members, am)
	}
	name := cg.assignor()
	var out map[string]assignment
	if name == assignorRange {
		out = assignRange(in)
	} else {
		out = assignUniform(in)
	}
	for _, id := range ids {
		if !out[id].equal(cg.target[id]) || cg.target[id] == nil {
			b.recs = append(b.recs, cgTargetMemberRecord(g.id, id, out[id]))
		}
	}
	cg.target, cg.targetEpoch = out, cg.epoch
	b.recs = append(b.recs, cgTargetMetadataRecord(g.id, cg.targetEpoch))
	s.log.Info().Str("group", g.id).Int32("epoch", cg.targetEpoch).Str("assignor", name).Int("members", len(ids)).
		Msg("computed the target assignment")
}

// reconcile moves m toward the target assignment, as Kafka's
// CurrentAssignmentBuilder does, and reports whether its current
// assignment record changed. owned is what the member reported (nil: not
// reported, so nothing is known to be revoked).
func (s *state) reconcile(now int64, g *group, m *consumerMember, owned []ownedTopic) bool {
	cg := g.cg
	before := *m
	switch m.state {
	case memberStable:
		if m.epoch == cg.targetEpoch {
			return false
		}
	case memberUnrevokedPartitions:
		if ownsAny(owned, m.pendingRevocation) {
			return false
		}
	}
	cg.release(m)
	s.nextAssignment(cg, m)
	cg.claim(m)
	switch {
	case m.state == memberUnrevokedPartitions && (before.state != memberUnrevokedPartitions || before.epoch != m.epoch):
		timeout := int64(m.rebalanceTimeout)
		if timeout <= 0 {
			timeout = s.cfg.cgSession
		}
		m.revokeDeadline = now + timeout
	case m.state != memberUnrevokedPartitions:
		m.revokeDeadline = 0
	}
	changed := m.epoch != before.epoch || m.state != before.state || !m.assigned.equal(before.assigned) ||
		!m.pendingRevocation.equal(before.pendingRevocation)
	if changed && m.epoch != before.epoch {
		m.previousEpoch = before.epoch
	}
	return changed
}

func ownsAny(owned []ownedTopic, a assignment) bool {
	if owned == nil {
		return len(a) > 0
	}
	for _, t := range owned {
		for _, p := range t.partitions {
			if a.has(t.id, p) {
				return true
			}
		}
	}
	return false
}

// nextAssignment is computeNextAssignment: keep what is still targeted,
// ask to revoke the rest (staying at the current epoch until done), and
// otherwise move to the target epoch, adding the targeted partitions no
// one else owns; those still owned by others wait (UNRELEASED).
func (s *state) nextAssignment(cg *consumerGroup, m *consumerMember) {
	target := cg.target[m.id]
	kept, revoke, add := assignment{}, assignment{}, assignment{}
	unreleased := false
	ids := map[topicID]bool{}
	for id := range target {
		ids[id] = true
	}
	for id := range m.assigned {
		ids[id] = true
	}
	for id := range ids {
		for _, p := range m.assigned[id] {
			if target.has(id, p) {
				kept[id] = append(kept[id], p)
			} else {
				revoke[id] = append(revoke[id], p)
			}
		}
		for _, p := range target[id] {
			if m.assigned.has(id, p) {
				continue
			}
			if _, taken := cg.ownerOf(id, p); taken {
				unreleased = true
				continue
			}
			add[id] = append(add[id], p)
		}
	}
	switch {
	case len(revoke) > 0:
		m.state, m.assigned, m.pendingRevocation = memberUnrevokedPartitions, kept, revoke
	default:
		for id, ps := range add {
			kept[id] = normalize(append(kept[id], ps...))
		}
		m.state = memberStable
		if unreleased {
			m.state = memberUnreleasedPartitions
		}
		m.epoch, m.assigned, m.pendingRevocation = cg.targetEpoch, kept, assignment{}
	}
}
