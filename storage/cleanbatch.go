package storage

import (
	"encoding/binary"
	"fmt"
)

// Record-level decisions of a compaction pass, and the re-encoding of a
// batch that lost records (cleaner.go runs the pass).

// attrDeleteHorizon is attribute bit 6 of a v2 batch (KIP-534): when set,
// the batch's FirstTimestamp field holds its delete horizon, the time after
// which the cleaner may drop its tombstones, and record timestamp deltas
// are relative to it.
const attrDeleteHorizon = 0x40

// HasDeleteHorizon reports whether the batch carries a delete horizon
// (KIP-534); then FirstTimestamp is that horizon.
func (h BatchHeader) HasDeleteHorizon() bool { return h.Attributes&attrDeleteHorizon != 0 }

// retainRules are the inputs of the per-record decision.
type retainRules struct {
	keys              *offsetMap
	nowMs             int64
	deleteRetentionMs int64
}

// batchVerdict is what a pass makes of one batch.
type batchVerdict struct {
	out               []byte // the batch to write; nil: the batch is dropped
	verbatim          bool   // out is the input, unchanged
	removed           int    // records dropped
	tombstonesRemoved int    // of which tombstones past their horizon
	keyless           int    // of which records without a key
}

// filterBatch applies Kafka's retention rules to batch b (header h, CRC
// already checked) and returns what to write in its place:
//
//   - a record without a key is dropped (a compacted topic refuses them at
//     produce; these predate a switch to cleanup.policy=compact);
//   - a record whose key has a later offset in the offset map is dropped
//     (superseded);
//   - a tombstone (null value) that is the latest for its key is kept until
//     its batch's delete horizon has passed, then dropped. The horizon is
//     stamped, as now + delete.retention.ms, on the first pass that keeps
//     the tombstone (KIP-534), so every tombstone stays readable for at
//     least delete.retention.ms after it was first cleaned, whatever the
//     file times;
//   - everything else is kept.
//
// A batch that keeps every record and needs no new horizon is written
// verbatim. Otherwise the kept records are re-encoded into one batch with
// the original base offset and last offset delta (so offsets never move and
// the producer's sequence range stays intact), epoch, producer fields and
// codec (re-compressed), a MaxTimestamp recomputed from the kept records
// (the original for LogAppendTime). A batch left with no records is
// dropped, unless keepEmpty: the last batch of an idempotent producer is
// kept as an empty batch so that its sequence state survives a restart, as
// Kafka does.
func filterBatch(b []byte, h BatchHeader, rules *retainRules, keepEmpty bool) (batchVerdict, error) {
	recs, err := DecodeRecords(b)
	if err != nil {
		return batchVerdict{}, err
	}
	var v batchVerdict
	horizonPassed := h.HasDeleteHorizon() && rules.nowMs >= h.FirstTimestamp
	kept := recs[:0]
	tombstones := 0
	for _, r := range recs {
		switch {
		case r.Key == nil:
			v.removed++
			v.keyless++
			continue
		case rules.keys.supersedes(r.Key, r.Offset):
			v.removed++
			continue
		case r.Value == nil && horizonPassed:
			v.removed++
			v.tombstonesRemoved++
			continue
		}
		if r.Value == nil {
			tombstones++
		}
		kept = append(kept, r)
	}
	stampHorizon := tombstones > 0 && !h.HasDeleteHorizon()
	switch {
	case len(recs) == 0 && !keepEmpty:
		return v, nil // an empty batch whose producer wrote again later
	case v.removed == 0 && !stampHorizon:
		v.out, v.verbatim = b, true
		return v, nil
	case len(kept) == 0 && keepEmpty:
		v.out = emptyBatch(h)
		return v, nil
	case len(kept) == 0:
		return v, nil
	}
	horizon := int64(-1)
	if stampHorizon {
		horizon = rules.nowMs + rules.deleteRetentionMs
	} else if h.HasDeleteHorizon() {
		horizon = h.FirstTimestamp
	}
	v.out, err = encodeBatch(h, kept, horizon)
	return v, err
}

