package storage

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Record is one record of a RecordBatch v2, with its absolute offset and
// timestamp resolved from the batch header.
//
// Key, Value and header values are nil for a null field and non-nil (possibly
// empty) otherwise. For an uncompressed batch they alias the batch passed to
// DecodeRecords (with their capacity capped, so appending to them copies).
type Record struct {
	Offset    int64 // BaseOffset + offsetDelta
	Timestamp int64 // FirstTimestamp + timestampDelta, or MaxTimestamp for LogAppendTime
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// RecordHeader is one record header.
type RecordHeader struct {
	Key   string
	Value []byte
}

// minRecordSize is the smallest encoded record: a one-byte varint for each
// of length, timestampDelta, offsetDelta, key length, value length and
// header count, plus the attributes byte.
const minRecordSize = 7

// DecodeRecords decodes the records of batch, which must be exactly one
// RecordBatch v2 (protocol guide, "Record Batch" and "Record"):
// decompressed per the codec in the attributes (gzip, snappy plain or
// xerial-framed, lz4 frame, zstd), then each record read as
//
//	length          varint   bytes of the record after this field
//	attributes      int8     unused
//	timestampDelta  varlong
//	offsetDelta     varint
//	keyLength       varint   -1 (any negative) = null key
//	key             bytes
//	valueLength     varint   -1 (any negative) = null value
//	value           bytes
//	headerCount     varint
//	headers         [headerKeyLength varint, headerKey, headerValueLength varint, headerValue]
//
// with zigzag varints. A record's offset is BaseOffset+offsetDelta; its
// timestamp is FirstTimestamp+timestampDelta, or the batch's MaxTimestamp
// for a LogAppendTime batch. The batch must hold exactly NumRecords records
// filling the records section; offset deltas must increase strictly and stay
// within LastOffsetDelta (compacted batches may have gaps); every record must
// fill exactly its length. Anything else is ErrCorruptBatch, as is records
// inflating beyond a bound (64 MiB plus 16 times their compressed size, at
// most 1 GiB); a magic other than 2 is ErrUnsupportedMagic. The CRC is not
// checked (ValidateBatches and recovery do that). DecodeRecords never
// panics, whatever the input. A batch with no records gives nil.
func DecodeRecords(batch []byte) ([]Record, error) {
	var recs []Record
	if h, err := ParseBatchHeader(batch); err == nil && h.NumRecords > 0 {
		// A capacity hint that hostile counts cannot inflate: a record
		// takes at least minRecordSize bytes (before compression).
		recs = make([]Record, 0, min(int(h.NumRecords), len(batch)/minRecordSize+1))
	}
	err := walkRecords(batch, true, func(r *Record) bool {
		recs = append(recs, *r)
		return true
	})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return recs, nil
}

// walkRecords decodes the records of the single batch b in order and calls
// fn for each until fn returns false. The records after a stop are not decoded, so not validated either. With
// withHeaders false, headers are checked but Record.Headers stays nil,
// which saves their allocation.
func walkRecords(b []byte, withHeaders bool, fn func(r *Record) bool) error {
	h, err := parseFramed(b)
	if err != nil {
		return err
	}
	if int64(len(b)) != h.Size() {
		return fmt.Errorf("%w: %d bytes after the batch", ErrCorruptBatch, int64(len(b))-h.Size())
	}
	if h.NumRecords < 0 {
		return fmt.Errorf("%w: record count %d", ErrCorruptBatch, h.NumRecords)
	}
	data := b[BatchHeaderSize:]
	if h.NumRecords == 0 && len(data) == 0 {
		return nil // an empty batch kept by compaction, whatever its codec
	}
	if c := h.Compression(); c != CodecNone {
		if data, err = decompress(c, data); err != nil {
			return err
		}
	}
	d := recordDecoder{h: h, r: recordReader{b: data}, prevDelta: -1, withHeaders: withHeaders}
	var rec Record // one allocation per walk: &rec escapes through fn
	for i := int32(0); i < h.NumRecords; i++ {
		rec = Record{}
		if err := d.next(&rec); err != nil {
			return fmt.Errorf("record %d of %d at offset %d: %w", i, h.NumRecords, h.BaseOffset, err)
		}
		if !fn(&rec) {
			return nil
		}
	}
	if n := len(d.r.b); n > 0 {
		return fmt.Errorf("%w: %d bytes after the %d records of the batch at offset %d", ErrCorruptBatch, n, h.NumRecords, h.BaseOffset)
	}
	return nil
}

// recordDecoder reads the records of one batch in order.
type recordDecoder struct {
	h           BatchHeader
	r           recordReader
	prevDelta   int64
	withHeaders bool
}

// next decodes the next record into rec.
func (d *recordDecoder) next(rec *Record) error {
	length := d.r.varint()
	if d.r.err == nil && (length < 0 || int(length) > len(d.r.b)) {
		d.r.fail("record length %d with %d bytes left", length, len(d.r.b))
	}
	body := recordReader{b: d.r.take(int(length))}
	if d.r.err != nil {
		return d.r.err
	}
	body.take(1) // attributes: unused in v2
	tsDelta := body.varlong()
	offDelta := int64(body.varint())
	rec.Key = body.nullableBytes()
	rec.Value = body.nullableBytes()
	d.headers(&body, rec)
	if body.err == nil && len(body.b) > 0 {
		body.fail("record length %d leaves %d bytes unread", length, len(body.b))
	}
	if body.err != nil {
		return body.err
	}
	if offDelta <= d.prevDelta || offDelta > int64(d.h.LastOffsetDelta) {
		return fmt.Errorf("%w: offset delta %d after %d, last offset delta %d", ErrCorruptBatch, offDelta, d.prevDelta, d.h.LastOffsetDelta)
	}
	d.prevDelta = offDelta
	rec.Offset = d.h.BaseOffset + offDelta
	rec.Timestamp = d.h.FirstTimestamp + tsDelta
	if d.h.TimestampType() == TimestampLogAppendTime {
		rec.Timestamp = d.h.MaxTimestamp
	}
	return nil
}

// headers reads the header count and the headers of a record body.
func (d *recordDecoder) headers(body *recordReader, rec *Record) {
	n := body.varint()
	if n < 0 {
		body.fail("header count %d", n)
		return
	}
	if d.withHeaders && n > 0 {
		// A header takes at least two bytes: bound the hint by what is left.
		rec.Headers = make([]RecordHeader, 0, min(int(n), len(body.b)/2))
	}
	for i := int32(0); i < n && body.err == nil; i++ {
		kl := body.varint()
		if kl < 0 {
			body.fail("header key length %d", kl)
			return
		}
		k := body.take(int(kl))
		v := body.nullableBytes()
		if d.withHeaders && body.err == nil {
			rec.Headers = append(rec.Headers, RecordHeader{Key: string(k), Value: v})
		}
	}
}

// recordReader decodes the fields of a record with one sticky error: after
// the first failure every read returns a zero value, and the error is
// checked once at the end.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrCorruptBatch}, args...)...)
	}
	r.b = nil
}

// varlong reads a zigzag varint of up to 64 bits.
func (r *recordReader) varlong() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("malformed varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// varint reads a zigzag varint that must fit 32 bits.
func (r *recordReader) varint() int32 {
	v := r.varlong()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("varint %d overflows int32", v)
		return 0
	}
	return int32(v)
}

// take returns the next n bytes, capacity capped; never nil unless failed.
func (r *recordReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail("field of %d bytes with %d left", n, len(r.b))
		return nil
	}
	if n == 0 {
		return []byte{}
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// nullableBytes reads a varint length and that many bytes; a negative
// length is null (Kafka reads any negative length as null).
func (r *recordReader) nullableBytes() []byte {
	n := r.varint()
	if r.err != nil || n < 0 {
		return nil
	}
	return r.take(int(n))
}
