package controller

// Partition reassignment (KIP-455, the KRaft way): the decisions behind
// AlterPartitionReassignments (api_45_alter_partition_reassignments.go) and
// the loop that completes reassignments.
//
// A reassignment of a partition from its current replicas R to a target T
// is one PartitionChangeRecord: replicas become T followed by the members
// of R not in T, AddingReplicas = T − R, RemovingReplicas = R − T; the ISR
// and the leader are unchanged. The adding replicas are replicas from then
// on: their brokers open the partition and fetch from the leader, and the
// leader adds each to the ISR through AlterPartition once it has caught
// up. A new target for a partition already being reassigned starts from
// its current (union) replicas, as Kafka's controller does, so a replica
// is never dropped from the ISR except by completion.
//
// The reassignment completes when every target replica is in the ISR
// (Kafka's classic rule; KRaft checks only the adding replicas): one
// record sets replicas = T, removes the dropped replicas from the ISR,
// clears AddingReplicas and RemovingReplicas, and, when the leader is
// dropped, moves leadership to the first target replica in the ISR that is
// not fenced (a new leader epoch). The brokers dropped stop hosting the
// partition and delete its data. A target already satisfied when it is
// asked for (a pure shrink, or a reorder) completes in the same batch.
//
// Cancelling (a null replica list) reverts to the replicas without the
// adding ones, removes the adding ones from the ISR and elects among the
// rest if the leader was an adding replica; it is refused when no ISR
// member would be left (that would need an unclean election).
//
// The completion decision is a pure function of the image
// (reassignmentRecords); the reassignment loop re-runs it on the active
// controller whenever the image changes and commits what it returns
// through the proposal slot, like the liveness loop.

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/metadata"
)

// reassignFencedIn returns a predicate that is true for a broker that is fenced or
// not registered in img.
func reassignFencedIn(img *metadata.Image) func(int32) bool {
	return func(id int32) bool {
		b, ok := img.Broker(id)
		return !ok || b.Fenced
	}
}

// validateTargetReplicas checks a requested replica list against img with
// Kafka's rules for a manual assignment.
func validateTargetReplicas(img *metadata.Image, target []int32) error {
	if len(target) == 0 {
		return errorf(kerr.InvalidReplicaAssignment, "the replica list is empty")
	}
	seen := make(map[int32]bool, len(target))
	for _, id := range target {
		if seen[id] {
			return errorf(kerr.InvalidReplicaAssignment, "the replica list %v names broker %d twice", target, id)
		}
		seen[id] = true
		if _, ok := img.Broker(id); !ok {
			return errorf(kerr.InvalidReplicaAssignment, "broker %d is not registered", id)
		}
	}
	return nil
}

// startReassignment returns the records that move partition p of topic t
// to target: the start of the reassignment, followed by its completion
// when the target is already in sync. It returns no record when the
// partition already has exactly that assignment.
func startReassignment(img *metadata.Image, t *metadata.Topic, p metadata.Partition, target []int32) ([]metadata.Record, error) {
	if err := validateTargetReplicas(img, target); err != nil {
		return nil, err
	}
	var adding, removing []int32
	replicas := slices.Clone(target)
	for _, id := range target {
		if !slices.Contains(p.Replicas, id) {
			adding = append(adding, id)
		}
	}
	for _, id := range p.Replicas {
		if !slices.Contains(target, id) {
			removing = append(removing, id)
			replicas = append(replicas, id)
		}
	}
	rec := &metadata.PartitionChangeRecord{TopicID: t.ID, Partition: p.ID}
	changed := false
	if !slices.Equal(replicas, p.Replicas) {
		rec.Replicas, changed = replicas, true
	}
	if !slices.Equal(adding, p.AddingReplicas) {
		rec.AddingReplicas, changed = orEmpty(adding), true
	}
	if !slices.Equal(removing, p.RemovingReplicas) {
		rec.RemovingReplicas, changed = orEmpty(removing), true
	}
	if !changed {
		return nil, nil
	}
	recs := []metadata.Record{rec}
	next := p
	next.Replicas, next.AddingReplicas, next.RemovingReplicas = replicas, adding, removing
	if !next.Reassigning() {
		return recs, nil // a reorder, or a target equal to the replicas now
	}
	if done := completeReassignment(t.ID, next, reassignFencedIn(img)); done != nil {
		recs = append(recs, done)
	}
	return recs, nil
}

