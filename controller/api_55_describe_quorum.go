// DescribeQuorum (key 55), versions 0-1.
//
// Describes the metadata log's Raft quorum (topic __cluster_metadata,
// partition 0): the leader (the active controller), its epoch (the Raft
// term), the high watermark (the commit index) and the voters. Like Kafka,
// only the leader describes the quorum; other voters answer
// NOT_LEADER_OR_FOLLOWER with the leader they know.
//
// The voters are the latest Raft configuration's (after AddRaftVoter and
// RemoveRaftVoter, not the configured bootstrap list); a node being added,
// which is a Raft non-voter until it has caught up, is listed among the
// observers. A follower's LogEndOffset is the leader's match index for it
// and its timestamps (v1) the leader's last successful append or heartbeat
// and the last time its log matched the leader's end (progress.go): the
// leader's view, rebuilt when it takes office, so -1 ("unknown", which
// the protocol allows) until the follower has answered an append in this
// term. The leader reports its own last log index and the current time.
//
// Broker-only nodes follow the metadata log as Raft non-voters
// (observers.go), so they are listed among the observers, with the same
// progress as voters. The broker of a combined node shares its voter's
// log and is listed once, as that voter.
//
// Deliberate deviation: version 2 (directory ids and every voter's
// listeners) is not served.

package controller

import (
	"context"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// MetadataTopic is the name under which the metadata log is described, as
// in KRaft.
const MetadataTopic = "__cluster_metadata"

// DescribeQuorum describes the controller quorum.
func (c *Controller) DescribeQuorum(_ context.Context, req *kmsg.DescribeQuorumRequest) (*kmsg.DescribeQuorumResponse, error) {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeQuorumResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewDescribeQuorumResponseTopicPartition()
			p.Partition = rp.Partition
			if rt.Topic != MetadataTopic || rp.Partition != 0 {
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				c.describeQuorumPartition(&p)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp, nil
}

func (c *Controller) describeQuorumPartition(p *kmsg.DescribeQuorumResponseTopicPartition) {
	p.LeaderID = -1
	_, leaderID := c.raft.LeaderWithID()
	if id, err := strconv.ParseInt(string(leaderID), 10, 32); err == nil {
		p.LeaderID = int32(id)
	}
	p.LeaderEpoch = int32(c.raft.CurrentTerm())
	if !c.IsLeader() {
		p.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	}
	p.HighWatermark = int64(c.raft.CommitIndex())
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		p.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	}
	now := time.Now()
	for _, s := range f.Configuration().Servers {
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil {
			continue
		}
		v := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		v.ReplicaID = int32(id)
		v.LogEndOffset, v.LastFetchTimestamp, v.LastCaughtUpTimestamp = -1, -1, -1
		if int32(id) == c.cfg.NodeID {
			v.LogEndOffset = int64(c.raft.LastIndex())
			v.LastFetchTimestamp, v.LastCaughtUpTimestamp = now.UnixMilli(), now.UnixMilli()
		} else if fp, ok := c.progress.get(s.ID); ok {
			if fp.known {
				v.LogEndOffset = int64(fp.match)
			}
			v.LastFetchTimestamp = unixMilliOrUnknown(fp.lastContact)
			v.LastCaughtUpTimestamp = unixMilliOrUnknown(fp.lastCaughtUp)
		}
		if s.Suffrage == raft.Voter {
			p.CurrentVoters = append(p.CurrentVoters, v)
		} else {
			p.Observers = append(p.Observers, v)
		}
	}
}

func unixMilliOrUnknown(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}
