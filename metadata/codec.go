package metadata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// batchFormat is the first byte of every encoded batch. A different
// framing would get a different byte.
const batchFormat byte = 0

// maxRecordsPerBatch bounds a decoded batch; it is far above anything the
// controller writes (a 10,000-partition topic is ~10,000 records).
const maxRecordsPerBatch = 1 << 22

// EncodeBatch encodes records as one log entry. The encoding is
// deterministic: equal batches encode to equal bytes.
//
//	batch  = format:byte(0) count:uvarint record*
//	record = type:uvarint version:uvarint length:uvarint payload[length]
//
// Inside a payload, signed integers are zig-zag varints, strings and arrays
// are a uvarint length then the elements, nullable ones store length+1 with
// 0 for null, booleans are one byte 0 or 1, and UUIDs are 16 raw bytes.
func EncodeBatch(records []Record) []byte {
	w := &writer{buf: make([]byte, 0, 64*len(records)+8)}
	w.buf = append(w.buf, batchFormat)
	w.uvarint(uint64(len(records)))
	var payload writer
	for _, rec := range records {
		payload.buf = payload.buf[:0]
		rec.encode(&payload)
		w.uvarint(uint64(rec.Type()))
		w.uvarint(uint64(rec.Version()))
		w.uvarint(uint64(len(payload.buf)))
		w.buf = append(w.buf, payload.buf...)
	}
	return w.buf
}

// DecodeBatch decodes a log entry written by EncodeBatch. Every error wraps
// ErrCorrupt; it never panics, whatever the input.
func DecodeBatch(b []byte) ([]Record, error) {
	if len(b) == 0 {
		return nil, corruptf("empty batch")
	}
	if b[0] != batchFormat {
		return nil, corruptf("unknown batch format %d", b[0])
	}
	r := &reader{b: b[1:]}
	n := r.count(3) // type, version and length take at least a byte each
	if r.err != nil {
		return nil, fmt.Errorf("batch header: %w", r.err)
	}
	if n > maxRecordsPerBatch {
		return nil, corruptf("batch of %d records exceeds the limit", n)
	}
	records := make([]Record, 0, n)
	for i := 0; i < n; i++ {
		rec, err := decodeRecord(r)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		records = append(records, rec)
	}
	if len(r.b) != 0 {
		return nil, corruptf("%d trailing bytes after the batch", len(r.b))
	}
	return records, nil
}

func decodeRecord(r *reader) (Record, error) {
	typ := r.uvarint()
	version := r.uvarint()
	payload := r.bytes()
	if r.err != nil {
		return nil, r.err
	}
	if typ > math.MaxUint16 {
		return nil, fmt.Errorf("%w: %w %d", ErrCorrupt, ErrUnknownRecordType, typ)
	}
	rec := newRecord(RecordType(typ))
	if rec == nil {
		return nil, fmt.Errorf("%w: %w %d", ErrCorrupt, ErrUnknownRecordType, typ)
	}
	if maxV := maxVersion(rec); version > uint64(maxV) {
		return nil, fmt.Errorf("%w: %w: %s v%d (this binary reads up to v%d)",
			ErrCorrupt, ErrUnsupportedVersion, rec.Type(), version, maxV)
	}
	pr := &reader{b: payload}
	rec.decode(pr, uint16(version))
	if pr.err != nil {
		return nil, fmt.Errorf("%s: %w", rec.Type(), pr.err)
	}
	if len(pr.b) != 0 {
		return nil, corruptf("%s: %d trailing bytes in the payload", rec.Type(), len(pr.b))
	}
	return rec, nil
}

// writer appends the primitive encodings to buf.
type writer struct{ buf []byte }

func (w *writer) uvarint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *writer) varint(v int64)   { w.buf = binary.AppendVarint(w.buf, v) }
func (w *writer) int8(v int8)      { w.buf = append(w.buf, byte(v)) }
func (w *writer) int16(v int16)    { w.varint(int64(v)) }
func (w *writer) int32(v int32)    { w.varint(int64(v)) }
func (w *writer) int64(v int64)    { w.varint(v) }
func (w *writer) uuid(v [16]byte)  { w.buf = append(w.buf, v[:]...) }

