// DescribeQuorum (key 55), versions 0-1.
//
// Describes the metadata log's Raft quorum (topic __cluster_metadata,
// partition 0): the leader (the active controller), its epoch (the Raft
// term), the high watermark (the commit index) and the voters. Like Kafka,
// only the leader describes the quorum; other voters answer
// NOT_LEADER_OR_FOLLOWER with the leader they know.
//
// Deliberate deviations: hashicorp/raft does not expose the leader's view
// of each follower's progress, so a follower's LogEndOffset and timestamps
// are -1 ("unknown", which the protocol allows); the leader's own
// LogEndOffset is its last log index. There are no observers: every node
// with a broker is a voter in this release. Version 2 (directory ids and
// every voter's listeners) is not served.

package controller

import (
	"context"
	"strconv"

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
	for _, s := range f.Configuration().Servers {
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil || s.Suffrage != raft.Voter {
			continue
		}
		v := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		v.ReplicaID = int32(id)
		v.LogEndOffset = -1
		if int32(id) == c.cfg.NodeID {
			v.LogEndOffset = int64(c.raft.LastIndex())
		}
		p.CurrentVoters = append(p.CurrentVoters, v)
	}
}
