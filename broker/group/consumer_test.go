package group

// The KIP-848 consumer group protocol, driven by hand through the decision
// core: heartbeats, ticks and write acknowledgements are events the test
// feeds.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
)

const (
	testCGHeartbeat = 100
	testCGSession   = 1000
)

// fakeTopics is a metadata image: topic name -> partition count; a topic's
// id is its name's bytes.
type fakeTopics map[string]int32

func tid(name string) topicID {
	var id topicID
	copy(id[:], name)
	return id
}

func (ft fakeTopics) Topic(name string) (topicID, int32, bool) {
	n, ok := ft[name]
	return tid(name), n, ok
}

func (ft fakeTopics) TopicByID(id topicID) (string, int32, bool) {
	for name, n := range ft {
		if tid(name) == id {
			return name, n, true
		}
	}
	return "", 0, false
}

func (ft fakeTopics) Names() []string {
	var out []string
	for name := range ft {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func owned(a assignment) []ownedTopic {
	out := []ownedTopic{}
	for _, id := range a.topicIDs() {
		out = append(out, ownedTopic{id: id, partitions: slices.Clone(a[id])})
	}
	return out
}

// cgh sends a heartbeat, acknowledges every write and returns the answer.
func (f *fixture) cgh(r cghRequest) cghResult {
	f.t.Helper()
	if r.version == 0 {
		r.version = 1
	}
	var got *cghResult
	f.s.consumerHeartbeat(f.now, &r, func(res cghResult) { got = &res })
	f.ack()
	if got == nil {
		f.t.Fatalf("heartbeat of %s not answered", r.memberID)
	}
	return *got
}

func cgJoin(group, member string, topics Topics, names ...string) cghRequest {
	return cghRequest{groupID: group, memberID: member, memberEpoch: 0, rebalanceTimeout: 5000,
		subscribedNames: names, owned: []ownedTopic{}, topics: topics}
}

func cgBeat(group, member string, epoch int32, own assignment, topics Topics) cghRequest {
	r := cghRequest{groupID: group, memberID: member, memberEpoch: epoch, rebalanceTimeout: -1, topics: topics}
	if own != nil {
		r.owned = owned(own)
	}
	return r
}

// client is what a member holds: its epoch and the partitions it owns,
// updated from answers as a real client does.
type client struct {
	id    string
	epoch int32
	owns  assignment
}

func (c *client) apply(t *testing.T, res cghResult) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("%s: heartbeat answered %v: %s", c.id, res.err, res.msg)
	}
	c.epoch = res.epoch
	if res.assignment != nil {
		c.owns = res.assignment.clone()
	}
}

func noDoubleOwners(t *testing.T, clients ...*client) {
	t.Helper()
	seen := map[string]string{}
	for _, c := range clients {
		for id, ps := range c.owns {
			for _, p := range ps {
				k := fmt.Sprintf("%x/%d", id[:2], p)
				if other, dup := seen[k]; dup {
					t.Fatalf("partition %s owned by %s and %s at once", k, other, c.id)
				}
				seen[k] = c.id
			}
		}
	}
}

