package metadata

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrCorrupt marks every error returned by DecodeBatch and DecodeSnapshot:
	// truncated input, bad framing, out-of-range values, trailing bytes.
	ErrCorrupt = errors.New("metadata: corrupt encoding")
	// ErrUnsupportedVersion is returned (wrapped together with ErrCorrupt)
	// when a record carries a version newer than this binary understands.
	ErrUnsupportedVersion = errors.New("metadata: unsupported record version")
	// ErrUnknownRecordType is returned (wrapped together with ErrCorrupt)
	// when a record type id is not known to this binary.
	ErrUnknownRecordType = errors.New("metadata: unknown record type")
	// ErrInconsistent marks every error returned by Image.Apply: the batch
	// refers to state that does not exist or contradicts the image (a
	// partition of an unknown topic, a duplicate topic name, ...). The image
	// is left unchanged; the batch is rejected as a whole.
	ErrInconsistent = errors.New("metadata: batch inconsistent with image")
)

// kafkaError is an error that carries a Kafka error code (found by errors.As
// on *kerr.Error) and a message meant for the client. Its Error() is the
// message alone, so it can be put verbatim into a response's ErrorMessage.
type kafkaError struct {
	code *kerr.Error
	msg  string
}

func (e *kafkaError) Error() string { return e.msg }
func (e *kafkaError) Unwrap() error { return e.code }

// kafkaErrorf returns an error wrapping code whose message is the formatted
// text.
func kafkaErrorf(code *kerr.Error, format string, args ...any) error {
	return &kafkaError{code: code, msg: fmt.Sprintf(format, args...)}
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func inconsistentf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInconsistent}, args...)...)
}
