package test

// KIP-848 consumer groups (group.protocol=consumer): franz-go's next-gen
// consumer (kgo.ServerSideBalancer) against one node, and raw
// ConsumerGroupHeartbeat / ConsumerGroupDescribe / OffsetCommit v9 requests
// for the epochs, the error codes and a coordinator reload.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/broker"
	"github.com/samsa-io/samsa/test/harness"
)

// start848Node starts a node whose consumer groups heartbeat every 100ms
// and lose a silent member after 1.5s (Kafka's defaults: 5s and 45s).
func start848Node(t *testing.T, opts ...harness.Option) *harness.Node {
	t.Helper()
	return startGroupNode(t, append([]harness.Option{harness.WithBrokerConfig(func(c *broker.Config) {
		c.Group.ConsumerHeartbeatInterval = groupHeartbeat
		c.Group.ConsumerSessionTimeout = groupSession
	})}, opts...)...)
}

func describe848(t *testing.T, cl *kgo.Client, group string) (kmsg.ConsumerGroupDescribeResponseGroup, error) {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		return kmsg.ConsumerGroupDescribeResponseGroup{}, err
	}
	g := resp.Groups[0]
	return g, kerr.ErrorForCode(g.ErrorCode)
}

// listGroupTypes returns the groups ListGroups v5 lists with typesFilter,
// by name, with their type.
func listGroupTypes(t *testing.T, cl *kgo.Client, typesFilter ...string) map[string]string {
	t.Helper()
	req := kmsg.NewPtrListGroupsRequest()
	req.TypesFilter = typesFilter
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ListGroups %v: %v %v", typesFilter, err, kerr.ErrorForCode(resp.ErrorCode))
	}
	out := map[string]string{}
	for _, g := range resp.Groups {
		out[g.Group] = g.GroupType
	}
	return out
}

// franz-go's KIP-848 consumer with the broker's uniform assignor (asked for
// by the cooperative-sticky balancer) and range assignor: three members
// split a six-partition topic; one leaves (epoch -1); one crashes and is
// removed after group.consumer.session.timeout.ms; the survivor takes
// every partition and commits (OffsetCommit v9 with its member epoch);
// after all stop, a new member resumes from the committed offsets with no
// committed record delivered again. ListGroups types the group "consumer"
// and ConsumerGroupDescribe shows the epochs and the assignor.
func TestKIP848ConsumerGroup(t *testing.T) {
	for _, tc := range []struct {
		assignor string
		balancer kgo.GroupBalancer
	}{
		{"uniform", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
	} {
		t.Run(tc.assignor, func(t *testing.T) { testKIP848Group(t, tc.assignor, tc.balancer) })
	}
}

func testKIP848Group(t *testing.T, assignor string, balancer kgo.GroupBalancer) {
	n := start848Node(t)
	adm := newAdmin(t, n.Bootstrap())
	raw := newKgo(t, n.Bootstrap())
	const topic, partitions = "kip848-topic", 6
	group := "kip848-" + assignor
	createTopic(t, adm, topic, partitions, nil)
	ends := produceSpread(t, n.Bootstrap(), topic, partitions, 20, "first")
	opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(balancer)}

	got := newDelivered()
	var members []*kgoMember
	for range 3 {
		members = append(members, startKgoMember(t, n.Bootstrap(), group, topic, got, opts...))
	}
	waitAssignment(t, adm, group, topic, partitions, 3)
	eventually(t, opTimeout, "ConsumerGroupDescribe to show a reconciled group", func() error {
		d, err := describe848(t, raw, group)
		switch {
		case err != nil:
			return err
		case d.State != "Stable" || d.AssignorName != assignor || d.Epoch != d.AssignmentEpoch || len(d.Members) != 3:
			return fmt.Errorf("state %s assignor %s epoch %d assignment epoch %d members %d", d.State, d.AssignorName, d.Epoch, d.AssignmentEpoch, len(d.Members))
		}
		for _, m := range d.Members {
			if m.MemberEpoch != d.AssignmentEpoch || len(m.Assignment.TopicPartitions) != 1 || m.Assignment.TopicPartitions[0].Topic != topic {
				return fmt.Errorf("member %s at epoch %d assigned %+v", m.MemberID, m.MemberEpoch, m.Assignment)
			}
		}
		return nil
	})
	if types := listGroupTypes(t, raw, "consumer"); types[group] != "consumer" {
		t.Fatalf("ListGroups(consumer) = %v, want %s as a consumer group", types, group)
	}
	if types := listGroupTypes(t, raw, "classic"); types[group] != "" {
		t.Fatalf("ListGroups(classic) lists the consumer group %s", group)
	}
	eventually(t, opTimeout, "the first records to be delivered", func() error { return got.reached(ends) })
	waitCommitted(t, adm, group, topic, ends)
	describeWithCLI(t, n, group, topic, 3)

	members[2].close()
	waitAssignment(t, adm, group, topic, partitions, 2)

	crashed := time.Now()
	members[1].crash()
	waitAssignment(t, adm, group, topic, partitions, 1)
	took := time.Since(crashed)
	if took > groupSession+5*time.Second {
		t.Errorf("the survivor took over %v after the crash; the session timeout is %v", took, groupSession)
	}
	t.Logf("takeover after a crash: %v (session timeout %v)", took, groupSession)

	ends = produceSpread(t, n.Bootstrap(), topic, partitions, 10, "second")
	eventually(t, opTimeout, "the second records to be delivered", func() error { return got.reached(ends) })
	waitCommitted(t, adm, group, topic, ends)
	members[0].close()

	final := produceSpread(t, n.Bootstrap(), topic, partitions, 5, "third")
	again := newDelivered()
	startKgoMember(t, n.Bootstrap(), group, topic, again, opts...)
	eventually(t, opTimeout, "the restarted consumer to read the third records", func() error { return again.reached(final) })
	if dup := again.below(ends); len(dup) > 0 {
		t.Fatalf("the restarted consumer was given %d committed records again: %v", len(dup), dup)
	}
}

