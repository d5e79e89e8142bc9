package client

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerInfo is one live broker as the cluster describes it.
type BrokerInfo struct {
	ID   int32
	Host string
	Port int32
	Rack string // "" when none
}

// ClusterInfo is what DescribeCluster reports.
type ClusterInfo struct {
	ClusterID string
	// Brokers are the live (registered, unfenced) brokers, by id.
	Brokers []BrokerInfo
}

// QuorumMember is one member of the metadata quorum.
type QuorumMember struct {
	ID int32
	// LogEndOffset is the member's end of the metadata log as the leader
	// knows it, -1 when unknown.
	LogEndOffset int64
}

// QuorumInfo describes the controller quorum that holds the metadata log.
type QuorumInfo struct {
	LeaderID      int32 // the active controller, -1 if none
	LeaderEpoch   int32
	HighWatermark int64
	Voters        []QuorumMember
	Observers     []QuorumMember
}

// DescribeCluster asks a broker for the cluster id and the live brokers
// (DescribeCluster, KIP-700).
func (a *Admin) DescribeCluster(ctx context.Context) (ClusterInfo, error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 1 // brokers
	resp, err := req.RequestWith(ctx, a.kcl)
	if err != nil {
		return ClusterInfo{}, fmt.Errorf("describe cluster: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return ClusterInfo{}, fmt.Errorf("describe cluster: %w%s", err, msgSuffix(resp.ErrorMessage))
	}
	info := ClusterInfo{ClusterID: resp.ClusterID}
	for _, b := range resp.Brokers {
		bi := BrokerInfo{ID: b.NodeID, Host: b.Host, Port: b.Port}
		if b.Rack != nil {
			bi.Rack = *b.Rack
		}
		info.Brokers = append(info.Brokers, bi)
	}
	sort.Slice(info.Brokers, func(i, j int) bool { return info.Brokers[i].ID < info.Brokers[j].ID })
	return info, nil
}

// metadataLog is the name of the metadata log in DescribeQuorum.
const metadataLog = "__cluster_metadata"

// DescribeQuorum describes the controller quorum (DescribeQuorum, KIP-595),
// which the broker forwards to the active controller.
func (a *Admin) DescribeQuorum(ctx context.Context) (QuorumInfo, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = metadataLog
	t.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{t}
	resp, err := req.RequestWith(ctx, a.kcl)
	if err != nil {
		return QuorumInfo{}, fmt.Errorf("describe quorum: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return QuorumInfo{}, fmt.Errorf("describe quorum: %w%s", err, msgSuffix(resp.ErrorMessage))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return QuorumInfo{}, fmt.Errorf("describe quorum: the answer does not describe %s", metadataLog)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return QuorumInfo{}, fmt.Errorf("describe quorum: %w%s", err, msgSuffix(p.ErrorMessage))
	}
	members := func(states []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) []QuorumMember {
		var out []QuorumMember
		for _, s := range states {
			out = append(out, QuorumMember{ID: s.ReplicaID, LogEndOffset: s.LogEndOffset})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out
	}
	return QuorumInfo{
		LeaderID: p.LeaderID, LeaderEpoch: p.LeaderEpoch, HighWatermark: p.HighWatermark,
		Voters: members(p.CurrentVoters), Observers: members(p.Observers),
	}, nil
}

func msgSuffix(msg *string) string {
	if msg == nil || *msg == "" {
		return ""
	}
	return ": " + *msg
}
