package group

// Entry points of the KIP-848 consumer group protocol: ConsumerGroupHeartbeat
// and ConsumerGroupDescribe, and how DescribeGroups shows a consumer group.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupHeartbeat serves ConsumerGroupHeartbeat; topics resolves the
// subscriptions against the broker's current metadata image.
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, r *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string, topics Topics) *kmsg.ConsumerGroupHeartbeatResponse {
	hr := &cghRequest{
		version: r.Version, groupID: r.Group, memberID: r.MemberID, memberEpoch: r.MemberEpoch,
		instanceID: cloneString(r.InstanceID), rackID: cloneString(r.RackID), rebalanceTimeout: r.RebalanceTimeoutMillis,
		subscribedNames: slices.Clone(r.SubscribedTopicNames), subscribedRegex: cloneString(r.SubscribedTopicRegex),
		serverAssignor: cloneString(r.ServerAssignor), clientID: clientID, clientHost: clientHost, topics: topics,
	}
	if r.SubscribedTopicNames != nil && hr.subscribedNames == nil {
		hr.subscribedNames = []string{}
	}
	if r.Topics != nil {
		hr.owned = []ownedTopic{}
		for _, t := range r.Topics {
			hr.owned = append(hr.owned, ownedTopic{id: t.TopicID, partitions: slices.Clone(t.Partitions)})
		}
	}
	var res cghResult
	var err *kerr.Error
	if r.Group == "" {
		res = cghError(kerr.InvalidRequest, "GroupId can't be empty.")
	} else {
		res, err = call(ctx, c, r.Group, func(st *state, now int64, reply func(cghResult)) { st.consumerHeartbeat(now, hr, reply) })
		if err != nil {
			res = cghResult{err: err}
		}
	}
	resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.ErrorCode = code(res.err)
	if res.err != nil {
		if res.msg != "" {
			resp.ErrorMessage = &res.msg
		}
		return resp
	}
	resp.MemberID, resp.MemberEpoch, resp.HeartbeatIntervalMillis = &res.memberID, res.epoch, res.interval
	if res.assignment != nil {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		for _, id := range res.assignment.topicIDs() {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID, t.Partitions = id, res.assignment[id]
			a.Topics = append(a.Topics, t)
		}
		if a.Topics == nil {
			a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
		}
		resp.Assignment = &a
	}
	return resp
}

type cgDescribed struct {
	err                *kerr.Error
	msg                string
	group              kmsg.ConsumerGroupDescribeResponseGroup
	assignorName, kind string
}

// ConsumerGroupDescribe serves ConsumerGroupDescribe. A group that does not
// exist, or is a classic group, is GROUP_ID_NOT_FOUND, as Kafka answers.
func (c *Coordinator) ConsumerGroupDescribe(ctx context.Context, r *kmsg.ConsumerGroupDescribeRequest, topics Topics) *kmsg.ConsumerGroupDescribeResponse {
	resp := r.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range r.Groups {
		d, err := callNamed(ctx, c, id, func(st *state, _ int64, reply func(cgDescribed)) {
			reply(st.describeConsumer(id, r.Version, topics))
		})
		g := d.group
		if err != nil {
			g = kmsg.NewConsumerGroupDescribeResponseGroup()
			g.ErrorCode = err.Code
		} else if d.err != nil {
			g = kmsg.NewConsumerGroupDescribeResponseGroup()
			g.ErrorCode, g.ErrorMessage = d.err.Code, &d.msg
		}
		g.Group = id
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

// describeConsumer is one group of a ConsumerGroupDescribe.
func (s *state) describeConsumer(id string, version int16, topics Topics) cgDescribed {
	g := s.groups[id]
	switch {
	case g == nil || g.state == stateDead:
		return cgDescribed{err: kerr.GroupIDNotFound, msg: "Group " + id + " not found."}
	case g.cg == nil:
		return cgDescribed{err: kerr.GroupIDNotFound, msg: "Group " + id + " is not a consumer group."}
	}
	cg := g.cg
	out := kmsg.NewConsumerGroupDescribeResponseGroup()
	out.State, out.Epoch, out.AssignmentEpoch, out.AssignorName = cg.stateName(), cg.epoch, cg.targetEpoch, cg.assignor()
	for _, m := range cg.sortedMembers() {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = m.id, m.instanceID, m.rackID, m.epoch
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		dm.SubscribedTopics, dm.SubscribedTopicRegex = slices.Clone(m.subscribedNames), m.subscribedRegex
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		dm.Assignment = describeAssignment(cg, m.assigned, topics)
		dm.TargetAssignment = describeAssignment(cg, cg.target[m.id], topics)
		if version >= 1 {
			dm.MemberType = 1 // consumer protocol
		}
		out.Members = append(out.Members, dm)
	}
	return cgDescribed{group: out}
}

func (cg *consumerGroup) topicName(id topicID, topics Topics) string {
	if topics != nil {
		if name, _, ok := topics.TopicByID(id); ok {
			return name
		}
	}
	return cg.names[id]
}

func describeAssignment(cg *consumerGroup, a assignment, topics Topics) kmsg.Assignment {
	out := kmsg.Assignment{TopicPartitions: []kmsg.AssignmentTopicPartition{}}
	for _, id := range a.topicIDs() {
		tp := kmsg.AssignmentTopicPartition{TopicID: id, Topic: cg.topicName(id, topics), Partitions: slices.Clone(a[id])}
		out.TopicPartitions = append(out.TopicPartitions, tp)
	}
	return out
}

// describeConsumerGroup is a consumer group in a DescribeGroups answer:
// each member's subscription as ConsumerMemberMetadata and its current
// assignment as ConsumerMemberAssignment (v0), so that tools reading
// classic groups read these too.
func describeConsumerGroup(g *group, topics Topics) describedGroup {
	cg := g.cg
	d := describedGroup{found: true, state: cg.stateName(), protocolType: consumerProtocolType, protocol: cg.assignor()}
	for _, m := range cg.sortedMembers() {
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = slices.Clone(m.subscribedNames)
		for _, id := range subscribedIDs(cg, m) {
			if n := cg.topicName(id, topics); n != "" && !slices.Contains(meta.Topics, n) {
				meta.Topics = append(meta.Topics, n)
			}
		}
		slices.Sort(meta.Topics)
		asg := kmsg.NewConsumerMemberAssignment()
		for _, id := range m.assigned.topicIDs() {
			t := kmsg.NewConsumerMemberAssignmentTopic()
			t.Topic, t.Partitions = cg.topicName(id, topics), slices.Clone(m.assigned[id])
			asg.Topics = append(asg.Topics, t)
		}
		d.members = append(d.members, describedMember{
			id: m.id, clientID: m.clientID, clientHost: m.clientHost, instanceID: m.instanceID,
			metadata: meta.AppendTo(nil), assignment: asg.AppendTo(nil),
		})
	}
	return d
}

// subscribedIDs are the topic ids a member is known to subscribe to: the
// topics of its current and target assignment (names alone may not exist).
func subscribedIDs(cg *consumerGroup, m *consumerMember) []topicID {
	seen := assignment{}
	for id := range m.assigned {
		seen[id] = nil
	}
	for id := range cg.target[m.id] {
		seen[id] = nil
	}
	return seen.topicIDs()
}
