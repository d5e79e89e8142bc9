package storage

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testCodec compresses a records section the way one family of clients does.
type testCodec struct {
	name     string
	codec    int8
	compress func(testing.TB, []byte) []byte
}

// testCodecs covers every codec Kafka defines, and both snappy framings:
// the plain block that librdkafka and franz-go write, and the xerial framing
// of the Java clients (as a library writes it, and hand-framed with tiny
// chunks so that many chunks are crossed).
var testCodecs = []testCodec{
	{"none", CodecNone, nil},
	{"gzip", CodecGzip, gzipBytes},
	{"snappy-block", CodecSnappy, func(_ testing.TB, b []byte) []byte { return snappy.Encode(nil, b) }},
	{"snappy-xerial", CodecSnappy, func(_ testing.TB, b []byte) []byte { return xerial.Encode(nil, b) }},
	{"snappy-xerial-small-chunks", CodecSnappy, func(_ testing.TB, b []byte) []byte { return xerialFrame(b, 100) }},
	{"lz4", CodecLZ4, lz4Bytes},
	{"zstd", CodecZstd, zstdBytes},
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lz4Bytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(true)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// xerialFrame frames b as snappy-java does, in chunks of at most chunk bytes.
func xerialFrame(b []byte, chunk int) []byte {
	out := append([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}, 0, 0, 0, 1, 0, 0, 0, 1)
	for len(b) > 0 {
		n := min(chunk, len(b))
		blk := snappy.Encode(nil, b[:n])
		out = be.AppendUint32(out, uint32(len(blk)))
		out = append(out, blk...)
		b = b[n:]
	}
	return out
}

// testBatch describes a batch to build with kmsg.
type testBatch struct {
	base          int64
	firstTs       int64
	logAppendTime int64 // >= 0: LogAppendTime batch with this MaxTimestamp
	recs          []kmsg.Record
	codec         testCodec
}

// rec is a kmsg record with the given deltas, key and value.
func rec(offDelta int32, tsDelta int64, key, value []byte, hdrs ...kmsg.Header) kmsg.Record {
	return kmsg.Record{OffsetDelta: offDelta, TimestampDelta64: tsDelta, Key: key, Value: value, Headers: hdrs}
}

// encodeRecords encodes records with kmsg, filling in each Length.
func encodeRecords(recs []kmsg.Record) []byte {
	var out []byte
	for _, r := range recs {
		r.Length = 0
		body := r.AppendTo(nil)[1:] // drop the one-byte zero length
		r.Length = int32(len(body))
		out = r.AppendTo(out)
	}
	return out
}

// build frames the batch with kmsg.RecordBatch: lengths, timestamps and the
// CRC-32C computed here, independently of the package's own helpers.
func (tb testBatch) build(t testing.TB) []byte {
	raw := encodeRecords(tb.recs)
	if tb.codec.compress != nil {
		raw = tb.codec.compress(t, raw)
	}
	rb := kmsg.RecordBatch{
		FirstOffset: tb.base, PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(tb.codec.codec),
		FirstTimestamp: tb.firstTs, MaxTimestamp: tb.firstTs, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(tb.recs)), Records: raw,
	}
	for _, r := range tb.recs {
		rb.LastOffsetDelta = max(rb.LastOffsetDelta, r.OffsetDelta)
		rb.MaxTimestamp = max(rb.MaxTimestamp, tb.firstTs+r.TimestampDelta64)
	}
	if tb.logAppendTime >= 0 {
		rb.Attributes |= 0x08
		rb.MaxTimestamp = tb.logAppendTime
	}
	rb.Length = int32(len(rb.AppendTo(nil)) - 12)
	b := rb.AppendTo(nil)
	rb.CRC = int32(crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return rb.AppendTo(nil)
}

// wantRecord is what DecodeRecords must return for r in the batch.
func (tb testBatch) wantRecord(r kmsg.Record) Record {
	w := Record{Offset: tb.base + int64(r.OffsetDelta), Timestamp: tb.firstTs + r.TimestampDelta64, Key: r.Key, Value: r.Value}
	if tb.logAppendTime >= 0 {
		w.Timestamp = tb.logAppendTime
	}
	for _, h := range r.Headers {
		w.Headers = append(w.Headers, RecordHeader{Key: h.Key, Value: h.Value})
	}
	return w
}

// sameBytes compares two fields, null included: nil and empty differ.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func checkRecords(t testing.TB, tb testBatch, got []Record) {
	t.Helper()
	if len(got) != len(tb.recs) {
		t.Fatalf("decoded %d records, want %d", len(got), len(tb.recs))
	}
	for i, r := range tb.recs {
		w, g := tb.wantRecord(r), got[i]
		ok := g.Offset == w.Offset && g.Timestamp == w.Timestamp && sameBytes(g.Key, w.Key) &&
			sameBytes(g.Value, w.Value) && len(g.Headers) == len(w.Headers)
		for j := 0; ok && j < len(w.Headers); j++ {
			ok = g.Headers[j].Key == w.Headers[j].Key && sameBytes(g.Headers[j].Value, w.Headers[j].Value)
		}
		if !ok {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// variedRecords exercises every field shape: null and empty keys and
// values, headers with null and empty values and an empty key, timestamps
// out of order and before the first timestamp, and enough volume to cross
// lz4 blocks and xerial chunks.
func variedRecords() []kmsg.Record {
	recs := []kmsg.Record{
		rec(0, 0, nil, nil),
		rec(1, 3000, []byte{}, []byte{}),
		rec(2, 1000, []byte("k"), nil, kmsg.Header{Key: "h1", Value: []byte("v1")}, kmsg.Header{Key: "", Value: nil}, kmsg.Header{Key: "h3", Value: []byte{}}),
		rec(3, -5, nil, []byte("value")),
	}
	for i := 4; i < 200; i++ {
		v := []byte(strings.Repeat(fmt.Sprintf("value-%d;", i), 40))
		recs = append(recs, rec(int32(i), int64(i%13)*7, []byte(fmt.Sprint("key-", i)), v))
	}
	return recs
}

// Protocol guide, "Record Batch" and "Record": what franz-go's kmsg encodes,
// compressed with each codec, decodes to the same records.
func TestDecodeRecordsRoundTrip(t *testing.T) {
	for _, c := range testCodecs {
		t.Run(c.name, func(t *testing.T) {
			tb := testBatch{base: 1000, firstTs: 1_700_000_000_000, logAppendTime: -1, recs: variedRecords(), codec: c}
			got, err := DecodeRecords(tb.build(t))
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, tb, got)
		})
	}
}

// KIP-32: in a LogAppendTime batch every record's timestamp is the batch
// MaxTimestamp, whatever the deltas say.
func TestDecodeRecordsLogAppendTime(t *testing.T) {
	for _, c := range testCodecs {
		t.Run(c.name, func(t *testing.T) {
			tb := testBatch{base: 7, firstTs: 100, logAppendTime: 5555, codec: c,
				recs: []kmsg.Record{rec(0, 9, nil, []byte("a")), rec(1, 2, nil, []byte("b"))}}
			got, err := DecodeRecords(tb.build(t))
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, tb, got)
		})
	}
}

// A compacted batch keeps its offset range but not every record: offset
// deltas have gaps, and a batch may keep no records at all.
func TestDecodeRecordsCompactedBatches(t *testing.T) {
	tb := testBatch{base: 50, firstTs: 10, logAppendTime: -1, codec: testCodecs[0],
		recs: []kmsg.Record{rec(1, 0, nil, []byte("a")), rec(4, 1, nil, []byte("b")), rec(9, 2, nil, nil)}}
	got, err := DecodeRecords(tb.build(t))
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, tb, got)
	for _, c := range testCodecs {
		empty := testBatch{base: 50, logAppendTime: -1, codec: c}.build(t) // an empty stream, compressed
		if got, err := DecodeRecords(empty); got != nil || err != nil {
			t.Fatalf("%s: empty batch decoded to %v, %v", c.name, got, err)
		}
		empty = empty[:BatchHeaderSize] // header only, whatever the codec
		be.PutUint32(empty[offBatchLength:], uint32(BatchHeaderSize-logOverhead))
		if got, err := DecodeRecords(empty); got != nil || err != nil {
			t.Fatalf("%s: header-only batch decoded to %v, %v", c.name, got, err)
		}
	}
}

