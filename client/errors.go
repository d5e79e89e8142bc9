package client

// Error classes: which failures are worth retrying, and what to tell the
// user to do about the others.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// PartitionError is a failure concerning one partition, or one record of
// it: a produce that was not delivered, a fetch error, a commit refused. It
// says where (topic, partition, offset) and unwraps to the cause, which
// keeps its franz-go kerr value: errors.Is(err, kerr.MessageTooLarge).
//
// Its message ends with advice for the causes that have an obvious remedy
// (a record too large, a missing topic, a denied ACL).
type PartitionError struct {
	// Op is what failed: "produce to", "consume", "commit".
	Op    string
	Topic string
	// Partition is -1 when none was chosen yet (a record refused before
	// the partitioner ran) or the failure concerns the whole topic.
	Partition int32
	// Offset is the record's or the commit's offset, -1 when there is none.
	Offset int64
	Err    error
}

func (e *PartitionError) Error() string {
	msg := fmt.Sprintf("%s %q", e.Op, e.Topic)
	if e.Partition >= 0 {
		msg += fmt.Sprintf(" partition %d", e.Partition)
	}
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" offset %d", e.Offset)
	}
	msg += ": " + e.Err.Error()
	if a := advice(e.Err); a != "" {
		msg += " (" + a + ")"
	}
	return msg
}

func (e *PartitionError) Unwrap() error { return e.Err }

// Retriable reports whether doing the same thing again may succeed; see
// IsRetriable.
func (e *PartitionError) Retriable() bool { return IsRetriable(e.Err) }

// IsRetriable reports whether err is a failure that can pass by itself, so
// that doing the same thing again (producing the record again, calling
// Consume again) may succeed: a leader or coordinator moving, too few
// in-sync replicas for a while, a broker unreachable, a delivery or request
// timeout, a group rebalancing under a commit.
//
// It is false for failures that repeat until something is changed: a
// record too large, an authorization denied, an invalid argument, a serde
// error, a closed client, a canceled context.
//
// Retrying a produce whose outcome is unknown (a timeout) may write the
// record twice; an idempotent producer only prevents duplicates within its
// own retries.
func IsRetriable(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, ErrClosed),
		errors.Is(err, ErrInvalidArgument),
		errors.Is(err, context.Canceled):
		return false
	}
	var se *SerdeError
	if errors.As(err, &se) {
		return false
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, kgo.ErrRecordTimeout),
		errors.Is(err, kgo.ErrRecordRetries),
		errors.Is(err, kgo.ErrMaxBuffered),
		// A commit refused because the group moved on: the records
		// are delivered again, to this member or the next owner.
		errors.Is(err, kerr.RebalanceInProgress),
		errors.Is(err, kerr.IllegalGeneration),
		errors.Is(err, kerr.UnknownMemberID):
		return true
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable
	}
	if isRetriableDial(err) {
		return true
	}
	return kgo.IsRetryableBrokerErr(err)
}

// isRetriableDial reports a failed connection attempt that a retry can
// fix: a broker that is restarting or was just replaced refuses or drops
// connections until another takes over. (kgo leaves dial errors out of
// IsRetryableBrokerErr because it retries them itself; the group consumer
// sees them when a coordinator dies.) An unknown host or a refused
// permission stays fatal.
func isRetriableDial(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return false
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return false
	}
	return !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM)
}

// advice returns what to do about err, for the causes with an obvious
// remedy, or "".
func advice(err error) string {
	switch {
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return "fatal: the record is larger than the topic accepts; send smaller records or raise the topic's max.message.bytes"
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return "the topic or partition does not exist: create it or fix the name; retrying helps only while it is being created"
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.ClusterAuthorizationFailed), errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return "fatal: not authorized; grant the principal the ACL"
	case errors.Is(err, kerr.NotEnoughReplicas), errors.Is(err, kerr.NotEnoughReplicasAfterAppend):
		return "retriable: too few in-sync replicas for min.insync.replicas"
	case errors.Is(err, kgo.ErrRecordTimeout):
		return "retriable: not delivered within the delivery timeout; the cluster may be unreachable, and a retry may duplicate the record"
	case errors.Is(err, kerr.RebalanceInProgress), errors.Is(err, kerr.IllegalGeneration), errors.Is(err, kerr.UnknownMemberID):
		return "the group rebalanced: the uncommitted records are delivered again"
	}
	return ""
}
