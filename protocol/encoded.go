package protocol

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Part is one piece of an encoded response body: bytes, or a region of a
// file. The server sends file regions with sendfile(2) where the platform
// has it, so record data reaches the socket without passing through user
// space.
type Part struct {
	Bytes  []byte
	File   *os.File
	Offset int64
	Length int64
}

// Len is the number of bytes the part contributes to the body.
func (p Part) Len() int64 {
	if p.File != nil {
		return p.Length
	}
	return int64(len(p.Bytes))
}

// EncodedResponse is a response body that a handler encoded itself, in
// parts (the Fetch handler does, to send record data from segment files).
// It satisfies kmsg.Response so it travels through Later like any other
// answer; the server writes its parts as they are.
type EncodedResponse struct {
	key, version int16
	flexible     bool
	// Parts is the body after the response header.
	Parts []Part
	// Release, if set, is called exactly once after the parts were
	// written or the response was dropped; file regions must stay valid
	// until then.
	Release func()
}

// NewEncodedResponse returns an empty encoded response for a key and
// version; flexible says whether the response header carries tags (the
// response is a flexible version of its API).
func NewEncodedResponse(key, version int16, flexible bool) *EncodedResponse {
	return &EncodedResponse{key: key, version: version, flexible: flexible}
}

// Key implements kmsg.Response.
func (r *EncodedResponse) Key() int16 { return r.key }

// MaxVersion implements kmsg.Response.
func (r *EncodedResponse) MaxVersion() int16 { return r.version }

// SetVersion accepts only the version the body was encoded for.
func (r *EncodedResponse) SetVersion(v int16) {
	if v != r.version {
		panic(fmt.Sprintf("protocol: encoded %s response is v%d, cannot become v%d", kmsg.NameForKey(r.key), r.version, v))
	}
}

// GetVersion implements kmsg.Response.
func (r *EncodedResponse) GetVersion() int16 { return r.version }

// IsFlexible implements kmsg.Response.
func (r *EncodedResponse) IsFlexible() bool { return r.flexible }

// BodyLen is the encoded body's length.
func (r *EncodedResponse) BodyLen() int64 {
	var n int64
	for _, p := range r.Parts {
		n += p.Len()
	}
	return n
}

// AppendTo copies the body, reading file regions; the server does not use
// it, but tests and non-socket callers can.
func (r *EncodedResponse) AppendTo(dst []byte) []byte {
	for _, p := range r.Parts {
		if p.File == nil {
			dst = append(dst, p.Bytes...)
			continue
		}
		start := len(dst)
		dst = append(dst, make([]byte, p.Length)...)
		if _, err := p.File.ReadAt(dst[start:], p.Offset); err != nil && !errors.Is(err, io.EOF) {
			panic(fmt.Sprintf("protocol: reading encoded response region: %v", err))
		}
	}
	return dst
}

// ReadFrom implements kmsg.Response; an encoded response is write-only.
func (r *EncodedResponse) ReadFrom([]byte) error {
	return errors.New("protocol: an encoded response cannot be decoded")
}

// RequestKind implements kmsg.Response.
func (r *EncodedResponse) RequestKind() kmsg.Request {
	req := kmsg.RequestForKey(r.key)
	req.SetVersion(r.version)
	return req
}

func (r *EncodedResponse) release() {
	if r.Release != nil {
		r.Release()
		r.Release = nil
	}
}