// hostileCase is a batch that must be refused with want.
type hostileCase struct {
	name string
	b    []byte
	want error
}

// hostileBatches builds the malformed inputs: each breaks one rule.
func hostileBatches(t testing.TB) []hostileCase {
	one := []kmsg.Record{rec(0, 0, []byte("k"), []byte("v"))}
	valid := func(recs []kmsg.Record) []byte {
		return testBatch{base: 3, firstTs: 1, logAppendTime: -1, recs: recs, codec: testCodecs[0]}.build(t)
	}
	// withRecords replaces the records section of a valid header.
	withRecords := func(codec int8, n int32, lastDelta int32, recs []byte) []byte {
		b := bytes.Clone(valid(one)[:BatchHeaderSize])
		be.PutUint16(b[offAttributes:], uint16(codec))
		be.PutUint32(b[offNumRecords:], uint32(n))
		be.PutUint32(b[offLastDelta:], uint32(lastDelta))
		b = append(b, recs...)
		be.PutUint32(b[offBatchLength:], uint32(len(b)-logOverhead))
		return b
	}
	raw := encodeRecords(one)
	cases := []hostileCase{
		{"short", valid(one)[:40], ErrCorruptBatch},
		{"magic 1", func() []byte { b := valid(one); b[offMagic] = 1; return b }(), ErrUnsupportedMagic},
		{"length past the input", valid(one)[:len(valid(one))-1], ErrCorruptBatch},
		{"bytes after the batch", append(valid(one), 0), ErrCorruptBatch},
		{"negative record count", withRecords(0, -1, 0, raw), ErrCorruptBatch},
		{"count above the records", withRecords(0, 2, 1, raw), ErrCorruptBatch},
		{"count below the records", withRecords(0, 1, 1, encodeRecords([]kmsg.Record{rec(0, 0, nil, nil), rec(1, 0, nil, nil)})), ErrCorruptBatch},
		{"huge count", withRecords(0, 1<<31-1, 1<<31-2, raw), ErrCorruptBatch},
		{"record length past the end", withRecords(0, 1, 0, append([]byte{0x7e}, raw[1:]...)), ErrCorruptBatch},
		{"negative record length", withRecords(0, 1, 0, append([]byte{0x01}, raw[1:]...)), ErrCorruptBatch},
		{"record length too long for its fields", withRecords(0, 1, 0, append(append([]byte{raw[0] + 2}, raw[1:]...), 0)), ErrCorruptBatch},
		{"offset deltas not increasing", withRecords(0, 2, 1, encodeRecords([]kmsg.Record{rec(1, 0, nil, nil), rec(1, 0, nil, nil)})), ErrCorruptBatch},
		{"offset delta past the last", withRecords(0, 1, 0, encodeRecords([]kmsg.Record{rec(1, 0, nil, nil)})), ErrCorruptBatch},
		{"negative offset delta", withRecords(0, 1, 0, encodeRecords([]kmsg.Record{rec(-1, 0, nil, nil)})), ErrCorruptBatch},
		{"varint overflow", withRecords(0, 1, 0, bytes.Repeat([]byte{0xff}, 12)), ErrCorruptBatch},
		{"varint beyond int32", withRecords(0, 1, 0, []byte{0x80, 0x80, 0x80, 0x80, 0x20}), ErrCorruptBatch},
		{"unknown codec", withRecords(5, 1, 0, raw), ErrCorruptBatch},
	}
	// A record with a negative header count, and one with a negative header key length.
	body := []byte{0, 0, 0, 2, 'k', 2, 'v'} // attributes, deltas, key "k", value "v"
	cases = append(cases,
		hostileCase{"negative header count", withRecords(0, 1, 0, append([]byte{byte(2 * (len(body) + 1))}, append(body, 0x01)...)), ErrCorruptBatch},
		hostileCase{"negative header key length", withRecords(0, 1, 0, append([]byte{byte(2 * (len(body) + 3))}, append(body, 0x02, 0x01, 0x00)...)), ErrCorruptBatch},
	)
	for _, c := range testCodecs[1:] {
		cases = append(cases,
			hostileCase{c.name + " garbage", withRecords(c.codec, 1, 0, bytes.Repeat([]byte{0xa5}, 64)), ErrCorruptBatch},
			hostileCase{c.name + " truncated", func() []byte { z := c.compress(t, raw); return withRecords(c.codec, 1, 0, z[:len(z)-2]) }(), ErrCorruptBatch},
		)
	}
	// Xerial framing with a chunk length that is negative or runs past the end.
	hdr := xerialFrame(nil, 1)
	cases = append(cases,
		hostileCase{"xerial negative chunk", withRecords(CodecSnappy, 1, 0, append(bytes.Clone(hdr), 0xff, 0xff, 0xff, 0xff, 0)), ErrCorruptBatch},
		hostileCase{"xerial chunk past the end", withRecords(CodecSnappy, 1, 0, append(bytes.Clone(hdr), 0, 0, 1, 0, 0)), ErrCorruptBatch},
		hostileCase{"xerial torn chunk length", withRecords(CodecSnappy, 1, 0, append(bytes.Clone(hdr), 0, 0)), ErrCorruptBatch},
	)
	return cases
}

