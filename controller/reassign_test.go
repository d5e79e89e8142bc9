package controller

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
)

// reassign sends one AlterPartitionReassignments for partition 0 of each
// topic (a nil target cancels) and returns the per-partition error codes.
func reassign(t *testing.T, c *Controller, targets map[string][]int32) map[string]int16 {
	t.Helper()
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	for _, topic := range sortedKeys(targets) {
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Replicas = targets[topic]
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := c.AlterPartitionReassignments(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("AlterPartitionReassignments: code %d %s", resp.ErrorCode, deref(resp.ErrorMessage))
	}
	codes := map[string]int16{}
	for _, rt := range resp.Topics {
		codes[rt.Topic] = rt.Partitions[0].ErrorCode
	}
	return codes
}

// listReassignments returns ListPartitionReassignments' answer for every
// partition, keyed "topic-partition".
func listReassignments(t *testing.T, c *Controller) map[string]kmsg.ListPartitionReassignmentsResponseTopicPartition {
	t.Helper()
	resp, err := c.ListPartitionReassignments(ctx(t), kmsg.NewPtrListPartitionReassignmentsRequest())
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ListPartitionReassignments: %v, code %d", err, resp.ErrorCode)
	}
	out := map[string]kmsg.ListPartitionReassignmentsResponseTopicPartition{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out[fmt.Sprintf("%s-%d", rt.Topic, rp.Partition)] = rp
		}
	}
	return out
}

func partitionOf(c *Controller, topic string) metadata.Partition {
	t, _ := c.Image().TopicByName(topic)
	return t.Partitions[0]
}

// notIn returns the first broker of 1..n that is not in ids.
func notIn(n int32, ids ...int32) int32 {
	for id := int32(1); id <= n; id++ {
		if !slices.Contains(ids, id) {
			return id
		}
	}
	return -1
}

// TestReassignmentMovesReplicaAndLeader follows KIP-455 on a real Raft
// controller: the start makes replicas the union with adding and removing
// recorded (leader and ISR unchanged), the list shows it, the new replica
// joins the ISR through the leader's AlterPartition, and the controller
// then completes on its own: replicas = target, the dropped leader out of
// the ISR and leadership moved to the first target replica in the ISR at a
// new leader epoch.
func TestReassignmentMovesReplicaAndLeader(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	epochs := register(t, c, 4)
	created := createTopic(t, c, "move", 1, 2, nil)
	p := partitionOf(c, "move")
	leader := p.Leader
	follower := p.Replicas[0]
	if follower == leader {
		follower = p.Replicas[1]
	}
	added := notIn(4, p.Replicas...)
	target := []int32{added, follower}

	if codes := reassign(t, c, map[string][]int32{"move": target}); codes["move"] != 0 {
		t.Fatalf("start: code %d", codes["move"])
	}
	started := partitionOf(c, "move")
	if !slices.Equal(started.Replicas, []int32{added, follower, leader}) || !slices.Equal(started.AddingReplicas, []int32{added}) ||
		!slices.Equal(started.RemovingReplicas, []int32{leader}) || started.Leader != leader ||
		started.LeaderEpoch != p.LeaderEpoch || !slices.Equal(started.ISR, p.ISR) {
		t.Fatalf("after the start: %+v (was %+v)", started, p)
	}
	l := listReassignments(t, c)
	if got := l["move-0"]; len(l) != 1 || !slices.Equal(got.Replicas, started.Replicas) ||
		!slices.Equal(got.AddingReplicas, []int32{added}) || !slices.Equal(got.RemovingReplicas, []int32{leader}) {
		t.Fatalf("list: %+v", l)
	}

	isr := append(slices.Clone(started.ISR), added)
	got := alterISR(t, c, leader, epochs[leader-1], created.TopicID, started.LeaderEpoch, started.PartitionEpoch, isr...)
	if got.ErrorCode != 0 {
		t.Fatalf("AlterPartition adding %d: code %d", added, got.ErrorCode)
	}
	waitFor(t, 10*time.Second, func() error {
		if now := partitionOf(c, "move"); now.Reassigning() {
			return fmt.Errorf("still reassigning: %+v", now)
		}
		return nil
	})
	done := partitionOf(c, "move")
	wantISR := []int32{added, follower}
	slices.Sort(wantISR)
	doneISR := slices.Clone(done.ISR)
	slices.Sort(doneISR)
	if !slices.Equal(done.Replicas, target) || !slices.Equal(doneISR, wantISR) || done.Leader != added ||
		done.LeaderEpoch != started.LeaderEpoch+1 || done.AddingReplicas != nil || done.RemovingReplicas != nil {
		t.Fatalf("after completion: %+v, want replicas %v, ISR %v, leader %d at epoch %d", done, target, wantISR, added, started.LeaderEpoch+1)
	}
	if l := listReassignments(t, c); len(l) != 0 {
		t.Fatalf("list after completion: %+v", l)
	}
}