// describeWithCLI checks that `samsa group describe` shows a consumer
// group: its type, assignor, members and who owns each partition.
func describeWithCLI(t *testing.T, n *harness.Node, group, topic string, members int) {
	t.Helper()
	var d struct {
		State        string `json:"state"`
		ProtocolType string `json:"protocol_type"`
		Protocol     string `json:"protocol"`
		Members      []struct {
			ID       string             `json:"id"`
			Assigned map[string][]int32 `json:"assigned"`
		} `json:"members"`
		Offsets []groupOffsetEntry `json:"offsets"`
	}
	mustJSON(t, samsa(t, n, "", "group", "describe", group, "-o", "json").stdout, &d)
	if d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol == "" || len(d.Members) != members {
		t.Fatalf("samsa group describe %s: %+v", group, d)
	}
	for _, m := range d.Members {
		if len(m.Assigned[topic]) == 0 {
			t.Fatalf("samsa group describe: member %s assigned %v", m.ID, m.Assigned)
		}
	}
	if len(d.Offsets) == 0 {
		t.Fatalf("samsa group describe %s shows no offsets", group)
	}
}

// rawMember drives ConsumerGroupHeartbeat by hand, as a client would:
// it keeps its epoch and owns what the last assignment gave it.
type rawMember struct {
	id    string
	epoch int32
	owns  []kmsg.ConsumerGroupHeartbeatRequestTopic
}

func (m *rawMember) owned() int {
	n := 0
	for _, t := range m.owns {
		n += len(t.Partitions)
	}
	return n
}

func heartbeat848(t *testing.T, cl *kgo.Client, group string, m *rawMember, topics []string) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = group, m.id, m.epoch
	req.RebalanceTimeoutMillis = -1
	req.Topics = slices.Clone(m.owns)
	if req.Topics == nil {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	if m.epoch == 0 {
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 10000, topics
	}
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatalf("ConsumerGroupHeartbeat of %s: %v", m.id, err)
	}
	if resp.ErrorCode == 0 {
		m.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			m.owns = nil
			for _, at := range resp.Assignment.Topics {
				rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
				rt.TopicID, rt.Partitions = at.TopicID, at.Partitions
				m.owns = append(m.owns, rt)
			}
		}
	}
	return resp
}

