package storage

import (
	"bytes"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The RecordBatch CRC is CRC-32C (Castagnoli); check the table against the
// standard check value of that polynomial.
func TestCRC32CIsCastagnoli(t *testing.T) {
	if got := crc32.Checksum([]byte("123456789"), castagnoli); got != 0xE3069283 {
		t.Fatalf("crc32c check value = %#x, want 0xe3069283", got)
	}
}

// The test batch builder must agree with an independent decoder (kmsg), or
// every other test here would prove nothing about Kafka compatibility.
func TestMakeBatchDecodesWithKmsg(t *testing.T) {
	b := makeBatch(batchOpts{records: 3, valueSize: 5, firstTs: 1000, tsStep: 7, epoch: 4, base: 42})
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg cannot decode the batch: %v", err)
	}
	if rb.FirstOffset != 42 || rb.PartitionLeaderEpoch != 4 || rb.Magic != 2 || rb.NumRecords != 3 ||
		rb.LastOffsetDelta != 2 || rb.FirstTimestamp != 1000 || rb.MaxTimestamp != 1014 || int(rb.Length) != len(b)-12 {
		t.Fatalf("kmsg decoded unexpected header %+v", rb)
	}
	if uint32(rb.CRC) != crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)) {
		t.Fatal("CRC does not cover attributes..end")
	}
	recs := rb.Records
	for i := 0; i < 3; i++ {
		var r kmsg.Record
		if err := r.ReadFrom(recs); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.OffsetDelta != int32(i) || r.TimestampDelta64 != int64(7*i) || len(r.Value) != 5 || r.Key != nil {
			t.Fatalf("record %d decoded as %+v", i, r)
		}
		recs = recs[int(r.Length)+varintLen(int64(r.Length)):]
	}
	if len(recs) != 0 {
		t.Fatalf("%d bytes left after the records", len(recs))
	}
	h, err := ParseBatchHeader(b)
	if err != nil || h.BaseOffset != 42 || h.CRC != uint32(rb.CRC) || h.ProducerID != -1 || h.NumRecords != 3 {
		t.Fatalf("ParseBatchHeader = %+v, %v", h, err)
	}
}

func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

func TestParseBatchHeaderShortInputNeverPanics(t *testing.T) {
	full := batch(1, 10, 0)
	for n := 0; n < BatchHeaderSize; n++ {
		_, err := ParseBatchHeader(full[:n])
		if !errors.Is(err, ErrCorruptBatch) {
			t.Fatalf("ParseBatchHeader(%d bytes) = %v, want ErrCorruptBatch", n, err)
		}
	}
	old := bytes.Clone(full)
	old[offMagic] = 1
	if _, err := ParseBatchHeader(old); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("magic 1: %v", err)
	}
}

func TestBatchHeaderAttributes(t *testing.T) {
	h := BatchHeader{Attributes: 0x3b, BaseOffset: 10, LastOffsetDelta: 4}
	if h.Compression() != 3 || h.TimestampType() != TimestampLogAppendTime || !h.IsTransactional() || !h.IsControl() {
		t.Fatalf("attributes decoded wrongly: %+v", h)
	}
	if h.LastOffset() != 14 || h.NextOffset() != 15 {
		t.Fatalf("LastOffset %d NextOffset %d", h.LastOffset(), h.NextOffset())
	}
}