// TestReassignmentCancelAndValidation checks the refusals (KIP-455 error
// codes), that a null replica list reverts a reassignment in progress, and
// that a target already in sync (a shrink) completes in the request's own
// batch.
func TestReassignmentCancelAndValidation(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	register(t, c, 4)
	createTopic(t, c, "c", 1, 2, nil)
	createTopic(t, c, "shrink", 1, 2, nil)
	p := partitionOf(c, "c")
	added := notIn(4, p.Replicas...)

	codes := reassign(t, c, map[string][]int32{
		"missing": {1},
		"shrink":  {},
		"c":       {added, added},
	})
	want := map[string]*kerr.Error{
		"missing": kerr.UnknownTopicOrPartition,
		"shrink":  kerr.InvalidReplicaAssignment,
		"c":       kerr.InvalidReplicaAssignment,
	}
	for topic, w := range want {
		if codes[topic] != w.Code {
			t.Errorf("%s: code %d, want %s", topic, codes[topic], w.Message)
		}
	}
	if codes := reassign(t, c, map[string][]int32{"c": {1, 99}}); codes["c"] != kerr.InvalidReplicaAssignment.Code {
		t.Errorf("unregistered broker: code %d", codes["c"])
	}
	if codes := reassign(t, c, map[string][]int32{"c": nil}); codes["c"] != kerr.NoReassignmentInProgress.Code {
		t.Errorf("cancel without a reassignment: code %d", codes["c"])
	}
	if now := partitionOf(c, "c"); now.PartitionEpoch != p.PartitionEpoch {
		t.Fatalf("refused requests changed the partition: %+v", now)
	}

	target := append(slices.Clone(p.Replicas), added)
	if codes := reassign(t, c, map[string][]int32{"c": target}); codes["c"] != 0 {
		t.Fatalf("start: code %d", codes["c"])
	}
	if now := partitionOf(c, "c"); !slices.Equal(now.Replicas, target) || !slices.Equal(now.AddingReplicas, []int32{added}) {
		t.Fatalf("after the start: %+v", now)
	}
	if codes := reassign(t, c, map[string][]int32{"c": nil}); codes["c"] != 0 {
		t.Fatalf("cancel: code %d", codes["c"])
	}
	if now := partitionOf(c, "c"); now.Reassigning() || !slices.Equal(now.Replicas, p.Replicas) ||
		!slices.Equal(now.ISR, p.ISR) || now.Leader != p.Leader {
		t.Fatalf("after the cancel: %+v, want the original %+v", now, p)
	}

	s := partitionOf(c, "shrink")
	if codes := reassign(t, c, map[string][]int32{"shrink": s.Replicas[1:]}); codes["shrink"] != 0 {
		t.Fatalf("shrink: code %d", codes["shrink"])
	}
	if now := partitionOf(c, "shrink"); now.Reassigning() || !slices.Equal(now.Replicas, s.Replicas[1:]) ||
		!slices.Equal(now.ISR, s.Replicas[1:]) || now.Leader != s.Replicas[1] {
		t.Fatalf("after the shrink: %+v", now)
	}
}

// TestReassignmentDuplicatePartitionRefused: a partition named twice in one
// request is refused on both entries rather than decided twice.
func TestReassignmentDuplicatePartitionRefused(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	register(t, c, 3)
	createTopic(t, c, "d", 1, 1, nil)
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = "d"
	for _, target := range [][]int32{{1}, {2}} {
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Replicas = target
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := c.AlterPartitionReassignments(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range resp.Topics[0].Partitions {
		if rp.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("duplicate entry: code %d, want INVALID_REQUEST", rp.ErrorCode)
		}
	}
}

// TestCompleteReassignmentRules checks the completion decision as a pure
// function: it waits for every target replica to be in the ISR, and, when
// the leader is dropped, for a target replica in the ISR that may lead.
func TestCompleteReassignmentRules(t *testing.T) {
	topic := [16]byte{7}
	img := imageOf(t,
		[]metadata.Record{registration(1, 1, false), registration(2, 2, false), registration(3, 3, true)},
		[]metadata.Record{
			&metadata.TopicRecord{ID: topic, Name: "t"},
			// 1 -> 3: 3 not in the ISR yet.
			&metadata.PartitionRecord{TopicID: topic, Partition: 0, Replicas: []int32{3, 1}, ISR: []int32{1}, Leader: 1,
				AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}},
			// 1 -> 3: 3 in the ISR but fenced, and the leader is dropped.
			&metadata.PartitionRecord{TopicID: topic, Partition: 1, Replicas: []int32{3, 1}, ISR: []int32{1, 3}, Leader: 1,
				AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}},
			// [1 2] -> [2 3]... as [2 1]: the leader 1 is dropped, 2 takes over.
			&metadata.PartitionRecord{TopicID: topic, Partition: 2, Replicas: []int32{2, 1}, ISR: []int32{1, 2}, Leader: 1,
				RemovingReplicas: []int32{1}},
		},
	)
	recs, pending := reassignmentRecords(img)
	if !pending || len(recs) != 1 {
		t.Fatalf("records %v, pending %v; want one completion and others pending", recs, pending)
	}
	rec := recs[0].(*metadata.PartitionChangeRecord)
	if rec.Partition != 2 || !slices.Equal(rec.Replicas, []int32{2}) || !slices.Equal(rec.ISR, []int32{2}) ||
		rec.Leader == nil || *rec.Leader != 2 || rec.AddingReplicas != nil || rec.RemovingReplicas == nil || len(rec.RemovingReplicas) != 0 {
		t.Fatalf("completion %+v", rec)
	}
}
