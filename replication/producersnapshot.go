package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
)

// The producer-state snapshot encoding: what storage.Log keeps in its
// <offset>.snapshot files (storage treats it as opaque bytes) so that a
// restart reads only the batch headers after the snapshot instead of the
// whole log. Big-endian:
//
//	version      int16   = 0
//	crc          uint32  CRC-32C (Castagnoli) of everything after this field
//	producers    int32
//	per producer, by increasing producer id:
//	  producerId   int64
//	  epoch        int16
//	  batches      int8    1..retainedBatches, oldest first
//	  per batch:
//	    firstSeq     int32
//	    lastSeq      int32
//	    firstOffset  int64
//	    lastOffset   int64
//	    appendTime   int64  -1 for CreateTime
//
// storage frames and checksums the file too; the CRC here makes the
// decoder safe on its own, whatever hands it the bytes. The encoding is
// canonical (sorted, no duplicates), so decode(encode(s)) == s and
// encode(decode(b)) == b for every b that decodes.

const (
	producerSnapshotVersion0 = 0
	producerSnapshotHeader   = 2 + 4 + 4
	producerEntryHeader      = 8 + 2 + 1
	producerBatchSize        = 4 + 4 + 8 + 8 + 8
)

var (
	snapshotCRCTable = crc32.MakeTable(crc32.Castagnoli)
	snapEndian       = binary.BigEndian

	// errBadProducerSnapshot: the bytes are not a snapshot this version
	// wrote intact; the caller rebuilds from the log instead.
	errBadProducerSnapshot = errors.New("bad producer state snapshot")
)

// encodeProducerState encodes s (see above).
func encodeProducerState(s producerState) []byte {
	pids := make([]int64, 0, len(s))
	size := producerSnapshotHeader
	for pid, e := range s {
		if len(e.batches) == 0 {
			continue // nothing to remember: check treats it as unknown anyway
		}
		pids = append(pids, pid)
		size += producerEntryHeader + len(e.batches)*producerBatchSize
	}
	slices.Sort(pids)
	b := make([]byte, producerSnapshotHeader, size)
	snapEndian.PutUint16(b[0:], producerSnapshotVersion0)
	snapEndian.PutUint32(b[6:], uint32(len(pids)))
	for _, pid := range pids {
		e := s[pid]
		b = snapEndian.AppendUint64(b, uint64(pid))
		b = snapEndian.AppendUint16(b, uint16(e.epoch))
		b = append(b, byte(len(e.batches)))
		for _, r := range e.batches {
			b = snapEndian.AppendUint32(b, uint32(r.firstSeq))
			b = snapEndian.AppendUint32(b, uint32(r.lastSeq))
			b = snapEndian.AppendUint64(b, uint64(r.firstOffset))
			b = snapEndian.AppendUint64(b, uint64(r.lastOffset))
			b = snapEndian.AppendUint64(b, uint64(r.appendTime))
		}
	}
	snapEndian.PutUint32(b[2:], crc32.Checksum(b[6:], snapshotCRCTable))
	return b
}

// snapshotReader reads big-endian fields with one sticky error: a short
// read yields zero values and is reported once, by err.
type snapshotReader struct {
	b   []byte
	err error
}

func (r *snapshotReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("%w: %d bytes left, need %d", errBadProducerSnapshot, len(r.b), n)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *snapshotReader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *snapshotReader) u16() uint16 {
	if v := r.take(2); v != nil {
		return snapEndian.Uint16(v)
	}
	return 0
}

func (r *snapshotReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return snapEndian.Uint32(v)
	}
	return 0
}

func (r *snapshotReader) u64() uint64 {
	if v := r.take(8); v != nil {
		return snapEndian.Uint64(v)
	}
	return 0
}

// decodeProducerState decodes what encodeProducerState wrote. Anything
// else (damage, another version, trailing bytes, a non-canonical or
// impossible state) is an error wrapping errBadProducerSnapshot, never a
// panic.
func decodeProducerState(b []byte) (producerState, error) {
	if len(b) < producerSnapshotHeader {
		return nil, fmt.Errorf("%w: %d bytes", errBadProducerSnapshot, len(b))
	}
	if v := snapEndian.Uint16(b); v != producerSnapshotVersion0 {
		return nil, fmt.Errorf("%w: version %d", errBadProducerSnapshot, v)
	}
	if crc := crc32.Checksum(b[6:], snapshotCRCTable); crc != snapEndian.Uint32(b[2:]) {
		return nil, fmt.Errorf("%w: CRC mismatch", errBadProducerSnapshot)
	}
	r := snapshotReader{b: b[6:]}
	n := int64(r.u32())
	if n > int64(len(r.b))/(producerEntryHeader+producerBatchSize) {
		return nil, fmt.Errorf("%w: %d producers in %d bytes", errBadProducerSnapshot, n, len(r.b))
	}
	s := make(producerState, n)
	prev := int64(-1)
	for i := int64(0); i < n && r.err == nil; i++ {
		pid := int64(r.u64())
		e := &producerEntry{epoch: int16(r.u16())}
		nb := int(r.u8())
		if r.err == nil && (pid <= prev || nb < 1 || nb > retainedBatches) {
			return nil, fmt.Errorf("%w: producer %d after %d with %d batches", errBadProducerSnapshot, pid, prev, nb)
		}
		prev = pid
		for j := 0; j < nb && r.err == nil; j++ {
			rec := batchRecord{
				firstSeq: int32(r.u32()), lastSeq: int32(r.u32()),
				firstOffset: int64(r.u64()), lastOffset: int64(r.u64()),
				appendTime: int64(r.u64()),
			}
			if err := checkBatchRecord(rec, e.batches); r.err == nil && err != nil {
				return nil, fmt.Errorf("%w: producer %d: %v", errBadProducerSnapshot, pid, err)
			}
			e.batches = append(e.batches, rec)
		}
		s[pid] = e
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadProducerSnapshot, len(r.b))
	}
	return s, nil
}

// checkBatchRecord rejects a remembered batch no log could have produced.
func checkBatchRecord(rec batchRecord, before []batchRecord) error {
	switch {
	case rec.firstOffset < 0 || rec.lastOffset < rec.firstOffset:
		return fmt.Errorf("batch offsets %d-%d", rec.firstOffset, rec.lastOffset)
	case rec.firstSeq < 0 || rec.lastSeq < 0:
		return fmt.Errorf("batch sequences %d-%d", rec.firstSeq, rec.lastSeq)
	case rec.appendTime < -1:
		return fmt.Errorf("append time %d", rec.appendTime)
	case len(before) > 0 && rec.firstOffset <= before[len(before)-1].lastOffset:
		return fmt.Errorf("batch at %d not after %d", rec.firstOffset, before[len(before)-1].lastOffset)
	}
	return nil
}
