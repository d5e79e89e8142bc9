package group

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fixture drives one state (a coordinator partition's decision core) by
// hand: requests, time and write acknowledgements are events the test
// feeds; nothing sleeps.
type fixture struct {
	t    *testing.T
	s    *state
	now  int64
	ids  int
	log  []record // every record acknowledged, in order
	held []write  // writes made but not yet acknowledged
}

const (
	testDelay   = 100
	testSession = 1000
	testRebal   = 5000
)

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, now: 1_000_000}
	cfg := coreConfig{initialDelay: testDelay, minSession: 10, maxSession: 60_000, maxSize: 1000,
		metadataMax: 16, retention: 7 * 24 * 3600 * 1000,
		cgHeartbeat: testCGHeartbeat, cgSession: testCGSession, cgMaxSize: 1000}
	f.s = newState(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), func() string { f.ids++; return fmt.Sprintf("u%d", f.ids) })
	return f
}

// advance moves time and fires what is due.
func (f *fixture) advance(ms int64) {
	f.now += ms
	f.s.tick(f.now)
}

// ack acknowledges every write made so far, in order, as the log would.
func (f *fixture) ack() {
	f.t.Helper()
	for {
		f.held = append(f.held, f.s.takeWrites()...)
		if len(f.held) == 0 {
			return
		}
		w := f.held[0]
		f.held = f.held[1:]
		f.log = append(f.log, w.records...)
		f.s.completeWrite(w, f.now, nil)
	}
}

// hold takes the writes made so far without acknowledging them.
func (f *fixture) hold() { f.held = append(f.held, f.s.takeWrites()...) }

type joinCall struct {
	t    *testing.T
	res  *joinResult
	n    int
	name string
}

func (c *joinCall) answered() bool { return c.n > 0 }

func (c *joinCall) ok() joinResult {
	c.t.Helper()
	if c.res == nil {
		c.t.Fatalf("%s: JoinGroup not answered", c.name)
	}
	if c.res.err != nil {
		c.t.Fatalf("%s: JoinGroup answered %v", c.name, c.res.err)
	}
	return *c.res
}

