package protocol

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// requestHeader is the fixed part of every request header (versions 1 and 2).
type requestHeader struct {
	key           int16
	version       int16
	correlationID int32
	clientID      *string
}

// parseHeaderPrefix decodes the api key, version and correlation id, which
// every request has in the same place whatever its header version.
func parseHeaderPrefix(frame []byte) (requestHeader, error) {
	if len(frame) < 8 {
		return requestHeader{}, fmt.Errorf("%w: %d-byte request", ErrMalformedFrame, len(frame))
	}
	return requestHeader{
		key:           int16(binary.BigEndian.Uint16(frame[0:])),
		version:       int16(binary.BigEndian.Uint16(frame[2:])),
		correlationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}, nil
}

// parseHeaderRest decodes the client id and, for flexible requests (header
// v2), skips the header's tagged fields. It returns the offset of the body.
func parseHeaderRest(frame []byte, h *requestHeader, flexible bool) (int, error) {
	r := reader{b: frame, off: 8}
	h.clientID = r.nullableString()
	if flexible {
		r.skipTags()
	}
	if r.err != nil {
		return 0, fmt.Errorf("%w: request header: %v", ErrMalformedFrame, r.err)
	}
	return r.off, nil
}

// reader is a bounds-checked cursor with one sticky error: after the first
// short read every call returns zero values, and err says what went wrong.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("short %s at byte %d", what, r.off)
	}
	r.off = len(r.b)
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil || n < 0 || len(r.b)-r.off < n {
		r.fail(what)
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) nullableString() *string {
	b := r.take(2, "string length")
	if b == nil {
		return nil
	}
	n := int16(binary.BigEndian.Uint16(b))
	if n < 0 {
		return nil
	}
	s := r.take(int(n), "string")
	if s == nil {
		return nil
	}
	str := string(s)
	return &str
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) skipTags() {
	count := r.uvarint("tag count")
	for i := uint64(0); i < count && r.err == nil; i++ {
		r.uvarint("tag key")
		size := r.uvarint("tag size")
		if size > uint64(len(r.b)) {
			r.fail("tag")
			return
		}
		r.take(int(size), "tag")
	}
}

// appendResponseFrame appends a whole response frame: length, correlation
// id, the header's empty tag section when the response is flexible (header
// v1), and the body. ApiVersions responses always use header v0 so that a
// client that does not yet know the broker's versions can read them.
func appendResponseFrame(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = AppendFrameLength(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	FinishFrame(dst, start)
	return dst
}

// decodeRequest parses a whole request frame against the registry: the
// header, the version check, and the body. ApiVersions with an unsupported
// version is returned with a nil body and ErrUnsupportedAPI so the caller can
// answer it in the v0 format.
//
// Known issue: kmsg v1.15.0 reads a body's tag count (a uint32) and loops
// that many times even after the frame runs out, so a tiny hostile flexible
// request can cost about a minute of CPU here (TestHostileTagCountDecodesQuickly).
func decodeRequest(frame []byte, reg *Registry) (requestHeader, kmsg.Request, error) {
	h, err := parseHeaderPrefix(frame)
	if err != nil {
		return h, nil, err
	}
	if !reg.supports(h.key, h.version) {
		return h, nil, fmt.Errorf("%w: %s (key %d) v%d", ErrUnsupportedAPI, kmsg.NameForKey(h.key), h.key, h.version)
	}
	body := kmsg.RequestForKey(h.key)
	body.SetVersion(h.version)
	off, err := parseHeaderRest(frame, &h, body.IsFlexible())
	if err != nil {
		return h, nil, err
	}
	if err := body.ReadFrom(frame[off:]); err != nil {
		return h, nil, fmt.Errorf("%w: %s v%d body: %v", ErrMalformedFrame, kmsg.NameForKey(h.key), h.version, err)
	}
	return h, body, nil
}
