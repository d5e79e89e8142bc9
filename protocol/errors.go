package protocol

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Errors returned by the framing and header decoders.
var (
	// ErrFrameTooLarge is returned when a frame's length exceeds the
	// configured limit; the frame is not read.
	ErrFrameTooLarge = errors.New("protocol: frame larger than socket.request.max.bytes")
	// ErrMalformedFrame is returned for a negative or too short length, or a
	// request header that does not decode.
	ErrMalformedFrame = errors.New("protocol: malformed frame")
	// ErrUnsupportedAPI is returned for an API key or version the listener
	// does not serve.
	ErrUnsupportedAPI = errors.New("protocol: unsupported API key or version")
)

// ErrorCode turns a Go error into the Kafka error code to put in a response.
// It is the one place in Samsa that makes that decision: packages below the
// broker wrap the matching *kerr.Error in their sentinel errors, so errors.As
// finds the code wherever in the chain it is.
func ErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
}

// ErrorMessage returns the message to put beside ErrorCode(err) in responses
// that carry one, or nil for success.
func ErrorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
