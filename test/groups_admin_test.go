package test

// The group admin APIs (kadm) and the classic protocol's error codes (raw
// requests at pinned versions), and groups and offsets surviving a restart
// (the coordinator reloads __consumer_offsets).

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestGroupAdminAndRestart(t *testing.T) {
	n := startGroupNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "admin-topic"
	createTopic(t, adm, topic, 2, nil)
	ends := produceSpread(t, n.Bootstrap(), topic, 2, 5, "x")
	got := newDelivered()
	live := startKgoMember(t, n.Bootstrap(), "live", topic, got)
	waitAssignment(t, adm, "live", topic, 2, 1)
	eventually(t, opTimeout, "records to be delivered", func() error { return got.reached(ends) })
	waitCommitted(t, adm, "live", topic, ends)

	// __consumer_offsets was created on the first FindCoordinator, as Kafka
	// creates it: internal, compacted, offsets.topic.num.partitions.
	tds, err := adm.ListTopicsWithInternal(testCtx(t), "__consumer_offsets")
	if err != nil || tds["__consumer_offsets"].Err != nil {
		t.Fatalf("listing __consumer_offsets: %v %v", err, tds["__consumer_offsets"].Err)
	}
	if td := tds["__consumer_offsets"]; !td.IsInternal || len(td.Partitions) != 50 {
		t.Fatalf("__consumer_offsets: internal %v, %d partitions; want internal with 50", td.IsInternal, len(td.Partitions))
	}
	rcs, err := adm.DescribeTopicConfigs(testCtx(t), "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := rcs.On("__consumer_offsets", nil); err != nil || kadmConfigValue(c.Configs, "cleanup.policy") != "compact" {
		t.Fatalf("__consumer_offsets cleanup.policy %q (%v), want compact", kadmConfigValue(c.Configs, "cleanup.policy"), err)
	}

	listed, err := adm.ListGroups(testCtx(t))
	if err != nil || listed["live"].State != "Stable" || listed["live"].ProtocolType != "consumer" {
		t.Fatalf("ListGroups: %+v %v, want live Stable consumer", listed, err)
	}
	if empty, err := adm.ListGroups(testCtx(t), "Empty"); err != nil || len(empty) != 0 {
		t.Fatalf("ListGroups(Empty): %+v %v, want none", empty, err)
	}
	described, err := adm.DescribeGroups(testCtx(t), "live", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if d := described["live"]; len(d.Members) != 1 || d.Members[0].ClientHost != "/127.0.0.1" ||
		d.Members[0].ClientID != "samsa-group-test" || d.Protocol == "" {
		t.Fatalf("DescribeGroups(live): %+v", d)
	}
	if d := described["nobody"]; !isErr(d.Err, kerr.GroupIDNotFound) {
		t.Fatalf("DescribeGroups(nobody): %v, want GROUP_ID_NOT_FOUND (v6, KIP-1043)", d.Err)
	}

	// A standalone consumer commits with generation -1 to a group of its
	// own; unknown topics and partitions are refused; so is a standalone
	// commit into a live group.
	simple := kadm.OffsetsList{{Topic: topic, Partition: 0, At: 3, LeaderEpoch: -1, Metadata: "m"}}.Offsets()
	if resp, err := adm.CommitOffsets(testCtx(t), "simple", simple); err != nil || resp.Error() != nil {
		t.Fatalf("standalone commit: %v %v", err, resp.Error())
	}
	for _, o := range []kadm.Offset{{Topic: "no-such-topic", At: 1}, {Topic: topic, Partition: 9, At: 1}} {
		resp, err := adm.CommitOffsets(testCtx(t), "simple", kadm.OffsetsList{o}.Offsets())
		if err != nil || !isErr(resp.Error(), kerr.UnknownTopicOrPartition) {
			t.Fatalf("commit to %s-%d: %v %v, want UNKNOWN_TOPIC_OR_PARTITION", o.Topic, o.Partition, err, resp.Error())
		}
	}
	if resp, err := adm.CommitOffsets(testCtx(t), "live", simple); err != nil || !isErr(resp.Error(), kerr.UnknownMemberID) {
		t.Fatalf("standalone commit into a live group: %v %v, want UNKNOWN_MEMBER_ID", err, resp.Error())
	}
	if resp, err := adm.DeleteGroups(testCtx(t), "live"); err != nil || !isErr(resp["live"].Err, kerr.NonEmptyGroup) {
		t.Fatalf("DeleteGroups(live): %v %v, want NON_EMPTY_GROUP", err, resp["live"].Err)
	}
	if resp, err := adm.DeleteOffsets(testCtx(t), "live", kadm.TopicsSet{topic: {0: {}}}); err != nil || !isErr(resp.Error(), kerr.GroupSubscribedToTopic) {
		t.Fatalf("DeleteOffsets(live, subscribed topic): %v %v, want GROUP_SUBSCRIBED_TO_TOPIC", err, resp.Error())
	}

	rawGroupErrors(t, n.Bootstrap(), live)

	live.close()
	n.Restart()
	adm = newAdmin(t, n.Bootstrap())
	waitCommitted(t, adm, "live", topic, ends)
	offs, err := adm.FetchOffsets(testCtx(t), "simple")
	if o, ok := offs.Lookup(topic, 0); err != nil || !ok || o.At != 3 || o.Metadata != "m" {
		t.Fatalf("after restart, simple's offset %+v %v, want 3 with metadata m", o, err)
	}
	if d, err := adm.DescribeGroups(testCtx(t), "live"); err != nil || d["live"].State != "Empty" {
		t.Fatalf("after restart, live is %+v %v, want Empty (its member left)", d["live"], err)
	}
	if resp, err := adm.DeleteOffsets(testCtx(t), "live", kadm.TopicsSet{topic: {0: {}}}); err != nil || resp.Error() != nil {
		t.Fatalf("DeleteOffsets(live) once empty: %v %v", err, resp.Error())
	}
	if resp, err := adm.DeleteGroups(testCtx(t), "simple"); err != nil || resp["simple"].Err != nil {
		t.Fatalf("DeleteGroups(simple): %v %v", err, resp["simple"].Err)
	}
	if offs, err := adm.FetchOffsets(testCtx(t), "simple"); err != nil || len(offs) != 0 {
		t.Fatalf("a deleted group still has offsets: %+v %v", offs, err)
	}
	if offs, err := adm.FetchOffsets(testCtx(t), "live"); err != nil || len(offs[topic]) != 1 {
		t.Fatalf("live's offsets after deleting partition 0's: %+v %v, want only partition 1", offs, err)
	}
}

// rawGroupErrors checks the protocol's error codes for bad group requests
// at pinned versions, live being a member of group "live".
func rawGroupErrors(t *testing.T, bootstrap string, live *kgoMember) {
	c := dialRaw(t, bootstrap)
	memberID, gen := live.cl.GroupMetadata()
	rt := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := c.roundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	expect := func(what string, got int16, want *kerr.Error) {
		t.Helper()
		if got != want.Code {
			t.Errorf("%s: %s, want %s", what, errName(got), errName(want.Code))
		}
	}

	for _, hc := range []struct {
		member string
		gen    int32
		want   *kerr.Error
	}{{memberID, gen + 1, kerr.IllegalGeneration}, {"nobody", gen, kerr.UnknownMemberID}} {
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.SetVersion(4)
		hb.Group, hb.MemberID, hb.Generation = "live", hc.member, hc.gen
		expect("Heartbeat "+hc.member, rt(hb).(*kmsg.HeartbeatResponse).ErrorCode, hc.want)
	}

	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.SetVersion(8)
	oc.Group, oc.MemberID, oc.Generation = "live", memberID, gen+5
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = "admin-topic"
	op := kmsg.NewOffsetCommitRequestTopicPartition()
	op.Offset = 1
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	expect("OffsetCommit with a stale generation", rt(oc).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.IllegalGeneration)

	join := func(group string, session int32) int16 {
		j := kmsg.NewPtrJoinGroupRequest()
		j.SetVersion(9)
		j.Group, j.SessionTimeoutMillis, j.RebalanceTimeoutMillis, j.ProtocolType = group, session, 10000, "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		j.Protocols = append(j.Protocols, p)
		return rt(j).(*kmsg.JoinGroupResponse).ErrorCode
	}
	expect("JoinGroup with a session timeout below group.min.session.timeout.ms", join("raw", 100), kerr.InvalidSessionTimeout)
	expect("JoinGroup with an empty group id", join("", 10000), kerr.InvalidGroupID)

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.SetVersion(4)
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{"txn-a", "txn-b"}
	fcr := rt(fc).(*kmsg.FindCoordinatorResponse)
	if len(fcr.Coordinators) != 2 {
		t.Fatalf("FindCoordinator v4 with 2 keys: %d answers", len(fcr.Coordinators))
	}
	for _, co := range fcr.Coordinators {
		expect("FindCoordinator for transaction "+co.Key, co.ErrorCode, kerr.InvalidRequest)
	}
	fc = kmsg.NewPtrFindCoordinatorRequest()
	fc.SetVersion(0)
	fc.CoordinatorKey = "live"
	if r := rt(fc).(*kmsg.FindCoordinatorResponse); r.ErrorCode != 0 || r.NodeID != 1 {
		t.Errorf("FindCoordinator v0: %s node %d, want node 1", errName(r.ErrorCode), r.NodeID)
	}

	pr := produceRaw(t, c, 9, "__consumer_offsets", 0, plainBatch("forged"))
	expect("Produce to __consumer_offsets", pr.ErrorCode, kerr.InvalidTopicException)
}

func kadmConfigValue(cfgs []kadm.Config, name string) string {
	for _, c := range cfgs {
		if c.Key == name && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

func isErr(err error, want *kerr.Error) bool {
	var ke *kerr.Error
	return err != nil && errors.As(err, &ke) && ke == want
}