// DecodeRecords refuses every malformed batch with the right error class and
// never panics.
func TestDecodeRecordsRejectsHostileInput(t *testing.T) {
	for _, c := range hostileBatches(t) {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeRecords(c.b)
			if !errors.Is(err, c.want) || got != nil {
				t.Fatalf("DecodeRecords = %d records, %v; want %v", len(got), err, c.want)
			}
		})
	}
}

// zeroReader yields zeros forever.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// Decompression is bounded: records inflating beyond 64 MiB plus 16 times
// their compressed size are refused, and a snappy block declaring a huge
// length is refused before anything is allocated.
func TestDecodeRecordsRefusesDecompressionBombs(t *testing.T) {
	const bomb = 80 << 20
	stream := func(w io.WriteCloser) {
		if _, err := io.Copy(w, io.LimitReader(zeroReader{}, bomb)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var gz, lz bytes.Buffer
	stream(gzip.NewWriter(&gz))
	stream(lz4.NewWriter(&lz))
	zenc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	zs := zenc.EncodeAll(make([]byte, bomb), nil) // declares its content size
	zenc.Close()
	var zstream bytes.Buffer // streamed: no content size, the output bound must stop it
	zw, err := zstd.NewWriter(&zstream)
	if err != nil {
		t.Fatal(err)
	}
	stream(zw)
	snappyHeader := []byte{0x80, 0x80, 0x80, 0x80, 0x04, 0} // uvarint 1 GiB, then garbage
	for _, c := range []struct {
		name  string
		codec int8
		recs  []byte
	}{
		{"gzip", CodecGzip, gz.Bytes()},
		{"lz4", CodecLZ4, lz.Bytes()},
		{"zstd", CodecZstd, zs},
		{"zstd-stream", CodecZstd, zstream.Bytes()},
		{"snappy-block", CodecSnappy, snappyHeader},
		{"snappy-xerial", CodecSnappy, append(xerialFrame(nil, 1), append([]byte{0, 0, 0, 6}, snappyHeader...)...)},
	} {
		if limit := decompressLimit(len(c.recs)); limit >= bomb {
			t.Fatalf("%s: %d compressed bytes allow %d, the test needs less than %d", c.name, len(c.recs), limit, bomb)
		}
		b := testBatch{base: 0, logAppendTime: -1, codec: testCodecs[0], recs: []kmsg.Record{rec(0, 0, nil, nil)}}.build(t)
		b = append(b[:BatchHeaderSize], c.recs...)
		be.PutUint16(b[offAttributes:], uint16(c.codec))
		be.PutUint32(b[offBatchLength:], uint32(len(b)-logOverhead))
		if _, err := DecodeRecords(b); !errors.Is(err, ErrCorruptBatch) || !strings.Contains(err.Error(), "inflate beyond") {
			t.Fatalf("%s bomb of %d compressed bytes: %v, want ErrCorruptBatch for the size", c.name, len(c.recs), err)
		}
	}
}

// decodeRecordsSeeds is the seed corpus of FuzzDecodeRecords: no input, one
// valid batch uncompressed and with each codec, and garbage records behind
// a valid header.
func decodeRecordsSeeds(t testing.TB) map[string][]byte {
	recs := []kmsg.Record{
		rec(0, 5, []byte("key"), []byte("value"), kmsg.Header{Key: "h", Value: []byte("v")}),
		rec(1, 0, nil, []byte{}),
		rec(2, 9, []byte{}, nil),
	}
	seeds := map[string][]byte{"empty": {}}
	for _, c := range testCodecs {
		seeds["valid-"+c.name] = testBatch{base: 10, firstTs: 1000, logAppendTime: -1, recs: recs, codec: c}.build(t)
	}
	garbage := bytes.Clone(seeds["valid-none"])
	for i := BatchHeaderSize; i < len(garbage); i++ {
		garbage[i] = byte(i * 37)
	}
	seeds["garbage-after-valid-header"] = garbage
	return seeds
}

// DecodeRecords never panics; what it accepts is NumRecords records with
// strictly increasing offsets inside the batch's range and timestamps
// resolved per the timestamp type.
func FuzzDecodeRecords(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeRecords(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrUnsupportedMagic) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		h, herr := ParseBatchHeader(b)
		if herr != nil || int(h.NumRecords) != len(recs) {
			t.Fatalf("accepted %d records, header %+v (%v)", len(recs), h, herr)
		}
		prev := h.BaseOffset - 1
		for i, r := range recs {
			if r.Offset <= prev || r.Offset > h.LastOffset() {
				t.Fatalf("record %d at offset %d after %d, batch ends at %d", i, r.Offset, prev, h.LastOffset())
			}
			if h.TimestampType() == TimestampLogAppendTime && r.Timestamp != h.MaxTimestamp {
				t.Fatalf("LogAppendTime record %d has timestamp %d, batch %d", i, r.Timestamp, h.MaxTimestamp)
			}
			prev = r.Offset
		}
	})
}