// KIP-848 reconciliation: when a second member joins, the first is asked
// to revoke half of its partitions and keeps its epoch until it has; the
// newcomer is at the new epoch but is given those partitions only after
// the first member's heartbeat shows them revoked. No partition is ever
// owned by two members.
func TestConsumerGroupAssignsOnlyRevokedPartitions(t *testing.T) {
	f := newFixture(t)
	topics := fakeTopics{"t": 4}
	a, b := &client{id: "A"}, &client{id: "B"}
	a.apply(t, f.cgh(cgJoin("g", "A", topics, "t")))
	if a.epoch != 1 || a.owns.size() != 4 {
		t.Fatalf("first member: epoch %d owns %v", a.epoch, a.owns)
	}
	b.apply(t, f.cgh(cgJoin("g", "B", topics, "t")))
	noDoubleOwners(t, a, b)
	if b.epoch != 2 || b.owns.size() != 0 {
		t.Fatalf("newcomer: epoch %d owns %v, want epoch 2 and nothing yet", b.epoch, b.owns)
	}
	if st := f.s.groups["g"].cg.members["B"].state; st != memberUnreleasedPartitions {
		t.Fatalf("newcomer state %d, want UNRELEASED_PARTITIONS", st)
	}
	res := f.cgh(cgBeat("g", "A", a.epoch, a.owns, topics))
	a.apply(t, res)
	if a.epoch != 1 || a.owns.size() != 2 {
		t.Fatalf("first member asked to revoke: epoch %d owns %v, want epoch 1 and 2 partitions", a.epoch, a.owns)
	}
	// Until A reports the revocation, B gets nothing.
	b.apply(t, f.cgh(cgBeat("g", "B", b.epoch, b.owns, topics)))
	noDoubleOwners(t, a, b)
	if b.owns.size() != 0 {
		t.Fatalf("B was given %v before A revoked", b.owns)
	}
	a.apply(t, f.cgh(cgBeat("g", "A", a.epoch, a.owns, topics)))
	if a.epoch != 2 {
		t.Fatalf("A after revoking: epoch %d, want 2", a.epoch)
	}
	b.apply(t, f.cgh(cgBeat("g", "B", b.epoch, b.owns, topics)))
	noDoubleOwners(t, a, b)
	if b.owns.size() != 2 || f.s.groups["g"].cg.stateName() != "Stable" {
		t.Fatalf("B owns %v, group %s; want 2 partitions, Stable", b.owns, f.s.groups["g"].cg.stateName())
	}
}

// A member that stops heartbeating is removed after
// group.consumer.session.timeout.ms and the survivor takes everything; a
// member leaving (epoch -1) frees its partitions at once.
func TestConsumerGroupSessionTimeoutAndLeave(t *testing.T) {
	f := newFixture(t)
	topics := fakeTopics{"t": 4}
	a, b, c := stableTrio(t, f, topics)
	for range 12 { // only A heartbeats
		f.advance(testCGHeartbeat)
		a.apply(t, f.cgh(cgBeat("g", "A", a.epoch, a.owns, topics)))
	}
	if f.s.groups["g"].cg.members["B"] != nil || f.s.groups["g"].cg.members["C"] != nil {
		t.Fatal("silent members were not removed after the session timeout")
	}
	if a.owns.size() != 4 {
		t.Fatalf("survivor owns %v, want all 4 partitions", a.owns)
	}
	_, _ = b, c

	d := &client{id: "D"}
	d.apply(t, f.cgh(cgJoin("g", "D", topics, "t")))
	a.apply(t, f.cgh(cgBeat("g", "A", a.epoch, a.owns, topics)))
	a.apply(t, f.cgh(cgBeat("g", "A", a.epoch, a.owns, topics)))
	d.apply(t, f.cgh(cgBeat("g", "D", d.epoch, d.owns, topics)))
	if d.owns.size() != 2 {
		t.Fatalf("D owns %v", d.owns)
	}
	if res := f.cgh(cgBeat("g", "D", epochLeave, nil, topics)); res.err != nil || res.epoch != epochLeave {
		t.Fatalf("leave: %+v", res)
	}
	a.apply(t, f.cgh(cgBeat("g", "A", a.epoch, a.owns, topics)))
	if a.owns.size() != 4 {
		t.Fatalf("after D left A owns %v, want all 4 at once", a.owns)
	}
}

func stableTrio(t *testing.T, f *fixture, topics Topics) (*client, *client, *client) {
	t.Helper()
	cs := []*client{{id: "A"}, {id: "B"}, {id: "C"}}
	for _, c := range cs {
		c.apply(t, f.cgh(cgJoin("g", c.id, topics, "t")))
	}
	for range 4 {
		for _, c := range cs {
			c.apply(t, f.cgh(cgBeat("g", c.id, c.epoch, c.owns, topics)))
			noDoubleOwners(t, cs...)
		}
	}
	if st := f.s.groups["g"].cg.stateName(); st != "Stable" {
		t.Fatalf("group %s after the members converged", st)
	}
	return cs[0], cs[1], cs[2]
}