func mustBeat(t *testing.T, cl *kgo.Client, group string, m *rawMember, topics []string) {
	t.Helper()
	if resp := heartbeat848(t, cl, group, m, topics); resp.ErrorCode != 0 {
		t.Fatalf("heartbeat of %s at epoch %d: %v %v", m.id, m.epoch, kerr.ErrorForCode(resp.ErrorCode), resp.ErrorMessage)
	}
}

func commit848(t *testing.T, cl *kgo.Client, group, topic string, m *rawMember, epoch int32, offset int64) error {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = group, m.id, epoch
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// KIP-848 over raw requests: epoch-based reconciliation (the newcomer gets
// partitions only after the first member revoked them), OffsetCommit v9
// with member epochs (STALE_MEMBER_EPOCH), and a coordinator reload (node
// restart): the group comes back from __consumer_offsets with its epochs,
// members and assignments, and its members carry on without being fenced.
// A group id is one kind: JoinGroup to it is INCONSISTENT_GROUP_PROTOCOL,
// ConsumerGroupDescribe of a classic group GROUP_ID_NOT_FOUND.
func TestKIP848GroupSurvivesCoordinatorReload(t *testing.T) {
	n := start848Node(t, harness.WithBrokerConfig(func(c *broker.Config) { c.Group.ConsumerSessionTimeout = 60 * time.Second }))
	adm := newAdmin(t, n.Bootstrap())
	cl := newKgo(t, n.Bootstrap())
	const topic, group = "reload-848", "reload-848-group"
	createTopic(t, adm, topic, 4, nil)
	subs := []string{topic}
	a, b := &rawMember{id: "member-a"}, &rawMember{id: "member-b"}
	mustBeat(t, cl, group, a, subs)
	if a.epoch != 1 || a.owned() != 4 {
		t.Fatalf("first member: epoch %d owns %d", a.epoch, a.owned())
	}
	mustBeat(t, cl, group, b, subs)
	if b.owned() != 0 {
		t.Fatalf("the newcomer owns %d partitions before the first member revoked any", b.owned())
	}
	mustBeat(t, cl, group, a, subs) // told to revoke: keeps 2
	if a.epoch != 1 || a.owned() != 2 {
		t.Fatalf("revoking member: epoch %d owns %d, want epoch 1 and 2", a.epoch, a.owned())
	}
	mustBeat(t, cl, group, b, subs)
	if b.owned() != 0 {
		t.Fatal("the newcomer was given partitions the first member had not revoked yet")
	}
	mustBeat(t, cl, group, a, subs) // reports the revocation
	mustBeat(t, cl, group, b, subs)
	if a.epoch != 2 || b.epoch != 2 || b.owned() != 2 {
		t.Fatalf("after reconciliation: a epoch %d, b epoch %d owns %d", a.epoch, b.epoch, b.owned())
	}
	if err := commit848(t, cl, group, topic, a, a.epoch, 5); err != nil {
		t.Fatalf("commit at the member epoch: %v", err)
	}
	if err := commit848(t, cl, group, topic, a, a.epoch-1, 6); !isErr(err, kerr.StaleMemberEpoch) {
		t.Fatalf("commit at an old epoch: %v, want STALE_MEMBER_EPOCH", err)
	}
	before, err := describe848(t, cl, group)
	if err != nil {
		t.Fatal(err)
	}

	n.Restart()
	cl = newKgo(t, n.Bootstrap())
	var after kmsg.ConsumerGroupDescribeResponseGroup
	eventually(t, opTimeout, "the reloaded group to be described", func() error {
		after, err = describe848(t, cl, group)
		return err
	})
	if after.Epoch != before.Epoch || after.AssignmentEpoch != before.AssignmentEpoch || len(after.Members) != 2 {
		t.Fatalf("reloaded group: epoch %d/%d members %d, want %d/%d and 2", after.Epoch, after.AssignmentEpoch, len(after.Members), before.Epoch, before.AssignmentEpoch)
	}
	for i, m := range after.Members {
		bm := before.Members[i]
		if m.MemberID != bm.MemberID || m.MemberEpoch != bm.MemberEpoch || fmt.Sprint(m.Assignment) != fmt.Sprint(bm.Assignment) {
			t.Fatalf("reloaded member %+v, want %+v", m, bm)
		}
	}
	mustBeat(t, cl, group, a, subs) // same epoch: not fenced
	adm = newAdmin(t, n.Bootstrap())
	offs, err := adm.FetchOffsets(testCtx(t), group)
	if o, ok := offs.Lookup(topic, 0); err != nil || !ok || o.At != 5 {
		t.Fatalf("committed offset after reload: %+v %v, want 5", o, err)
	}

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = group, "consumer", 10000, 10000
	join.Protocols = append(join.Protocols, kmsg.JoinGroupRequestProtocol{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}})
	if resp, err := join.RequestWith(testCtx(t), cl); err != nil || !isErr(kerr.ErrorForCode(resp.ErrorCode), kerr.InconsistentGroupProtocol) {
		t.Fatalf("JoinGroup to a consumer group: %v %v, want INCONSISTENT_GROUP_PROTOCOL", err, resp)
	}
	if _, err := describe848(t, cl, "no-such-group"); !isErr(err, kerr.GroupIDNotFound) {
		t.Fatalf("ConsumerGroupDescribe of an unknown group: %v, want GROUP_ID_NOT_FOUND", err)
	}

	a.epoch = -1 // leave: b takes every partition at once
	if resp := heartbeat848(t, cl, group, a, subs); resp.ErrorCode != 0 || resp.MemberEpoch != -1 {
		t.Fatalf("leave: %v epoch %d", kerr.ErrorForCode(resp.ErrorCode), resp.MemberEpoch)
	}
	mustBeat(t, cl, group, b, subs)
	if b.owned() != 4 {
		t.Fatalf("after the other member left, b owns %d, want 4", b.owned())
	}
}

