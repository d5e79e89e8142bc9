package group

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/replication"
	"github.com/samsa-io/samsa/storage"
)

// offsetsPartition opens __consumer_offsets-0 in dir, led by node 1, on a
// real replication manager (closed at test end).
func offsetsPartition(t *testing.T, dir string) *replication.Partition {
	t.Helper()
	m, err := replication.NewManager(replication.ManagerConfig{NodeID: 1, LogDir: dir,
		Durability: storage.DurabilityPageCache, RetentionCheckInterval: time.Hour, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Apply(replication.PartitionSpec{
		TopicPartition: replication.TopicPartition{Topic: OffsetsTopic, Partition: 0},
		TopicID:        [16]byte{1},
		State:          replication.LeaderState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, Replicas: []int32{1}},
		Config:         replication.DefaultPartitionConfig(),
		Storage:        storage.DefaultConfig(""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestCoordinator(t *testing.T) *Coordinator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NumPartitions = 1
	cfg.InitialRebalanceDelay = 0
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	c, err := NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitLoaded waits until the coordinator serves group (its partition has
// loaded).
func waitLoaded(t *testing.T, c *Coordinator, group string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.shardFor(group)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("coordinator for %s not ready: %v", group, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func commitReq(group string, offset int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version, r.Group, r.Generation = 9, group, -1
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = "t"
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset = 0, offset
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)
	return r
}

func fetchOffset(t *testing.T, c *Coordinator, group string) (int64, int16) {
	t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 9
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = group
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic, gt.Partitions = "t", []int32{0}
	g.Topics = append(g.Topics, gt)
	r.Groups = append(r.Groups, g)
	resp := c.FetchOffsets(context.Background(), r)
	rg := resp.Groups[0]
	if rg.ErrorCode != 0 {
		return -1, rg.ErrorCode
	}
	return rg.Topics[0].Partitions[0].Offset, 0
}

func allExist(string, int32) *kerr.Error { return nil }

// Design decision 6: the coordinator rebuilds its state from the offsets
// partition when it becomes leader. A commit acknowledged by one
// coordinator is served by the next one on the same log, and a partition
// this broker no longer leads answers NOT_COORDINATOR.
func TestCoordinatorReloadsCommittedOffsetsFromTheLog(t *testing.T) {
	dir := t.TempDir()
	p := offsetsPartition(t, dir)
	c1 := newTestCoordinator(t)
	if _, err := fetchOffset(t, c1, "g"); err != kerr.NotCoordinator.Code {
		t.Fatalf("fetch before leadership: error %d, want NOT_COORDINATOR", err)
	}
	c1.SetLeadership(1, map[int32]Leadership{0: {Partition: p, Epoch: 0}})
	waitLoaded(t, c1, "g")
	for _, off := range []int64{5, 9} {
		resp := c1.CommitOffsets(context.Background(), commitReq("g", off), allExist)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("commit %d: error %d", off, code)
		}
	}
	if p.HighWatermark() != 2 {
		t.Fatalf("offsets partition high watermark %d, want 2 (one batch per commit)", p.HighWatermark())
	}
	c1.SetLeadership(1, nil)
	if _, err := fetchOffset(t, c1, "g"); err != kerr.NotCoordinator.Code {
		t.Fatalf("fetch after losing leadership: error %d, want NOT_COORDINATOR", err)
	}

	c2 := newTestCoordinator(t)
	c2.SetLeadership(1, map[int32]Leadership{0: {Partition: p, Epoch: 1}})
	waitLoaded(t, c2, "g")
	if off, err := fetchOffset(t, c2, "g"); err != 0 || off != 9 {
		t.Fatalf("after reload: offset %d error %d, want 9", off, err)
	}
}

// A JoinGroup waiting in a rebalance is answered NOT_COORDINATOR when the
// broker stops leading the group's partition, so the member finds the new
// coordinator.
func TestCoordinatorUnloadAnswersWaitingJoin(t *testing.T) {
	p := offsetsPartition(t, t.TempDir())
	c := newTestCoordinator(t)
	c.SetLeadership(1, map[int32]Leadership{0: {Partition: p, Epoch: 0}})
	waitLoaded(t, c, "g")
	join := func(member string) *kmsg.JoinGroupResponse {
		r := kmsg.NewPtrJoinGroupRequest()
		r.Version, r.Group, r.MemberID, r.ProtocolType = 9, "g", member, "consumer"
		r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 60000
		pr := kmsg.NewJoinGroupRequestProtocol()
		pr.Name, pr.Metadata = "range", consumerMeta("t")
		r.Protocols = append(r.Protocols, pr)
		return c.JoinGroup(context.Background(), r, "cl", "/127.0.0.1")
	}
	first := join("")
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: error %d, want MEMBER_ID_REQUIRED", first.ErrorCode)
	}
	a := join(first.MemberID)
	if a.ErrorCode != 0 || a.Generation != 1 {
		t.Fatalf("join: error %d generation %d", a.ErrorCode, a.Generation)
	}
	// Second member: its join waits for the first to rejoin.
	second := join("")
	done := make(chan *kmsg.JoinGroupResponse)
	go func() { done <- join(second.MemberID) }()
	deadline := time.Now().Add(10 * time.Second)
	for c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Groups: []string{"g"}}, nil).Groups[0].State != "PreparingRebalance" {
		if time.Now().After(deadline) {
			t.Fatal("the second join did not start a rebalance")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.SetLeadership(1, nil)
	select {
	case resp := <-done:
		if resp.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("waiting join: error %d, want NOT_COORDINATOR", resp.ErrorCode)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiting join not answered after unload")
	}
}

// While a newly led partition loads, its groups answer
// COORDINATOR_LOAD_IN_PROGRESS (clients retry), then they are served.
func TestCoordinatorAnswersLoadInProgressUntilLoaded(t *testing.T) {
	p := offsetsPartition(t, t.TempDir())
	c := newTestCoordinator(t)
	// A previous shard of the partition that has not finished stopping
	// holds the load back.
	previous := &shard{done: make(chan struct{})}
	c.mu.last[0] = previous
	c.SetLeadership(1, map[int32]Leadership{0: {Partition: p, Epoch: 0}})
	if _, err := fetchOffset(t, c, "g"); err != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("fetch while loading: error %d, want COORDINATOR_LOAD_IN_PROGRESS", err)
	}
	close(previous.done)
	waitLoaded(t, c, "g")
	if off, err := fetchOffset(t, c, "g"); err != 0 || off != -1 {
		t.Fatalf("fetch once loaded: offset %d error %d, want -1 and no error", off, err)
	}
}