// Fencing (KIP-848 "Fencing"): unknown members, epochs ahead of or behind
// the coordinator's, static instance ids in use, and what each is
// answered; the previous epoch with a subset of the assignment is accepted
// (the answer bumping the epoch was lost).
func TestConsumerGroupFencing(t *testing.T) {
	f := newFixture(t)
	topics := fakeTopics{"t": 2}
	a := &client{id: "A"}
	a.apply(t, f.cgh(cgJoin("g", "A", topics, "t")))
	cases := []struct {
		name string
		r    cghRequest
		want *kerr.Error
	}{
		{"unknown member", cgBeat("g", "X", 1, assignment{}, topics), kerr.UnknownMemberID},
		{"unknown group", cgBeat("nope", "A", 1, assignment{}, topics), kerr.UnknownMemberID},
		{"epoch ahead", cgBeat("g", "A", 5, a.owns, topics), kerr.FencedMemberEpoch},
		{"join without an owned list", cgBeat("g", "A", 0, nil, topics), kerr.InvalidRequest},
		{"empty member id", cgBeat("g", "", 1, nil, topics), kerr.InvalidRequest},
		{"bad regex", func() cghRequest { r := cgJoin("g", "R", topics); re := "("; r.subscribedRegex = &re; return r }(), kerr.InvalidRegularExpression},
		{"unknown assignor", func() cghRequest { r := cgJoin("g", "R", topics, "t"); x := "sticky"; r.serverAssignor = &x; return r }(), kerr.UnsupportedAssignor},
		{"join owning partitions", cghRequest{groupID: "g", memberID: "R", rebalanceTimeout: 1, subscribedNames: []string{"t"}, owned: owned(a.owns), topics: topics}, kerr.InvalidRequest},
	}
	for _, tc := range cases {
		if res := f.cgh(tc.r); res.err != tc.want {
			t.Errorf("%s: answered %v (%s), want %v", tc.name, res.err, res.msg, tc.want)
		}
	}
	// B joins: A moves to epoch 2 with one partition; a retry at epoch 1
	// owning only that partition is accepted.
	b := &client{id: "B"}
	b.apply(t, f.cgh(cgJoin("g", "B", topics, "t")))
	a.apply(t, f.cgh(cgBeat("g", "A", a.epoch, a.owns, topics)))
	a.apply(t, f.cgh(cgBeat("g", "A", a.epoch, a.owns, topics)))
	if a.epoch != 2 {
		t.Fatalf("A at epoch %d", a.epoch)
	}
	if res := f.cgh(cgBeat("g", "A", 1, a.owns, topics)); res.err != nil {
		t.Fatalf("previous epoch with a subset: %v", res.err)
	}
	if res := f.cgh(cgBeat("g", "A", 1, assignment{tid("t"): {0, 1}}, topics)); res.err != kerr.FencedMemberEpoch {
		t.Fatalf("previous epoch owning more than assigned: %v", res.err)
	}
	// Epoch 0 from a known member is a rejoin: it gets its assignment again.
	if res := f.cgh(cgJoin("g", "A", topics, "t")); res.err != nil || res.epoch != 2 || res.assignment.size() != 1 {
		t.Fatalf("rejoin: %+v", res)
	}
}