// A KIP-848 regex subscription (ConsumerGroupHeartbeat v1
// SubscribedTopicRegex) with franz-go's ConsumeRegex: the broker resolves
// it against its topics, assigns every matching topic and none other, and
// assigns a matching topic created later (its metadata changes the group
// epoch).
func TestKIP848RegexSubscription(t *testing.T) {
	n := start848Node(t)
	adm := newAdmin(t, n.Bootstrap())
	raw := newKgo(t, n.Bootstrap())
	const group = "kip848-regex"
	createTopic(t, adm, "rx-a", 2, nil)
	createTopic(t, adm, "rx-b", 2, nil)
	createTopic(t, adm, "other", 1, nil)
	startKgoMember(t, n.Bootstrap(), group, "rx-.*", newDelivered(), kgo.ConsumeRegex(), kgo.ServerSideBalancer())
	assigned := func(want map[string]int) error {
		d, err := describe848(t, raw, group)
		if err != nil {
			return err
		}
		if len(d.Members) != 1 || d.State != "Stable" {
			return fmt.Errorf("%s with %d members", d.State, len(d.Members))
		}
		m := d.Members[0]
		if m.SubscribedTopicRegex == nil {
			return fmt.Errorf("member %s has no regex subscription", m.MemberID)
		}
		got := map[string]int{}
		for _, tp := range m.Assignment.TopicPartitions {
			got[tp.Topic] = len(tp.Partitions)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("assigned %v, want %v", got, want)
		}
		return nil
	}
	eventually(t, opTimeout, "the regex topics to be assigned", func() error { return assigned(map[string]int{"rx-a": 2, "rx-b": 2}) })
	createTopic(t, adm, "rx-c", 3, nil)
	eventually(t, opTimeout, "the new matching topic to be assigned", func() error {
		return assigned(map[string]int{"rx-a": 2, "rx-b": 2, "rx-c": 3})
	})
}