func (c *joinCall) fails(want *kerr.Error) joinResult {
	c.t.Helper()
	if c.res == nil || c.res.err != want {
		c.t.Fatalf("%s: JoinGroup answered %+v, want %v", c.name, c.res, want)
	}
	return *c.res
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

type joinOpt func(*joinRequest)

func withInstance(id string) joinOpt { return func(r *joinRequest) { r.instanceID = &id } }
func withVersion(v int16) joinOpt    { return func(r *joinRequest) { r.version = v } }
func withProtocols(names ...string) joinOpt {
	return func(r *joinRequest) {
		r.protocols = nil
		for _, n := range names {
			r.protocols = append(r.protocols, protocol{name: n, metadata: consumerMeta("t")})
		}
	}
}

func (f *fixture) join(group, memberID string, opts ...joinOpt) *joinCall {
	r := &joinRequest{version: 9, groupID: group, memberID: memberID, clientID: "client", clientHost: "/127.0.0.1",
		sessionTimeout: testSession, rebalanceTimeout: testRebal, protocolType: "consumer",
		protocols: []protocol{{name: "range", metadata: consumerMeta("t")}}}
	for _, o := range opts {
		o(r)
	}
	c := &joinCall{t: f.t, name: "join " + group + "/" + memberID}
	f.s.join(f.now, r, func(res joinResult) {
		c.n++
		if c.n > 1 {
			f.t.Fatalf("%s answered twice", c.name)
		}
		c.res = &res
	})
	return c
}

// newMember joins as a new dynamic member (KIP-394 dance) and returns the
// call waiting in the rebalance.
func (f *fixture) newMember(group string, opts ...joinOpt) (string, *joinCall) {
	f.t.Helper()
	first := f.join(group, "", opts...).fails(kerr.MemberIDRequired)
	return first.memberID, f.join(group, first.memberID, opts...)
}

type syncCall struct {
	t   *testing.T
	res *syncResult
	n   int
}

func (c *syncCall) ok() syncResult {
	c.t.Helper()
	if c.res == nil || c.res.err != nil {
		c.t.Fatalf("SyncGroup answered %+v, want success", c.res)
	}
	return *c.res
}

func (f *fixture) sync(group, memberID string, gen int32, assign map[string][]byte) *syncCall {
	c := &syncCall{t: f.t}
	f.s.sync(f.now, &syncRequest{groupID: group, memberID: memberID, generation: gen, assignments: assign},
		func(res syncResult) {
			c.n++
			if c.n > 1 {
				f.t.Fatal("SyncGroup answered twice")
			}
			c.res = &res
		})
	return c
}

func (f *fixture) state(group string) groupState {
	g := f.s.groups[group]
	if g == nil {
		return stateDead
	}
	return g.state
}

// stableGroup forms a group of n dynamic members and returns their ids
// (leader first) and the generation.
func (f *fixture) stableGroup(group string, n int) ([]string, int32) {
	f.t.Helper()
	var ids []string
	var calls []*joinCall
	for range n {
		id, c := f.newMember(group)
		ids = append(ids, id)
		calls = append(calls, c)
	}
	f.advance(testDelay) // the members after the first extended the delay
	f.advance(testDelay)
	gen := calls[0].ok().generation
	leader := calls[0].ok().leader
	assign := map[string][]byte{}
	for _, id := range ids {
		assign[id] = []byte("a-" + id)
	}
	var syncs []*syncCall
	for _, id := range ids {
		syncs = append(syncs, f.sync(group, id, gen, assign))
	}
	f.ack()
	for _, s := range syncs {
		s.ok()
	}
	if f.state(group) != stateStable {
		f.t.Fatalf("group %s is %v after sync, want Stable", group, f.state(group))
	}
	if leader != ids[0] {
		f.t.Fatalf("leader %s, want the first member %s", leader, ids[0])
	}
	return ids, gen
}

// KIP-394: a new member's first JoinGroup (v4+) gets MEMBER_ID_REQUIRED and
// its id; joining with that id starts the group's initial rebalance, which
// waits group.initial.rebalance.delay.ms before answering.
func TestJoinRequiresMemberIDThenWaitsInitialDelay(t *testing.T) {
	f := newFixture(t)
	id, call := f.newMember("g")
	if id != "client-u1" {
		t.Fatalf("member id %q, want client id + uuid", id)
	}
	if call.answered() {
		t.Fatal("JoinGroup answered before the initial rebalance delay")
	}
	f.advance(testDelay - 1)
	if call.answered() {
		t.Fatal("JoinGroup answered before the initial rebalance delay")
	}
	f.advance(1)
	res := call.ok()
	if res.generation != 1 || res.leader != id || len(res.members) != 1 || res.protocolName != "range" {
		t.Fatalf("join result %+v, want generation 1, leader %s with itself as member, range", res, id)
	}
	if f.state("g") != stateCompletingRebalance {
		t.Fatalf("state %v, want CompletingRebalance", f.state("g"))
	}
}

// Before v4 there is no KIP-394 round trip: the member is added directly.
func TestJoinBeforeV4AddsMemberDirectly(t *testing.T) {
	f := newFixture(t)
	call := f.join("g", "", withVersion(3))
	f.advance(testDelay)
	if res := call.ok(); res.memberID == "" || res.generation != 1 {
		t.Fatalf("join result %+v, want a member id and generation 1", res)
	}
}

// group.initial.rebalance.delay.ms: each member arriving during the delay
// extends it by another delay, so a starting fleet lands in one generation.
func TestInitialDelayExtendsWhileMembersArrive(t *testing.T) {
	f := newFixture(t)
	_, a := f.newMember("g")
	f.advance(60)
	_, b := f.newMember("g")
	f.advance(40) // first delay over, but b arrived: extended
	if a.answered() || b.answered() {
		t.Fatal("join phase ended although a member arrived during the initial delay")
	}
	f.advance(testDelay)
	if a.ok().generation != 1 || b.ok().generation != 1 || len(a.ok().members) != 2 {
		t.Fatalf("results %+v / %+v, want both in generation 1 with 2 members", a.ok(), b.ok())
	}
}

// The group's protocol is one every member supports, chosen by the
// members' first preferences.
func TestProtocolSelectedByVotes(t *testing.T) {
	f := newFixture(t)
	_, a := f.newMember("g", withProtocols("roundrobin", "range", "sticky"))
	_, b := f.newMember("g", withProtocols("range", "roundrobin"))
	_, c := f.newMember("g", withProtocols("range"))
	f.advance(testDelay)
	f.advance(testDelay) // the second member extended the initial delay
	for _, call := range []*joinCall{a, b, c} {
		if got := call.ok().protocolName; got != "range" {
			t.Fatalf("protocol %q, want range (the only one all support)", got)
		}
	}
	// A member that supports none of the group's protocols is refused.
	f.join("g", "", withProtocols("sticky")).fails(kerr.InconsistentGroupProtocol)
	// So is another protocol type.
	r := f.join("g", "", func(r *joinRequest) { r.protocolType = "connect" })
	r.fails(kerr.InconsistentGroupProtocol)
}

// The leader's SyncGroup is stored (acks=all) before anyone gets an
// assignment; then the group is Stable and every waiting member is answered.
func TestSyncAnswersAfterAssignmentIsStored(t *testing.T) {
	f := newFixture(t)
	idA, a := f.newMember("g")
	idB, b := f.newMember("g")
	f.advance(testDelay)
	f.advance(testDelay) // the second member extended the initial delay
	gen := a.ok().generation
	sb := f.sync("g", idB, gen, nil)
	sa := f.sync("g", idA, gen, map[string][]byte{idA: []byte("A"), idB: []byte("B")})
	f.hold()
	if sa.n != 0 || sb.n != 0 || f.state("g") != stateCompletingRebalance {
		t.Fatal("SyncGroup answered before the assignment was acknowledged")
	}
	f.ack()
	if string(sa.ok().assignment) != "A" || string(sb.ok().assignment) != "B" {
		t.Fatalf("assignments %q / %q, want A / B", sa.ok().assignment, sb.ok().assignment)
	}
	if f.state("g") != stateStable {
		t.Fatalf("state %v, want Stable", f.state("g"))
	}
	// A follower syncing again in Stable gets its assignment at once.
	if got := f.sync("g", idB, gen, nil).ok(); string(got.assignment) != "B" {
		t.Fatalf("assignment %q, want B", got.assignment)
	}
	_ = b
}

// Generation fencing: heartbeats with a stale generation, an unknown
// member or during a rebalance get ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID
// and REBALANCE_IN_PROGRESS.
func TestHeartbeatFencing(t *testing.T) {
	f := newFixture(t)
	ids, gen := f.stableGroup("g", 2)
	cases := []struct {
		member string
		gen    int32
		want   *kerr.Error
	}{
		{ids[0], gen, nil},
		{ids[0], gen - 1, kerr.IllegalGeneration},
		{"nobody", gen, kerr.UnknownMemberID},
	}
	for _, c := range cases {
		if got := f.s.heartbeat(f.now, "g", c.member, nil, c.gen); got != c.want {
			t.Errorf("heartbeat %s gen %d: %v, want %v", c.member, c.gen, got, c.want)
		}
	}
	if got := f.s.heartbeat(f.now, "nogroup", ids[0], nil, gen); got != kerr.UnknownMemberID {
		t.Errorf("heartbeat to an unknown group: %v, want UNKNOWN_MEMBER_ID", got)
	}
	// The leader rejoining starts a rebalance; the follower learns it by
	// heartbeat.
	f.join("g", ids[0])
	if got := f.s.heartbeat(f.now, "g", ids[1], nil, gen); got != kerr.RebalanceInProgress {
		t.Errorf("heartbeat during rebalance: %v, want REBALANCE_IN_PROGRESS", got)
	}
	// Committing with the old generation during the rebalance is allowed
	// (the member still owns its partitions until it rejoins).
	var errs []*kerr.Error
	f.s.commit(f.now, &commitRequest{version: 9, groupID: "g", memberID: ids[1], generation: gen, retentionMs: -1,
		parts: []commitPart{{tp: topicPartition{"t", 0}, offset: 5, leaderEpoch: -1}}}, func(e []*kerr.Error) { errs = e })
	f.ack()
	if len(errs) != 1 || errs[0] != nil {
		t.Fatalf("commit during PreparingRebalance: %v, want success", errs)
	}
}

// A member that stops heartbeating is removed after its session timeout
// and the rest rebalance without it: the survivor rejoins and gets a new
// generation in which it is alone.
func TestSessionTimeoutRemovesMemberAndRebalances(t *testing.T) {
	f := newFixture(t)
	ids, gen := f.stableGroup("g", 2)
	for range 4 { // only ids[0] keeps heartbeating
		f.advance(testSession / 4)
		if err := f.s.heartbeat(f.now, "g", ids[0], nil, gen); err != nil && f.state("g") == stateStable {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	if f.s.groups["g"].has(ids[1]) {
		t.Fatalf("member %s still in the group after its session timeout", ids[1])
	}
	if f.state("g") != statePreparingRebalance {
		t.Fatalf("state %v, want PreparingRebalance", f.state("g"))
	}
	if err := f.s.heartbeat(f.now, "g", ids[0], nil, gen); err != kerr.RebalanceInProgress {
		t.Fatalf("heartbeat: %v, want REBALANCE_IN_PROGRESS", err)
	}
	// The survivor's rejoin completes the join phase at once: everyone left
	// has joined and this is not the group's first rebalance.
	res := f.join("g", ids[0]).ok()
	if res.generation != gen+1 || len(res.members) != 1 {
		t.Fatalf("rejoin %+v, want generation %d with 1 member", res, gen+1)
	}
}

// A member that does not rejoin within the rebalance timeout is dropped
// when the join phase ends.
func TestRebalanceTimeoutDropsMembersThatDidNotRejoin(t *testing.T) {
	f := newFixture(t)
	ids, gen := f.stableGroup("g", 2)
	call := f.join("g", ids[0]) // leader rejoins: rebalance
	for t0 := int64(0); t0 < testRebal; t0 += testSession / 2 {
		// ids[1] keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins.
		f.s.heartbeat(f.now, "g", ids[1], nil, gen)
		f.advance(testSession / 2)
	}
	res := call.ok()
	if res.generation != gen+1 || len(res.members) != 1 || f.s.groups["g"].has(ids[1]) {
		t.Fatalf("join %+v, want generation %d without %s", res, gen+1, ids[1])
	}
}

// Members that get their JoinGroup answer but never SyncGroup are removed
// after the rebalance timeout, even while they heartbeat, and the group
// rebalances again.
func TestMembersThatDoNotSyncAreRemoved(t *testing.T) {
	f := newFixture(t)
	idA, a := f.newMember("g")
	idB, _ := f.newMember("g")
	f.advance(testDelay)
	f.advance(testDelay) // the second member extended the initial delay
	gen := a.ok().generation
	sa := f.sync("g", idA, gen, map[string][]byte{idA: []byte("A"), idB: []byte("B")})
	f.ack()
	sa.ok()
	for range testRebal / (testSession / 2) {
		for _, id := range []string{idA, idB} {
			if err := f.s.heartbeat(f.now, "g", id, nil, gen); err != nil {
				t.Fatalf("heartbeat of %s before the sync timeout: %v", id, err)
			}
		}
		f.advance(testSession / 2)
	}
	if f.s.groups["g"].has(idB) {
		t.Fatal("a member that never synced is still in the group")
	}
	if f.state("g") != statePreparingRebalance {
		t.Fatalf("state %v, want PreparingRebalance", f.state("g"))
	}
}

// LeaveGroup removes the member and rebalances; the last one leaving makes
// the group Empty in a new generation, stored as such.
func TestLeaveGroup(t *testing.T) {
	f := newFixture(t)
	ids, gen := f.stableGroup("g", 2)
	top, errs := f.s.leave(f.now, "g", []leaveMember{{memberID: ids[1]}, {memberID: "ghost"}})
	if top != nil || errs[0] != nil || errs[1] != kerr.UnknownMemberID {
		t.Fatalf("leave: %v %v, want per-member NONE and UNKNOWN_MEMBER_ID", top, errs)
	}
	if f.state("g") != statePreparingRebalance {
		t.Fatalf("state %v, want PreparingRebalance", f.state("g"))
	}
	f.s.leave(f.now, "g", []leaveMember{{memberID: ids[0]}})
	f.ack()
	g := f.s.groups["g"]
	if g.state != stateEmpty || g.generation != gen+1 || len(g.members) != 0 {
		t.Fatalf("group %v gen %d with %d members, want Empty gen %d", g.state, g.generation, len(g.members), gen+1)
	}
	if last := f.log[len(f.log)-1]; string(last.key) != string(groupKey("g")) || last.value == nil {
		t.Fatal("the empty group was not stored")
	}
}

// KIP-345: a static member restarting (JoinGroup with its instance id and
// no member id) takes over its old assignment in a stable group without a
// rebalance; the old instance is fenced.
func TestStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	f := newFixture(t)
	_, a := f.newMember("g")
	sb := f.join("g", "", withInstance("b-1"))
	f.advance(testDelay)
	f.advance(testDelay) // the second member extended the initial delay
	gen := a.ok().generation
	leader, oldB := a.ok().leader, sb.ok().memberID
	if oldB != "b-1-u2" {
		t.Fatalf("static member id %q, want instance id + uuid", oldB)
	}
	f.sync("g", leader, gen, map[string][]byte{leader: []byte("A"), oldB: []byte("B")})
	f.sync("g", oldB, gen, nil)
	f.ack()

	restarted := f.join("g", "", withInstance("b-1"))
	if restarted.answered() {
		t.Fatal("answered before the new member id was stored")
	}
	f.ack()
	res := restarted.ok()
	if res.generation != gen || res.memberID == oldB || res.leader != leader {
		t.Fatalf("rejoin %+v, want generation %d, a new member id, leader %s", res, gen, leader)
	}
	if f.state("g") != stateStable {
		t.Fatalf("state %v, want Stable (no rebalance)", f.state("g"))
	}
	inst := "b-1"
	if err := f.s.heartbeat(f.now, "g", oldB, &inst, gen); err != kerr.FencedInstanceID {
		t.Fatalf("old instance heartbeat: %v, want FENCED_INSTANCE_ID", err)
	}
	if got := f.sync("g", res.memberID, gen, nil).ok(); string(got.assignment) != "B" {
		t.Fatalf("restarted static member's assignment %q, want its old one B", got.assignment)
	}
	// An admin removes it by instance id alone.
	if _, errs := f.s.leave(f.now, "g", []leaveMember{{instanceID: &inst}}); errs[0] != nil {
		t.Fatalf("leave by instance id: %v", errs[0])
	}
	if f.s.groups["g"].has(res.memberID) {
		t.Fatal("static member still present after leave by instance id")
	}
}

// A static member does not leave on shutdown; until its session times out
// the group waits for it, and the join phase does not drop it.
func TestStaticMemberKeptThroughRebalanceUntilSessionEnds(t *testing.T) {
	f := newFixture(t)
	_, a := f.newMember("g")
	s := f.join("g", "", withInstance("s"))
	f.advance(testDelay)
	f.advance(testDelay) // the second member extended the initial delay
	gen := a.ok().generation
	idA, idS := a.ok().memberID, s.ok().memberID
	f.sync("g", idA, gen, nil)
	f.sync("g", idS, gen, nil)
	f.ack()
	f.join("g", idA) // leader rejoins; the static member is silent
	for range 3 {
		f.advance(testSession / 4)
		f.s.heartbeat(f.now, "g", idA, nil, gen)
	}
	if !f.s.groups["g"].has(idS) {
		t.Fatal("static member dropped before its session timeout")
	}
	f.advance(testSession)
	if f.s.groups["g"].has(idS) {
		t.Fatal("static member kept after its session timeout")
	}
}

// OffsetCommit validation: group members commit with their generation; a
// simple commit (generation -1) is allowed only while the group is empty;
// commits during CompletingRebalance get REBALANCE_IN_PROGRESS; metadata
// over offset.metadata.max.bytes gets OFFSET_METADATA_TOO_LARGE.
func TestCommitValidation(t *testing.T) {
	f := newFixture(t)
	commit := func(version int16, group, member string, gen int32, meta string) *kerr.Error {
		var got []*kerr.Error
		f.s.commit(f.now, &commitRequest{version: version, groupID: group, memberID: member, generation: gen, retentionMs: -1,
			parts: []commitPart{{tp: topicPartition{"t", 0}, offset: 1, leaderEpoch: -1, metadata: &meta}}},
			func(e []*kerr.Error) { got = e })
		f.ack()
		if got == nil {
			t.Fatal("commit not answered")
		}
		return got[0]
	}
	if err := commit(9, "simple", "", -1, ""); err != nil {
		t.Fatalf("simple commit to a new group: %v", err)
	}
	if err := commit(9, "none", "m", 3, ""); err != kerr.GroupIDNotFound {
		t.Fatalf("v9 commit to an unknown group: %v, want GROUP_ID_NOT_FOUND", err)
	}
	if err := commit(8, "none", "m", 3, ""); err != kerr.IllegalGeneration {
		t.Fatalf("v8 commit to an unknown group: %v, want ILLEGAL_GENERATION", err)
	}
	if err := commit(9, "simple", "", -1, "this metadata is too long"); err != kerr.OffsetMetadataTooLarge {
		t.Fatalf("commit with long metadata: %v, want OFFSET_METADATA_TOO_LARGE", err)
	}
	idA, a := f.newMember("g")
	f.advance(testDelay)
	gen := a.ok().generation
	if err := commit(9, "g", idA, gen, ""); err != kerr.RebalanceInProgress {
		t.Fatalf("commit in CompletingRebalance: %v, want REBALANCE_IN_PROGRESS", err)
	}
	f.sync("g", idA, gen, nil)
	f.ack()
	for _, c := range []struct {
		member string
		gen    int32
		want   *kerr.Error
	}{
		{idA, gen, nil},
		{idA, gen + 1, kerr.IllegalGeneration},
		{"other", gen, kerr.UnknownMemberID},
		{"", -1, kerr.UnknownMemberID}, // simple commit to a live group
	} {
		if err := commit(9, "g", c.member, c.gen, ""); err != c.want {
			t.Errorf("commit member %q gen %d: %v, want %v", c.member, c.gen, err, c.want)
		}
	}
}

// A commit is visible to OffsetFetch only once it is acknowledged.
func TestCommitVisibleOnlyWhenAcknowledged(t *testing.T) {
	f := newFixture(t)
	meta := "m"
	var errs []*kerr.Error
	f.s.commit(f.now, &commitRequest{version: 9, groupID: "g", generation: -1, retentionMs: -1,
		parts: []commitPart{{tp: topicPartition{"t", 2}, offset: 42, leaderEpoch: 7, metadata: &meta}}},
		func(e []*kerr.Error) { errs = e })
	f.hold()
	_, topics := f.s.fetchOffsets("g", nil, -1, []fetchTopic{{topic: "t", partitions: []int32{2}}})
	if errs != nil || topics[0].partitions[0].offset != -1 {
		t.Fatalf("commit answered (%v) or visible (%+v) before its write was acknowledged", errs, topics)
	}
	f.ack()
	_, topics = f.s.fetchOffsets("g", nil, -1, []fetchTopic{{topic: "t", partitions: []int32{2}}})
	if got := topics[0].partitions[0]; errs[0] != nil || got.offset != 42 || got.leaderEpoch != 7 || got.metadata != "m" {
		t.Fatalf("after ack: errs %v, fetched %+v, want offset 42 epoch 7 metadata m", errs, got)
	}
	_, all := f.s.fetchOffsets("g", nil, -1, nil)
	if len(all) != 1 || all[0].topic != "t" {
		t.Fatalf("fetch all: %+v", all)
	}
}

// DeleteGroups deletes only empty groups, tombstoning their offsets; an
// unknown group is GROUP_ID_NOT_FOUND.
func TestDeleteGroups(t *testing.T) {
	f := newFixture(t)
	f.stableGroup("live", 1)
	f.s.commit(f.now, &commitRequest{version: 9, groupID: "idle", generation: -1, retentionMs: -1,
		parts: []commitPart{{tp: topicPartition{"t", 0}, offset: 3, leaderEpoch: -1}}}, func([]*kerr.Error) {})
	f.ack()
	del := func(id string) *kerr.Error {
		var got *kerr.Error
		answered := false
		f.s.deleteGroup(f.now, id, func(e *kerr.Error) { got, answered = e, true })
		f.ack()
		if !answered {
			t.Fatalf("delete %s not answered", id)
		}
		return got
	}
	if err := del("live"); err != kerr.NonEmptyGroup {
		t.Fatalf("deleting a live group: %v, want NON_EMPTY_GROUP", err)
	}
	if err := del("missing"); err != kerr.GroupIDNotFound {
		t.Fatalf("deleting a missing group: %v, want GROUP_ID_NOT_FOUND", err)
	}
	if err := del("idle"); err != nil {
		t.Fatalf("deleting an empty group: %v", err)
	}
	if _, ok := f.s.groups["idle"]; ok {
		t.Fatal("deleted group still present")
	}
	n := len(f.log)
	if f.log[n-2].value != nil || f.log[n-1].value != nil {
		t.Fatal("delete did not write an offset and a group tombstone")
	}
}

// OffsetDelete: a consumer group keeps offsets of topics it subscribes to.
func TestOffsetDeleteRespectsSubscriptions(t *testing.T) {
	f := newFixture(t)
	ids, gen := f.stableGroup("g", 1)
	for _, topic := range []string{"t", "old"} {
		f.s.commit(f.now, &commitRequest{version: 9, groupID: "g", memberID: ids[0], generation: gen, retentionMs: -1,
			parts: []commitPart{{tp: topicPartition{topic, 0}, offset: 1, leaderEpoch: -1}}}, func([]*kerr.Error) {})
	}
	f.ack()
	var top *kerr.Error
	var errs []*kerr.Error
	f.s.deleteOffsets(f.now, "g", []commitPart{{tp: topicPartition{"t", 0}}, {tp: topicPartition{"old", 0}}},
		func(e *kerr.Error, es []*kerr.Error) { top, errs = e, es })
	f.ack()
	if top != nil || errs[0] != kerr.GroupSubscribedToTopic || errs[1] != nil {
		t.Fatalf("offset delete: %v %v, want GROUP_SUBSCRIBED_TO_TOPIC for t and NONE for old", top, errs)
	}
	_, all := f.s.fetchOffsets("g", nil, -1, nil)
	if len(all) != 1 || all[0].topic != "t" {
		t.Fatalf("offsets left %+v, want only t", all)
	}
}

// Replaying what the coordinator wrote rebuilds the same groups and
// offsets: a stable group comes back Stable with its members, generation
// and assignments; tombstoned offsets stay gone.
func TestReplayRebuildsState(t *testing.T) {
	f := newFixture(t)
	ids, gen := f.stableGroup("g", 2)
	for i, p := range []int32{0, 1} {
		f.s.commit(f.now, &commitRequest{version: 9, groupID: "g", memberID: ids[0], generation: gen, retentionMs: -1,
			parts: []commitPart{{tp: topicPartition{"gone", p}, offset: int64(10 + i), leaderEpoch: 2}}}, func([]*kerr.Error) {})
	}
	f.s.commit(f.now, &commitRequest{version: 9, groupID: "simple", generation: -1, retentionMs: -1,
		parts: []commitPart{{tp: topicPartition{"x", 0}, offset: 5, leaderEpoch: -1}}}, func([]*kerr.Error) {})
	f.ack()
	f.s.deleteOffsets(f.now, "g", []commitPart{{tp: topicPartition{"gone", 1}}}, func(*kerr.Error, []*kerr.Error) {})
	f.ack()

	l := newLoader()
	for _, r := range f.log {
		// Through a real batch, as the shard reads it.
		if err := l.apply(r.key, r.value); err != nil {
			t.Fatal(err)
		}
	}
	s2 := newState(f.s.cfg, zerolog.Nop(), f.s.newUUID)
	s2.install(l, f.now)
	g := s2.groups["g"]
	if g.state != stateStable || g.generation != gen || len(g.members) != 2 || g.leader != ids[0] || g.protocolName != "range" {
		t.Fatalf("reloaded group %v gen %d members %d leader %s protocol %s", g.state, g.generation, len(g.members), g.leader, g.protocolName)
	}
	if string(g.members[ids[1]].assignment) != "a-"+ids[1] {
		t.Fatalf("reloaded assignment %q", g.members[ids[1]].assignment)
	}
	if o, ok := g.offsets[topicPartition{"gone", 0}]; !ok || o.offset != 10 || o.leaderEpoch != 2 {
		t.Fatalf("reloaded offset %+v", o)
	}
	if _, ok := g.offsets[topicPartition{"gone", 1}]; ok {
		t.Fatal("a deleted offset came back")
	}
	if s2.groups["simple"].offsets[topicPartition{"x", 0}].offset != 5 || s2.groups["simple"].state != stateEmpty {
		t.Fatal("the simple group's offset did not come back")
	}
	// The reloaded members carry on in the same generation.
	if err := s2.heartbeat(f.now, "g", ids[1], nil, gen); err != nil {
		t.Fatalf("heartbeat after reload: %v", err)
	}
}

// When the broker stops leading the partition, waiting requests are
// answered NOT_COORDINATOR so clients look for the new coordinator.
func TestUnloadAnswersWaitingRequests(t *testing.T) {
	f := newFixture(t)
	_, call := f.newMember("g")
	f.s.unload()
	call.fails(kerr.NotCoordinator)
	if len(f.s.groups) != 0 {
		t.Fatal("groups left after unload")
	}
}

// Offsets of a standalone consumer expire offsets.retention.minutes after
// their commit; an empty group left with no offsets is deleted.
func TestOffsetsExpire(t *testing.T) {
	f := newFixture(t)
	f.s.commit(f.now, &commitRequest{version: 9, groupID: "simple", generation: -1, retentionMs: -1,
		parts: []commitPart{{tp: topicPartition{"t", 0}, offset: 1, leaderEpoch: -1}}}, func([]*kerr.Error) {})
	f.ack()
	f.now += f.s.cfg.retention - 1
	f.s.expireOffsets(f.now)
	f.ack()
	if _, ok := f.s.groups["simple"]; !ok {
		t.Fatal("offsets expired early")
	}
	f.now++
	f.s.expireOffsets(f.now)
	f.ack()
	if _, ok := f.s.groups["simple"]; ok {
		t.Fatal("group with only expired offsets still present")
	}
}

// The coordinator partition of a group matches Kafka's:
// abs(String.hashCode) mod partitions, with Utils.abs mapping MinInt32 to 0.
// The hash codes are Java's (UTF-16 code units, 31*h+c in int32).
func TestPartitionForMatchesJavaHashCode(t *testing.T) {
	cases := []struct {
		group string
		hash  int64 // Java's String.hashCode
	}{
		{"", 0},
		{"hello", 99162322},
		{"Aa", 2112}, // "Aa" and "BB" collide in Java
		{"BB", 2112},
		{"my-group", -1906497762},
		{"console-consumer-1", 35782224},
		{"\U0001F600", 1772899},             // one code point, two UTF-16 units
		{"polygenelubricants", -2147483648}, // Integer.MIN_VALUE: Utils.abs gives 0
	}
	for _, c := range cases {
		abs := c.hash
		if abs < 0 {
			abs = -abs
		}
		if c.hash == -2147483648 {
			abs = 0
		}
		for _, n := range []int32{1, 7, 50} {
			if got, want := PartitionFor(c.group, n), int32(abs%int64(n)); got != want {
				t.Errorf("PartitionFor(%q, %d) = %d, want %d", c.group, n, got, want)
			}
		}
	}
}

func nopLogger() zerolog.Logger { return zerolog.Nop() }