// Static membership (KIP-848 with KIP-345): a static member leaving with
// epoch -2 keeps its partitions; another member with its instance id is
// refused (UNRELEASED_INSTANCE_ID) while it is in the group, and once it
// left for now, takes its place, epoch and partitions without a new group
// epoch.
func TestConsumerGroupStaticMemberReplaced(t *testing.T) {
	f := newFixture(t)
	topics := fakeTopics{"t": 2}
	inst := "i1"
	join := func(member string) cghRequest {
		r := cgJoin("g", member, topics, "t")
		r.instanceID = &inst
		return r
	}
	s := &client{id: "S1"}
	s.apply(t, f.cgh(join("S1")))
	if res := f.cgh(join("S2")); res.err != kerr.UnreleasedInstanceID {
		t.Fatalf("second instance while the first is in: %v", res.err)
	}
	leave := cgBeat("g", "S1", epochLeaveStatic, nil, topics)
	leave.instanceID = &inst
	if res := f.cgh(leave); res.err != nil || res.epoch != epochLeaveStatic {
		t.Fatalf("static leave: %+v", res)
	}
	epoch := f.s.groups["g"].cg.epoch
	res := f.cgh(join("S2"))
	if res.err != nil || res.epoch != s.epoch || !res.assignment.equal(s.owns) {
		t.Fatalf("replacement: %+v, want epoch %d and %v", res, s.epoch, s.owns)
	}
	if f.s.groups["g"].cg.epoch != epoch || f.s.groups["g"].cg.members["S1"] != nil {
		t.Fatal("the replacement bumped the group epoch or kept the old member")
	}
	if res := f.cgh(cgBeat("g", "S1", s.epoch, s.owns, topics)); res.err != kerr.UnknownMemberID {
		t.Fatalf("old member after replacement: %v", res.err)
	}
}

// OffsetCommit from a consumer group member (KIP-848): v9 with its member
// epoch; another epoch is STALE_MEMBER_EPOCH, an older version
// UNSUPPORTED_VERSION, an unknown member UNKNOWN_MEMBER_ID; an admin commit
// (epoch -1) only while the group has no members. OffsetFetch v9 checks
// the same way.
func TestConsumerGroupCommitValidation(t *testing.T) {
	f := newFixture(t)
	topics := fakeTopics{"t": 1}
	a := &client{id: "A"}
	a.apply(t, f.cgh(cgJoin("g", "A", topics, "t")))
	commit := func(version int16, member string, epoch int32) *kerr.Error {
		var got []*kerr.Error
		f.s.commit(f.now, &commitRequest{version: version, groupID: "g", memberID: member, generation: epoch, retentionMs: -1,
			parts: []commitPart{{tp: topicPartition{"t", 0}, offset: 7, leaderEpoch: -1}}}, func(errs []*kerr.Error) { got = errs })
		f.ack()
		return got[0]
	}
	for _, tc := range []struct {
		version int16
		member  string
		epoch   int32
		want    *kerr.Error
	}{
		{9, "A", a.epoch, nil},
		{9, "A", a.epoch + 1, kerr.StaleMemberEpoch},
		{8, "A", a.epoch, kerr.UnsupportedVersion},
		{9, "X", a.epoch, kerr.UnknownMemberID},
		{9, "", -1, kerr.UnknownMemberID},
	} {
		if err := commit(tc.version, tc.member, tc.epoch); err != tc.want {
			t.Errorf("commit v%d by %q at %d: %v, want %v", tc.version, tc.member, tc.epoch, err, tc.want)
		}
	}
	stale := a.epoch + 1
	if err, _ := f.s.fetchOffsets("g", &a.id, stale, nil); err != kerr.StaleMemberEpoch {
		t.Errorf("fetch at a stale epoch: %v", err)
	}
	if err, ts := f.s.fetchOffsets("g", &a.id, a.epoch, nil); err != nil || ts[0].partitions[0].offset != 7 {
		t.Errorf("fetch by the member: %v %+v", err, ts)
	}
	f.cgh(cgBeat("g", "A", epochLeave, nil, topics))
	if err := commit(9, "", -1); err != nil {
		t.Errorf("admin commit to the empty group: %v", err)
	}
}

