package controller

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterISR sends one AlterPartition (v3) for partition 0 of topic.
func alterISR(t *testing.T, c *Controller, broker int32, epoch int64, topic [16]byte, leaderEpoch, partitionEpoch int32, isr ...int32) kmsg.AlterPartitionResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrAlterPartitionRequest()
	req.SetVersion(3)
	req.BrokerID, req.BrokerEpoch = broker, epoch
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.LeaderEpoch, rp.PartitionEpoch = leaderEpoch, partitionEpoch
	for _, id := range isr {
		m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
		m.BrokerID, m.BrokerEpoch = id, -1
		rp.NewEpochISR = append(rp.NewEpochISR, m)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.AlterPartition(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		out := kmsg.NewAlterPartitionResponseTopicPartition()
		out.ErrorCode = resp.ErrorCode
		return out
	}
	return resp.Topics[0].Partitions[0]
}

// TestAlterPartition checks that the controller commits an ISR change only
// from the current leader at the current leader and partition epochs, with
// the leader in the new ISR and only replicas in it, and that each commit
// bumps the partition epoch (not the leader epoch).
func TestAlterPartition(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	epochs := register(t, c, 3)
	created := createTopic(t, c, "isr", 1, 3, nil)
	p := c.Image().Topics()[0].Partitions[0]
	leader, le, pe := p.Leader, p.LeaderEpoch, p.PartitionEpoch
	follower := p.Replicas[1]
	leaderEpochOf := func(id int32) int64 { return epochs[id-1] }
	shrunk := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return id == follower })
	slices.Sort(shrunk)

	bad := []struct {
		what   string
		broker int32
		epoch  int64
		le, pe int32
		isr    []int32
		want   *kerr.Error
	}{
		{"stale broker epoch", leader, leaderEpochOf(leader) + 100, le, pe, shrunk, kerr.StaleBrokerEpoch},
		{"not the leader", follower, leaderEpochOf(follower), le, pe, shrunk, kerr.NotLeaderForPartition},
		{"old leader epoch", leader, leaderEpochOf(leader), le - 1, pe, shrunk, kerr.FencedLeaderEpoch},
		{"stale partition epoch", leader, leaderEpochOf(leader), le, pe - 1, shrunk, kerr.InvalidUpdateVersion},
		{"leader not in ISR", leader, leaderEpochOf(leader), le, pe, []int32{follower}, kerr.InvalidRequest},
		{"not a replica", leader, leaderEpochOf(leader), le, pe, append(slices.Clone(p.ISR), 99), kerr.IneligibleReplica},
	}
	for _, b := range bad {
		got := alterISR(t, c, b.broker, b.epoch, created.TopicID, b.le, b.pe, b.isr...)
		if got.ErrorCode != b.want.Code {
			t.Errorf("%s: code %d, want %s", b.what, got.ErrorCode, b.want.Message)
		}
	}
	if p2 := c.Image().Topics()[0].Partitions[0]; p2.PartitionEpoch != pe || !slices.Equal(p2.ISR, p.ISR) {
		t.Fatalf("refused changes altered the partition: %+v", p2)
	}

	got := alterISR(t, c, leader, leaderEpochOf(leader), created.TopicID, le, pe, shrunk...)
	if got.ErrorCode != 0 || got.PartitionEpoch != pe+1 || got.LeaderEpoch != le || !slices.Equal(got.ISR, shrunk) {
		t.Fatalf("shrink: %+v, want ISR %v at partition epoch %d", got, shrunk, pe+1)
	}
	// The same proposal again is now stale.
	if again := alterISR(t, c, leader, leaderEpochOf(leader), created.TopicID, le, pe, shrunk...); again.ErrorCode != kerr.InvalidUpdateVersion.Code {
		t.Errorf("replayed proposal: code %d, want INVALID_UPDATE_VERSION", again.ErrorCode)
	}
	// Expanding back at the new partition epoch works.
	got = alterISR(t, c, leader, leaderEpochOf(leader), created.TopicID, le, pe+1, p.ISR...)
	if got.ErrorCode != 0 || got.PartitionEpoch != pe+2 || len(got.ISR) != 3 {
		t.Fatalf("expand: %+v", got)
	}
}