// ValidateBatches rejects what Kafka's produce path rejects (protocol guide
// "Record Batch"; KIP-98 magic v2 only).
func TestValidateBatches(t *testing.T) {
	one := batch(3, 20, 100)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(one)) }
	cases := []struct {
		name string
		in   []byte
		max  int
		want error
		code *kerr.Error
	}{
		{"empty", nil, 0, ErrCorruptBatch, kerr.CorruptMessage},
		{"bad crc", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), 0, ErrCorruptBatch, kerr.CorruptMessage},
		{"crc field flipped", mutate(func(b []byte) []byte { b[offCRC] ^= 0x80; return b }), 0, ErrCorruptBatch, kerr.CorruptMessage},
		{"magic 0", mutate(func(b []byte) []byte { b[offMagic] = 0; return b }), 0, ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
		{"magic 1", mutate(func(b []byte) []byte { b[offMagic] = 1; return b }), 0, ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
		{"truncated", one[:len(one)-1], 0, ErrCorruptBatch, kerr.CorruptMessage},
		{"header only", one[:BatchHeaderSize-1], 0, ErrCorruptBatch, kerr.CorruptMessage},
		{"length too big", mutate(func(b []byte) []byte { be.PutUint32(b[offBatchLength:], uint32(len(b))); return b }), 0, ErrCorruptBatch, kerr.CorruptMessage},
		{"length too small", mutate(func(b []byte) []byte { be.PutUint32(b[offBatchLength:], 30); return b }), 0, ErrCorruptBatch, kerr.CorruptMessage},
		{"length shorter than data", mutate(func(b []byte) []byte {
			be.PutUint32(b[offBatchLength:], uint32(len(b)-12-5))
			return b
		}), 0, ErrCorruptBatch, kerr.CorruptMessage},
		{"trailing garbage", append(bytes.Clone(one), 1, 2, 3), 0, ErrCorruptBatch, kerr.CorruptMessage},
		{"oversize", one, len(one) - 1, ErrBatchTooLarge, kerr.MessageTooLarge},
		{"zero records", makeBadCount(one, 0, -1), 0, ErrCorruptBatch, kerr.CorruptMessage},
		{"delta mismatch", makeBadCount(one, 3, 5), 0, ErrCorruptBatch, kerr.CorruptMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ValidateBatches(c.in, c.max)
			if !errors.Is(err, c.want) || !errors.Is(err, c.code) {
				t.Fatalf("ValidateBatches = %v, want %v wrapping %v", err, c.want, c.code)
			}
		})
	}
}

// makeBadCount sets the record count and last offset delta and fixes the CRC,
// so that only the count check can fail.
func makeBadCount(b []byte, count, delta int32) []byte {
	b = bytes.Clone(b)
	be.PutUint32(b[offNumRecords:], uint32(count))
	be.PutUint32(b[offLastDelta:], uint32(delta))
	be.PutUint32(b[offCRC:], batchCRC(b))
	return b
}

func TestValidateBatchesAcceptsConcatenation(t *testing.T) {
	in := append(append(batch(1, 10, 1), batch(4, 0, 2)...), batch(2, 100, 3)...)
	hs, err := ValidateBatches(in, len(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 3 || hs[1].NumRecords != 4 || hs[2].MaxTimestamp != 3 {
		t.Fatalf("headers %+v", hs)
	}
}

// The broker stamps base offset and leader epoch outside the CRC; with
// LogAppendTime it also sets the timestamp type and MaxTimestamp and must
// recompute the CRC (Kafka's DefaultRecordBatch.setMaxTimestamp).
func TestStampBatch(t *testing.T) {
	b := makeBatch(batchOpts{records: 2, valueSize: 3, firstTs: 500, tsStep: 10})
	StampBatch(b, 77, 9, -1)
	hs, err := ValidateBatches(b, 0)
	if err != nil {
		t.Fatalf("stamping offsets broke the batch: %v", err)
	}
	if h := hs[0]; h.BaseOffset != 77 || h.PartitionLeaderEpoch != 9 || h.TimestampType() != TimestampCreateTime || h.MaxTimestamp != 510 {
		t.Fatalf("after stamp: %+v", h)
	}
	StampBatch(b, 80, 10, 123456)
	hs, err = ValidateBatches(b, 0)
	if err != nil {
		t.Fatalf("LogAppendTime stamp left a bad CRC: %v", err)
	}
	if h := hs[0]; h.BaseOffset != 80 || h.TimestampType() != TimestampLogAppendTime || h.MaxTimestamp != 123456 || h.FirstTimestamp != 500 {
		t.Fatalf("after LogAppendTime stamp: %+v", h)
	}
	StampBatch(b[:10], 1, 1, 1) // short input is ignored, not a panic
}