// A group id is one kind: a consumer group heartbeat to a classic group
// with members is GROUP_ID_NOT_FOUND and a JoinGroup to a consumer group
// with members INCONSISTENT_GROUP_PROTOCOL; an empty group of either kind
// changes kind, keeping its offsets.
func TestGroupIsClassicOrConsumer(t *testing.T) {
	f := newFixture(t)
	topics := fakeTopics{"t": 1}
	f.stableGroup("classic", 1)
	if res := f.cgh(cgJoin("classic", "A", topics, "t")); res.err != kerr.GroupIDNotFound {
		t.Fatalf("heartbeat to a classic group: %v", res.err)
	}
	f.cgh(cgJoin("consumer", "A", topics, "t"))
	if res := f.join("consumer", "").res; res == nil || res.err != kerr.InconsistentGroupProtocol {
		t.Fatalf("JoinGroup to a consumer group: %+v", res)
	}
	f.s.commit(f.now, &commitRequest{version: 9, groupID: "offsets-only", generation: -1, retentionMs: -1,
		parts: []commitPart{{tp: topicPartition{"t", 0}, offset: 3, leaderEpoch: -1}}}, func([]*kerr.Error) {})
	f.ack()
	if res := f.cgh(cgJoin("offsets-only", "A", topics, "t")); res.err != nil {
		t.Fatalf("heartbeat to an offsets-only group: %v", res.err)
	}
	if g := f.s.groups["offsets-only"]; g.cg == nil || g.offsets[topicPartition{"t", 0}].offset != 3 {
		t.Fatal("the offsets-only group did not become a consumer group with its offsets")
	}
}

// Replaying the records a consumer group wrote rebuilds it: group and
// target epochs, every member with its subscription, epoch, state and
// assignment, and its offsets; the members carry on at their epochs.
func TestConsumerGroupReplay(t *testing.T) {
	f := newFixture(t)
	topics := fakeTopics{"t": 4, "u": 2}
	a, b := &client{id: "A"}, &client{id: "B"}
	a.apply(t, f.cgh(cgJoin("g", "A", topics, "t", "u")))
	re := "u"
	jb := cgJoin("g", "B", topics, "t")
	jb.subscribedRegex = &re
	b.apply(t, f.cgh(jb))
	a.apply(t, f.cgh(cgBeat("g", "A", a.epoch, a.owns, topics))) // A is revoking
	f.cgh(cgJoin("gone", "Z", topics, "t"))
	f.cgh(cgBeat("gone", "Z", epochLeave, nil, topics))
	f.s.deleteGroup(f.now, "gone", func(*kerr.Error) {})
	f.ack()

	l := newLoader()
	for _, r := range f.log {
		if err := l.apply(r.key, r.value); err != nil {
			t.Fatal(err)
		}
	}
	s2 := newState(f.s.cfg, zerolog.Nop(), f.s.newUUID)
	s2.install(l, f.now)
	if s2.groups["gone"] != nil {
		t.Fatal("a deleted consumer group came back")
	}
	g1, g2 := f.s.groups["g"].cg, s2.groups["g"].cg
	if g2 == nil || g2.epoch != g1.epoch || g2.targetEpoch != g1.targetEpoch || g2.hash != g1.hash || len(g2.members) != 2 {
		t.Fatalf("reloaded group %+v, want %+v", g2, g1)
	}
	for id, m1 := range g1.members {
		m2 := g2.members[id]
		if m2.epoch != m1.epoch || m2.previousEpoch != m1.previousEpoch || m2.state != m1.state ||
			!m2.assigned.equal(m1.assigned) || !m2.pendingRevocation.equal(m1.pendingRevocation) ||
			!slices.Equal(m2.subscribedNames, m1.subscribedNames) || (m2.subscribedRegex == nil) != (m1.subscribedRegex == nil) ||
			!g2.target[id].equal(g1.target[id]) {
			t.Fatalf("member %s reloaded as %+v, want %+v", id, m2, m1)
		}
	}
	f.s = s2
	a.apply(t, f.cgh(cgBeat("g", "A", a.epoch, a.owns, topics)))
	b.apply(t, f.cgh(cgBeat("g", "B", b.epoch, b.owns, topics)))
	noDoubleOwners(t, a, b)
	if s2.groups["g"].cg.epoch != g1.epoch {
		t.Fatal("the reload bumped the group epoch")
	}
}