// emptyBatch is the header of h alone, holding no records: what compaction
// keeps of an idempotent producer's last batch. It is uncompressed and has
// no delete horizon; offsets, epoch, producer fields and timestamps are h's.
func emptyBatch(h BatchHeader) []byte {
	h.Attributes &^= attrCompression | attrDeleteHorizon
	return assembleBatch(h, 0, nil)
}

// encodeBatch re-encodes the records recs of batch h (all of them must lie
// in h's offset range) with h's codec. horizon >= 0 stamps a delete
// horizon: it becomes FirstTimestamp and the attribute bit is set.
func encodeBatch(h BatchHeader, recs []Record, horizon int64) ([]byte, error) {
	logAppend := h.TimestampType() == TimestampLogAppendTime
	first, maxTs := recs[0].Timestamp, int64(-1)
	for _, r := range recs {
		maxTs = max(maxTs, r.Timestamp)
	}
	if logAppend {
		first, maxTs = h.FirstTimestamp, h.MaxTimestamp
	}
	h.Attributes &^= attrDeleteHorizon
	if horizon >= 0 {
		first = horizon
		h.Attributes |= attrDeleteHorizon
	}
	h.FirstTimestamp, h.MaxTimestamp = first, maxTs
	var raw, scratch []byte
	for i := range recs {
		tsDelta := recs[i].Timestamp - first
		if logAppend {
			tsDelta = 0 // readers take every record's timestamp from MaxTimestamp
		}
		raw, scratch = appendRecord(raw, scratch, &recs[i], tsDelta, recs[i].Offset-h.BaseOffset)
	}
	data, err := compress(h.Compression(), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: re-compressing a cleaned batch at offset %d with %s: %v", ErrIO, h.BaseOffset, codecName(h.Compression()), err)
	}
	return assembleBatch(h, int32(len(recs)), data), nil
}

// appendRecord appends r, encoded as a v2 record with the given deltas, to
// dst; scratch is reused for the record body.
func appendRecord(dst, scratch []byte, r *Record, tsDelta, offDelta int64) ([]byte, []byte) {
	body := append(scratch[:0], 0) // attributes
	body = binary.AppendVarint(body, tsDelta)
	body = binary.AppendVarint(body, offDelta)
	body = appendNullableBytes(body, r.Key)
	body = appendNullableBytes(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, hd := range r.Headers {
		body = binary.AppendVarint(body, int64(len(hd.Key)))
		body = append(body, hd.Key...)
		body = appendNullableBytes(body, hd.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...), body
}

// appendNullableBytes appends a varint length (-1 for nil) and b.
func appendNullableBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// assembleBatch writes the v2 header of h with n records and the records
// section data, and computes the batch length and CRC-32C.
func assembleBatch(h BatchHeader, n int32, data []byte) []byte {
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(data))
	be.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[offBatchLength:], uint32(BatchHeaderSize-logOverhead+len(data)))
	be.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], uint16(h.Attributes))
	be.PutUint32(b[offLastDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[offFirstTs:], uint64(h.FirstTimestamp))
	be.PutUint64(b[offMaxTs:], uint64(h.MaxTimestamp))
	be.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[offNumRecords:], uint32(n))
	b = append(b, data...)
	be.PutUint32(b[offCRC:], batchCRC(b))
	return b
}

// CheckRecordKeys checks that every record of the batches b (a produce
// payload that passed ValidateBatches) has a key, as a compacted topic
// requires (Kafka's LogValidator): a keyless record is ErrNoKey, an
// undecodable batch ErrCorruptBatch. Compressed batches are decompressed.
func CheckRecordKeys(b []byte) error {
	for pos := 0; pos < len(b); {
		h, err := parseFramed(b[pos:])
		if err != nil {
			return err
		}
		end := pos + int(h.Size())
		var keyless *Record
		err = walkRecords(b[pos:end], false, func(r *Record) bool {
			if r.Key == nil {
				keyless = r
			}
			return keyless == nil
		})
		if err != nil {
			return err
		}
		if keyless != nil {
			return fmt.Errorf("%w: the record at offset delta %d of the batch at byte %d has no key", ErrNoKey, keyless.Offset-h.BaseOffset, pos)
		}
		pos = end
	}
	return nil
}
