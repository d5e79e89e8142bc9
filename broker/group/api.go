package group

// The coordinator's entry points, one per Kafka API: each turns the kmsg
// request into a call on the owning shard and its answer into the response
// for the request's version. They block until answered and are meant for a
// handler's Later.

import (
	"bytes"
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func code(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// JoinGroup serves JoinGroup; clientHost is the member's address as Kafka
// shows it ("/127.0.0.1").
func (c *Coordinator) JoinGroup(ctx context.Context, r *kmsg.JoinGroupRequest, clientID, clientHost string) *kmsg.JoinGroupResponse {
	jr := &joinRequest{
		version: r.Version, groupID: r.Group, memberID: r.MemberID, instanceID: cloneString(r.InstanceID),
		clientID: clientID, clientHost: clientHost,
		sessionTimeout: r.SessionTimeoutMillis, rebalanceTimeout: r.RebalanceTimeoutMillis,
		protocolType: r.ProtocolType,
	}
	if r.Version == 0 {
		jr.rebalanceTimeout = r.SessionTimeoutMillis // v0 has one timeout for both
	}
	for _, p := range r.Protocols {
		jr.protocols = append(jr.protocols, protocol{name: p.Name, metadata: bytes.Clone(p.Metadata)})
	}
	if r.Reason != nil {
		jr.reason = *r.Reason
	}
	res, err := callNamed(ctx, c, r.Group, func(st *state, now int64, reply func(joinResult)) { st.join(now, jr, reply) })
	if err != nil {
		res = joinError(r.MemberID, err)
	}
	resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode, resp.Generation, resp.MemberID = code(res.err), res.generation, res.memberID
	resp.LeaderID, resp.SkipAssignment = res.leader, res.skipAssignment
	if res.err == nil {
		resp.ProtocolType, resp.Protocol = nullable(res.protocolType), nullable(res.protocolName)
	}
	for _, m := range res.members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.id, m.instanceID, m.metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// SyncGroup serves SyncGroup.
func (c *Coordinator) SyncGroup(ctx context.Context, r *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	sr := &syncRequest{
		groupID: r.Group, memberID: r.MemberID, instanceID: cloneString(r.InstanceID), generation: r.Generation,
		protocolType: cloneString(r.ProtocolType), protocolName: cloneString(r.Protocol),
		assignments: make(map[string][]byte, len(r.GroupAssignment)),
	}
	for _, a := range r.GroupAssignment {
		sr.assignments[a.MemberID] = bytes.Clone(a.MemberAssignment)
	}
	res, err := callNamed(ctx, c, r.Group, func(st *state, now int64, reply func(syncResult)) { st.sync(now, sr, reply) })
	if err != nil {
		res = syncResult{err: err}
	}
	resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = code(res.err)
	resp.MemberAssignment = res.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	if res.err == nil {
		resp.ProtocolType, resp.Protocol = nullable(res.protocolType), nullable(res.protocolName)
	}
	return resp
}

// Heartbeat serves Heartbeat.
func (c *Coordinator) Heartbeat(ctx context.Context, r *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	res, err := callNamed(ctx, c, r.Group, func(st *state, now int64, reply func(*kerr.Error)) {
		reply(st.heartbeat(now, r.Group, r.MemberID, r.InstanceID, r.Generation))
	})
	if err != nil {
		res = err
	}
	resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = code(res)
	return resp
}

type leaveResult struct {
	top  *kerr.Error
	errs []*kerr.Error
}

// LeaveGroup serves LeaveGroup: one member before v3, a batch from v3.
func (c *Coordinator) LeaveGroup(ctx context.Context, r *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	members := []leaveMember{{memberID: r.MemberID}}
	if r.Version >= 3 {
		members = members[:0]
		for _, m := range r.Members {
			lm := leaveMember{memberID: m.MemberID, instanceID: cloneString(m.InstanceID)}
			if m.Reason != nil {
				lm.reason = *m.Reason
			}
			members = append(members, lm)
		}
	}
	res, err := callNamed(ctx, c, r.Group, func(st *state, now int64, reply func(leaveResult)) {
		top, errs := st.leave(now, r.Group, members)
		reply(leaveResult{top, errs})
	})
	if err != nil {
		res = leaveResult{top: err}
	}
	resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
	resp.ErrorCode = code(res.top)
	if r.Version < 3 {
		if res.top == nil && len(res.errs) == 1 {
			resp.ErrorCode = code(res.errs[0])
		}
		return resp
	}
	if res.top != nil {
		return resp
	}
	for i, m := range r.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, code(res.errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// PartitionCheck validates a topic partition named in a request: nil if it
// exists, else the error to answer for it.
type PartitionCheck func(topic string, partition int32) *kerr.Error

// CommitOffsets serves OffsetCommit; check refuses partitions that do not
// exist.
func (c *Coordinator) CommitOffsets(ctx context.Context, r *kmsg.OffsetCommitRequest, check PartitionCheck) *kmsg.OffsetCommitResponse {
	cr := &commitRequest{
		version: r.Version, groupID: r.Group, memberID: r.MemberID, instanceID: cloneString(r.InstanceID),
		generation: r.Generation, retentionMs: -1,
	}
	if r.Version >= 2 && r.Version <= 4 {
		cr.retentionMs = r.RetentionTimeMillis
	}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			cp := commitPart{tp: topicPartition{t.Topic, p.Partition}, offset: p.Offset,
				leaderEpoch: p.LeaderEpoch, metadata: cloneString(p.Metadata), err: check(t.Topic, p.Partition)}
			if r.Version < 6 {
				cp.leaderEpoch = -1
			}
			cr.parts = append(cr.parts, cp)
		}
	}
	errs, err := callNamed(ctx, c, r.Group, func(st *state, now int64, reply func([]*kerr.Error)) { st.commit(now, cr, reply) })
	resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
	i := 0
	for _, t := range r.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case cr.parts[i].err != nil:
				rp.ErrorCode = code(cr.parts[i].err)
			case err != nil:
				rp.ErrorCode = code(err)
			default:
				rp.ErrorCode = code(errs[i])
			}
			rt.Partitions = append(rt.Partitions, rp)
			i++
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

type fetchResult struct {
	err    *kerr.Error
	topics []fetchedTopic
}

func (c *Coordinator) fetchGroup(ctx context.Context, groupID string, memberID *string, memberEpoch int32, topics []fetchTopic) fetchResult {
	res, err := callNamed(ctx, c, groupID, func(st *state, _ int64, reply func(fetchResult)) {
		e, ts := st.fetchOffsets(groupID, memberID, memberEpoch, topics)
		reply(fetchResult{e, ts})
	})
	if err != nil {
		return fetchResult{err: err}
	}
	return res
}

// FetchOffsets serves OffsetFetch: one group before v8, several from v8.
// There are no transactions, so every offset is stable and RequireStable
// changes nothing.
func (c *Coordinator) FetchOffsets(ctx context.Context, r *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.Version >= 8 {
		for _, rg := range r.Groups {
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = []fetchTopic{}
				for _, t := range rg.Topics {
					topics = append(topics, fetchTopic{topic: t.Topic, partitions: t.Partitions})
				}
			}
			memberEpoch := rg.MemberEpoch
			if r.Version < 9 {
				memberEpoch = -1
			}
			res := c.fetchGroup(ctx, rg.Group, cloneString(rg.MemberID), memberEpoch, topics)
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = rg.Group, code(res.err)
			for _, ft := range res.topics {
				t := kmsg.NewOffsetFetchResponseGroupTopic()
				t.Topic = ft.topic
				for _, fp := range ft.partitions {
					p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = fp.partition, fp.offset, fp.leaderEpoch, &fp.metadata
					t.Partitions = append(t.Partitions, p)
				}
				g.Topics = append(g.Topics, t)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}
	var topics []fetchTopic
	if r.Topics != nil || r.Version < 2 {
		topics = []fetchTopic{}
		for _, t := range r.Topics {
			topics = append(topics, fetchTopic{topic: t.Topic, partitions: t.Partitions})
		}
	}
	res := c.fetchGroup(ctx, r.Group, nil, -1, topics)
	if res.err != nil && r.Version < 2 {
		// No group-level error field before v2: every partition carries it.
		res.topics = nil
		for _, t := range topics {
			ft := fetchedTopic{topic: t.topic}
			for _, p := range t.partitions {
				ft.partitions = append(ft.partitions, fetchedPartition{partition: p, offset: -1, leaderEpoch: -1})
			}
			res.topics = append(res.topics, ft)
		}
	}
	resp.ErrorCode = code(res.err)
	for _, ft := range res.topics {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = ft.topic
		for _, fp := range ft.partitions {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = fp.partition, fp.offset, fp.leaderEpoch, &fp.metadata
			if r.Version < 2 {
				p.ErrorCode = code(res.err)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// DescribeGroups serves DescribeGroups. An unknown group is Dead with no
// error before v6 and GROUP_ID_NOT_FOUND from v6 (KIP-1043). topics names
// the topics of consumer groups' assignments.
func (c *Coordinator) DescribeGroups(ctx context.Context, r *kmsg.DescribeGroupsRequest, topics Topics) *kmsg.DescribeGroupsResponse {
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range r.Groups {
		d, err := call(ctx, c, id, func(st *state, _ int64, reply func(describedGroup)) { reply(st.describe(id, topics)) })
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group = id
		switch {
		case err != nil:
			g.ErrorCode = err.Code
		case !d.found && r.Version >= 6:
			g.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "group " + id + " not found"
			g.ErrorMessage = &msg
			g.State = d.state
		default:
			g.State, g.ProtocolType, g.Protocol = d.state, d.protocolType, d.protocol
			for _, m := range d.members {
				gm := kmsg.NewDescribeGroupsResponseGroupMember()
				gm.MemberID, gm.InstanceID, gm.ClientID, gm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
				gm.ProtocolMetadata, gm.MemberAssignment = m.metadata, m.assignment
				g.Members = append(g.Members, gm)
			}
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

// ListGroups serves ListGroups over every partition this broker leads:
// states filter (v4+) and types filter (v5+: "classic" or "consumer", the
// KIP-848 groups). A partition still loading makes the answer
// COORDINATOR_LOAD_IN_PROGRESS, with the groups of the others.
func (c *Coordinator) ListGroups(ctx context.Context, r *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
	shards, loading := c.loadedShards()
	if loading {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	for _, sh := range shards {
		groups, err := callShard(ctx, sh, func(st *state, _ int64, reply func([]listedGroup)) { reply(st.list(r.StatesFilter, r.TypesFilter)) })
		if err != nil {
			continue // lost leadership meanwhile: its groups are listed by the new leader
		}
		for _, g := range groups {
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.id, g.protocolType, g.state, g.kind
			resp.Groups = append(resp.Groups, lg)
		}
	}
	return resp
}

// DeleteGroups serves DeleteGroups: each group must be empty
// (NON_EMPTY_GROUP otherwise); its offsets go with it.
func (c *Coordinator) DeleteGroups(ctx context.Context, r *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range r.Groups {
		res, err := call(ctx, c, id, func(st *state, now int64, reply func(*kerr.Error)) { st.deleteGroup(now, id, reply) })
		if err != nil {
			res = err
		}
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group, g.ErrorCode = id, code(res)
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

// DeleteOffsets serves OffsetDelete; check refuses partitions that do not
// exist.
func (c *Coordinator) DeleteOffsets(ctx context.Context, r *kmsg.OffsetDeleteRequest, check PartitionCheck) *kmsg.OffsetDeleteResponse {
	var parts []commitPart
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, commitPart{tp: topicPartition{t.Topic, p.Partition}, err: check(t.Topic, p.Partition)})
		}
	}
	res, err := callNamed(ctx, c, r.Group, func(st *state, now int64, reply func(leaveResult)) {
		st.deleteOffsets(now, r.Group, parts, func(top *kerr.Error, errs []*kerr.Error) { reply(leaveResult{top, errs}) })
	})
	if err != nil {
		res = leaveResult{top: err}
	}
	resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
	resp.ErrorCode = code(res.top)
	if res.top != nil {
		return resp
	}
	i := 0
	for _, t := range r.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code(res.errs[i])
			rt.Partitions = append(rt.Partitions, rp)
			i++
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