// The assignors: uniform is balanced and sticky, also with members
// subscribed to different topics; range hands out contiguous ranges.
func TestAssignors(t *testing.T) {
	t1, t2 := tid("t1"), tid("t2")
	in := assignInput{topics: map[topicID]int32{t1: 6, t2: 3}, members: []assignMember{
		{id: "a", topics: []topicID{t1, t2}}, {id: "b", topics: []topicID{t1, t2}}, {id: "c", topics: []topicID{t1}},
	}}
	out := assignUniform(in)
	for id, a := range out {
		if a.size() != 3 {
			t.Errorf("uniform: %s got %v, want 3 partitions", id, a)
		}
	}
	if len(out["c"][t2]) != 0 {
		t.Error("uniform assigned an unsubscribed topic")
	}
	// A member leaves: the others keep what they had.
	in2 := assignInput{topics: in.topics, members: []assignMember{
		{id: "a", topics: in.members[0].topics, prev: out["a"]}, {id: "b", topics: in.members[1].topics, prev: out["b"]},
	}}
	out2 := assignUniform(in2)
	for _, id := range []string{"a", "b"} {
		for t0, ps := range out[id] {
			for _, p := range ps {
				if !out2[id].has(t0, p) {
					t.Errorf("uniform: %s lost partition %d it could keep", id, p)
				}
			}
		}
	}
	if out2["a"].size()+out2["b"].size() != 9 || max(out2["a"].size(), out2["b"].size()) != 5 {
		t.Errorf("uniform after a leave: %v / %v", out2["a"], out2["b"])
	}
	r := assignRange(in)
	if !slices.Equal(r["a"][t1], []int32{0, 1}) || !slices.Equal(r["c"][t1], []int32{4, 5}) || !slices.Equal(r["a"][t2], []int32{0, 1}) {
		t.Errorf("range: %v", r)
	}
}

// Consumer group records decode back to what was encoded, and nothing
// panics on short or hostile bytes.
func FuzzDecodeConsumerRecord(f *testing.F) {
	inst := "i"
	m := &consumerMember{id: "m", instanceID: &inst, clientID: "c", clientHost: "/h", subscribedNames: []string{"t"},
		rebalanceTimeout: 5, epoch: 3, previousEpoch: 2, state: memberUnrevokedPartitions,
		assigned: assignment{tid("t"): {0, 2}}, pendingRevocation: assignment{tid("t"): {1}}}
	for _, r := range []record{cgEpochRecord("g", 4, 99), cgMemberRecord("g", m), cgTargetMetadataRecord("g", 4),
		cgTargetMemberRecord("g", "m", m.assigned), cgCurrentRecord("g", m)} {
		f.Add(r.key, r.value)
	}
	f.Add([]byte{0, 5, 0, 1, 'g'}, []byte{0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		decodeRecord(key, value)
		newLoader().apply(key, value)
	})
}

func TestConsumerRecordsRoundTrip(t *testing.T) {
	inst := "i"
	m := &consumerMember{id: "m", instanceID: &inst, clientID: "c", clientHost: "/h", subscribedNames: []string{"t"},
		rebalanceTimeout: 5, epoch: 3, previousEpoch: 2, state: memberUnrevokedPartitions,
		assigned: assignment{tid("t"): {0, 2}}, pendingRevocation: assignment{tid("t"): {1}}}
	l := newLoader()
	for _, r := range []record{cgEpochRecord("g", 4, 99), cgMemberRecord("g", m), cgTargetMetadataRecord("g", 4),
		cgTargetMemberRecord("g", "m", m.assigned), cgCurrentRecord("g", m)} {
		if err := l.apply(r.key, r.value); err != nil {
			t.Fatal(err)
		}
	}
	cl := l.consumer["g"]
	got, cur := cl.members["m"], cl.current["m"]
	if cl.epoch != 4 || cl.hash != 99 || cl.targetEpoch != 4 || !cl.target["m"].equal(m.assigned) ||
		*got.instanceID != "i" || got.clientHost != "/h" || !slices.Equal(got.subscribedNames, m.subscribedNames) || got.rebalanceTimeout != 5 ||
		cur.epoch != 3 || cur.previousEpoch != 2 || cur.state != m.state || !cur.assigned.equal(m.assigned) || !cur.pendingRevocation.equal(m.pendingRevocation) {
		t.Fatalf("decoded %+v / %+v / %+v", cl, got, cur)
	}
}