// completeReassignment returns the record that completes p's reassignment,
// or nil while it cannot complete: a target replica is not in the ISR, or
// the leader is dropped and no target replica in the ISR can lead.
func completeReassignment(topicID [16]byte, p metadata.Partition, fenced func(int32) bool) *metadata.PartitionChangeRecord {
	target := p.TargetReplicas()
	for _, id := range target {
		if !slices.Contains(p.ISR, id) {
			return nil
		}
	}
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return !slices.Contains(target, id) })
	leader := p.Leader
	if !slices.Contains(target, leader) {
		leader = firstEligible(target, isr, fenced)
		if leader == metadata.NoLeader {
			return nil
		}
	}
	rec := &metadata.PartitionChangeRecord{TopicID: topicID, Partition: p.ID}
	if !slices.Equal(target, p.Replicas) {
		rec.Replicas = target
	}
	if !slices.Equal(isr, p.ISR) {
		rec.ISR = orEmpty(isr)
	}
	if leader != p.Leader {
		rec.Leader = &leader
	}
	if p.AddingReplicas != nil {
		rec.AddingReplicas = []int32{}
	}
	if p.RemovingReplicas != nil {
		rec.RemovingReplicas = []int32{}
	}
	return rec
}

// cancelReassignment returns the record that reverts p's reassignment.
func cancelReassignment(img *metadata.Image, t *metadata.Topic, p metadata.Partition) (*metadata.PartitionChangeRecord, error) {
	if !p.Reassigning() {
		return nil, errorf(kerr.NoReassignmentInProgress, "partition %s-%d is not being reassigned", t.Name, p.ID)
	}
	replicas := p.OriginalReplicas()
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return slices.Contains(p.AddingReplicas, id) })
	if len(isr) == 0 {
		return nil, errorf(kerr.InvalidReplicaAssignment,
			"cannot revert %s-%d: no original replica is in the ISR %v (that would need an unclean leader election)", t.Name, p.ID, p.ISR)
	}
	leader := p.Leader
	if !slices.Contains(isr, leader) {
		leader = firstEligible(replicas, isr, reassignFencedIn(img))
	}
	rec := &metadata.PartitionChangeRecord{
		TopicID: t.ID, Partition: p.ID, Replicas: replicas,
		AddingReplicas: []int32{}, RemovingReplicas: []int32{},
	}
	if !slices.Equal(isr, p.ISR) {
		rec.ISR = isr
	}
	if leader != p.Leader {
		rec.Leader = &leader
	}
	return rec, nil
}

// firstEligible is the first of replicas that is in isr and not fenced, or
// NoLeader.
func firstEligible(replicas, isr []int32, fenced func(int32) bool) int32 {
	for _, id := range replicas {
		if slices.Contains(isr, id) && !fenced(id) {
			return id
		}
	}
	return metadata.NoLeader
}

// orEmpty returns ids, or a non-nil empty slice for none (in a
// PartitionChangeRecord, nil means "unchanged").
func orEmpty(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

// reassignmentRecords returns the records that complete every reassignment
// of img that can complete, and whether reassignments remain in progress
// after them.
func reassignmentRecords(img *metadata.Image) (recs []metadata.Record, pending bool) {
	fenced := reassignFencedIn(img)
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if !p.Reassigning() {
				continue
			}
			if rec := completeReassignment(t.ID, p, fenced); rec != nil {
				recs = append(recs, rec)
			} else {
				pending = true
			}
		}
	}
	return recs, pending
}

// reassignPoll is how often the loop looks again while reassignments are
// in progress that it cannot complete now, or could not commit: it also
// covers this node becoming the active controller (the liveness loop
// takes that signal).
const reassignPoll = time.Second

// reassignLoop completes reassignments whenever the image changes, while
// this node is the active controller.
func (c *Controller) reassignLoop() {
	defer c.wg.Done()
	for {
		img, imageChanged := c.fsm.watch()
		var wake <-chan time.Time
		if c.applyReassignments(img) {
			wake = time.After(reassignPoll)
		}
		select {
		case <-c.stop:
			return
		case <-imageChanged:
		case <-wake:
		}
	}
}

// applyReassignments commits the completions due in img and reports
// whether to look again without an image change.
func (c *Controller) applyReassignments(img *metadata.Image) (again bool) {
	recs, pending := reassignmentRecords(img)
	if len(recs) == 0 || !c.IsLeader() {
		return pending || len(recs) > 0
	}
	var done []metadata.Record
	_, err := c.commit(context.Background(), func(img *metadata.Image) ([]metadata.Record, error) {
		done, _ = reassignmentRecords(img)
		return done, nil
	})
	if err != nil {
		select {
		case <-c.stop:
		default:
			c.log.Warn().Err(err).Msg("committing completed partition reassignments failed; retrying")
		}
		return true
	}
	for _, r := range done {
		pc := r.(*metadata.PartitionChangeRecord)
		ev := c.log.Info().Hex("topic_id", pc.TopicID[:]).Int32("partition", pc.Partition)
		if pc.Replicas != nil {
			ev = ev.Ints32("replicas", pc.Replicas)
		}
		if pc.Leader != nil {
			ev = ev.Int32("leader", *pc.Leader)
		}
		ev.Msg("partition reassignment completed")
	}
	return pending
}
