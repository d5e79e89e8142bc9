package client

// Partition reassignment (KIP-455): AlterPartitionReassignments (key 45)
// starts or cancels moves of partition replicas between brokers, and
// ListPartitionReassignments (key 46) shows the moves in progress.
//
// The requests are built here rather than through kadm: kadm sends nothing
// for an empty topic set, where Kafka's request means "every partition",
// and it keys moves by partition, so a plan naming one partition twice
// would lose one silently instead of being refused.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Reassignment is a requested move of one partition: Replicas are the
// target brokers, preferred leader first. Nil Replicas cancels the move in
// progress, reverting to the replicas from before it.
type Reassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// ReassignmentResult is the cluster's answer for one Reassignment: Err is
// nil when the move started (or was cancelled), and otherwise says why
// not, with the cluster's explanation.
type ReassignmentResult struct {
	Reassignment
	Err error
}

// PartitionReassignment is a move in progress: Replicas is the union of
// the old and the target replicas while it lasts, AddingReplicas are the
// targets still copying the partition, RemovingReplicas the brokers that
// leave it once they have.
type PartitionReassignment struct {
	Topic            string
	Partition        int32
	Replicas         []int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// AlterPartitionReassignments starts (or cancels) the moves in one
// request and returns each partition's result, in the order given. The
// error is for the request as a whole; a partition the cluster refused has
// its own Err. A move returns once it has started: the targets copy the
// partition in the background, and ListPartitionReassignments shows them
// until every target is in sync.
func (a *Admin) AlterPartitionReassignments(ctx context.Context, moves []Reassignment) ([]ReassignmentResult, error) {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	seen := map[topicPartition]bool{}
	for _, m := range moves {
		if err := checkTopicName(m.Topic); err != nil {
			return nil, fmt.Errorf("alter partition reassignments: %w", err)
		}
		tp := topicPartition{m.Topic, m.Partition}
		switch {
		case m.Partition < 0:
			return nil, invalidf("alter partition reassignments: %s partition %d", m.Topic, m.Partition)
		case seen[tp]:
			return nil, invalidf("alter partition reassignments: %s-%d is named twice", m.Topic, m.Partition)
		case m.Replicas != nil && len(m.Replicas) == 0:
			return nil, invalidf("alter partition reassignments: %s-%d has no target replicas (nil cancels)", m.Topic, m.Partition)
		}
		seen[tp] = true
		i := slices.IndexFunc(req.Topics, func(t kmsg.AlterPartitionAssignmentsRequestTopic) bool { return t.Topic == m.Topic })
		if i < 0 {
			rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			rt.Topic = m.Topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
		}
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = m.Partition, m.Replicas
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	if len(moves) == 0 {
		return nil, nil
	}
	resp, err := req.RequestWith(ctx, a.kcl)
	if err != nil {
		return nil, fmt.Errorf("alter partition reassignments: %w", err)
	}
	if err := errWithMessage(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, fmt.Errorf("alter partition reassignments: %w", err)
	}
	errs := map[topicPartition]error{}
	answered := map[topicPartition]bool{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			tp := topicPartition{rt.Topic, rp.Partition}
			answered[tp] = true
			errs[tp] = errWithMessage(rp.ErrorCode, rp.ErrorMessage)
		}
	}
	out := make([]ReassignmentResult, 0, len(moves))
	for _, m := range moves {
		tp := topicPartition{m.Topic, m.Partition}
		r := ReassignmentResult{Reassignment: m, Err: errs[tp]}
		if !answered[tp] {
			r.Err = fmt.Errorf("the cluster did not answer for %s-%d", m.Topic, m.Partition)
		}
		out = append(out, r)
	}
	return out, nil
}

// ListPartitionReassignments returns the moves in progress, sorted by
// topic and partition: of the topics named, or of every topic when none
// is. A named topic that does not exist fails with
// kerr.UnknownTopicOrPartition.
func (a *Admin) ListPartitionReassignments(ctx context.Context, topics ...string) ([]PartitionReassignment, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	if len(topics) > 0 {
		for _, name := range topics {
			if err := checkTopicName(name); err != nil {
				return nil, fmt.Errorf("list partition reassignments: %w", err)
			}
		}
		// The request lists only the partitions it names: name them all.
		md, err := a.metadata(ctx, topics)
		if err != nil {
			return nil, fmt.Errorf("list partition reassignments: %w", err)
		}
		for _, t := range md.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
				return nil, fmt.Errorf("list partition reassignments: topic %q: %w", name, err)
			}
			rt := kmsg.NewListPartitionReassignmentsRequestTopic()
			rt.Topic = name
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, p.Partition)
			}
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(ctx, a.kcl)
	if err != nil {
		return nil, fmt.Errorf("list partition reassignments: %w", err)
	}
	if err := errWithMessage(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, fmt.Errorf("list partition reassignments: %w", err)
	}
	var out []PartitionReassignment
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out = append(out, PartitionReassignment{rt.Topic, rp.Partition, rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas})
		}
	}
	slices.SortFunc(out, func(a, b PartitionReassignment) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out, nil
}

// errWithMessage is the error for code, with the cluster's message
// appended when it sent one; nil for no error.
func errWithMessage(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil || msg == nil || *msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, *msg)
}

// topicPartition names one partition, as a map key.
type topicPartition struct {
	topic     string
	partition int32
}
