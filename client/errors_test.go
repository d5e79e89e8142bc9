package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestIsRetriableClassifies(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrClosed, false},
		{invalidf("x"), false},
		{context.Canceled, false},
		{&SerdeError{Err: errors.New("bad json")}, false},
		{kerr.MessageTooLarge, false},
		{kerr.TopicAuthorizationFailed, false},
		{context.DeadlineExceeded, true},
		{kgo.ErrRecordTimeout, true},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.NotLeaderForPartition), true},
		{kerr.NotLeaderForPartition, true},
		{kerr.NotEnoughReplicas, true},
		{kerr.RebalanceInProgress, true},
		{kerr.IllegalGeneration, true},
		{&PartitionError{Op: "produce to", Topic: "t", Partition: 1, Offset: -1, Err: kerr.LeaderNotAvailable}, true},
		{&PartitionError{Op: "produce to", Topic: "t", Partition: 1, Offset: -1, Err: fmt.Errorf("%w: %w", ErrClosed, kgo.ErrClientClosed)}, false},
		// A coordinator that died refuses connections until another one
		// takes over; an unknown host does not get better.
		{fmt.Errorf("commit: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Name: "nowhere.invalid", IsNotFound: true}}, false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.EACCES}, false},
	} {
		if got := IsRetriable(tc.err); got != tc.want {
			t.Errorf("IsRetriable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// A partition error names where it happened, keeps its kerr value, and
// says what to do when the remedy is known.
func TestPartitionErrorSaysWhereAndWhat(t *testing.T) {
	err := error(&PartitionError{Op: "commit", Topic: "t", Partition: 2, Offset: 7, Err: kerr.MessageTooLarge})
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("%v lost its kerr value", err)
	}
	msg := err.Error()
	for _, want := range []string{`commit "t" partition 2 offset 7: MESSAGE_TOO_LARGE`, "max.message.bytes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if got := (&PartitionError{Op: "consume", Topic: "t", Partition: -1, Offset: -1, Err: errors.New("x")}).Error(); got != `consume "t": x` {
		t.Errorf("message %q", got)
	}
}