func (w *writer) bool(v bool) {
	var b byte
	if v {
		b = 1
	}
	w.buf = append(w.buf, b)
}

func (w *writer) string(s string) {
	w.uvarint(uint64(len(s)))
	w.buf = append(w.buf, s...)
}

func (w *writer) nullableString(s *string) {
	if s == nil {
		w.uvarint(0)
		return
	}
	w.uvarint(uint64(len(*s)) + 1)
	w.buf = append(w.buf, *s...)
}

func (w *writer) int32s(vs []int32) {
	w.uvarint(uint64(len(vs)))
	for _, v := range vs {
		w.int32(v)
	}
}

func (w *writer) nullableInt32s(vs []int32) {
	if vs == nil {
		w.uvarint(0)
		return
	}
	w.uvarint(uint64(len(vs)) + 1)
	for _, v := range vs {
		w.int32(v)
	}
}

// reader decodes primitives from b with a sticky error: after the first
// failure every read returns the zero value and err keeps the first cause,
// so decoders read straight through and check err once at the end.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("input too short")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		if n == 0 {
			r.fail(errShort)
		} else {
			r.fail(errors.New("varint overflows 64 bits"))
		}
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		if n == 0 {
			r.fail(errShort)
		} else {
			r.fail(errors.New("varint overflows 64 bits"))
		}
		return 0
	}
	r.b = r.b[n:]
	return v
}

// take returns the next n bytes, or nil after failing when fewer remain.
func (r *reader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(errShort)
		return nil
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) byte() byte {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) int8() int8 { return int8(r.byte()) }

func (r *reader) bool() bool {
	switch b := r.byte(); b {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(fmt.Errorf("bool byte %d", b))
		return false
	}
}

func (r *reader) intRange(lo, hi int64) int64 {
	v := r.varint()
	if v < lo || v > hi {
		r.fail(fmt.Errorf("value %d out of range [%d, %d]", v, lo, hi))
		return 0
	}
	return v
}

func (r *reader) int16() int16 { return int16(r.intRange(math.MinInt16, math.MaxInt16)) }
func (r *reader) int32() int32 { return int32(r.intRange(math.MinInt32, math.MaxInt32)) }
func (r *reader) int64() int64 { return r.varint() }

func (r *reader) uint16() uint16 {
	v := r.uvarint()
	if v > math.MaxUint16 {
		r.fail(fmt.Errorf("value %d out of range for uint16", v))
		return 0
	}
	return uint16(v)
}

func (r *reader) uuid() (id [16]byte) {
	copy(id[:], r.take(16))
	return id
}

// bytes reads a uvarint length and that many bytes.
func (r *reader) bytes() []byte { return r.take(r.uvarint()) }

func (r *reader) string() string { return string(r.bytes()) }

func (r *reader) nullableString() *string {
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return nil
	}
	s := string(r.take(n - 1))
	if r.err != nil {
		return nil
	}
	return &s
}

// count reads an element count and checks it against the bytes left, given
// that each element takes at least minSize bytes, so that a hostile count
// cannot make the decoder allocate.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b)/minSize) {
		r.fail(fmt.Errorf("count %d exceeds the %d bytes left", n, len(r.b)))
		return 0
	}
	return int(n)
}

func (r *reader) int32sOfLen(n int) []int32 {
	vs := make([]int32, n)
	for i := range vs {
		vs[i] = r.int32()
	}
	if r.err != nil {
		return nil
	}
	return vs
}

func (r *reader) int32s() []int32 {
	n := r.count(1)
	if r.err != nil || n == 0 {
		return nil
	}
	return r.int32sOfLen(n)
}

// nullableInt32s returns nil for null and a non-nil slice (possibly empty)
// otherwise.
func (r *reader) nullableInt32s() []int32 {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return nil
	}
	if n-1 > uint64(len(r.b)) {
		r.fail(fmt.Errorf("count %d exceeds the %d bytes left", n-1, len(r.b)))
		return nil
	}
	return r.int32sOfLen(int(n - 1))
}
