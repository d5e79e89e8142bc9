package protocol

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestErrorCode checks the error-code mapping rules of errors.go: success is
// 0; a *kerr.Error anywhere in a %w chain gives its own code; a deadline or
// cancellation is REQUEST_TIMED_OUT; anything else is UNKNOWN_SERVER_ERROR
// (-1), Kafka's code for an unexpected server error.
func TestErrorCode(t *testing.T) {
	wrapped := fmt.Errorf("replication: %w", fmt.Errorf("partition 3: %w", kerr.NotLeaderForPartition))
	cases := []struct {
		name string
		err  error
		want int16
	}{
		{"nil", nil, 0},
		{"kerr wrapped two levels", wrapped, kerr.NotLeaderForPartition.Code},
		{"kerr beside another error", errors.Join(errors.New("disk"), kerr.KafkaStorageError), kerr.KafkaStorageError.Code},
		{"context deadline", fmt.Errorf("append: %w", context.DeadlineExceeded), kerr.RequestTimedOut.Code},
		{"context canceled", context.Canceled, kerr.RequestTimedOut.Code},
		{"plain error", errors.New("boom"), kerr.UnknownServerError.Code},
	}
	for _, c := range cases {
		if got := ErrorCode(c.err); got != c.want {
			t.Errorf("%s: ErrorCode(%v) = %d, want %d", c.name, c.err, got, c.want)
		}
	}
	if ErrorMessage(nil) != nil {
		t.Error("ErrorMessage(nil) is not nil")
	}
	if m := ErrorMessage(wrapped); m == nil || *m != wrapped.Error() {
		t.Errorf("ErrorMessage(%v) = %v", wrapped, m)
	}
}
