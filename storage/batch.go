package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Byte offsets of the RecordBatch v2 header fields (Kafka protocol guide,
// "Record Batch"). The CRC covers bytes [offAttributes, end of batch); the
// three fields before offMagic and the magic itself are outside it.
const (
	offBaseOffset    = 0
	offBatchLength   = 8
	offLeaderEpoch   = 12
	offMagic         = 16
	offCRC           = 17
	offAttributes    = 21
	offLastDelta     = 23
	offFirstTs       = 27
	offMaxTs         = 35
	offProducerID    = 43
	offProducerEpoch = 51
	offBaseSequence  = 53
	offNumRecords    = 57

	// BatchHeaderSize is the size of the RecordBatch v2 header, up to and
	// including the record count.
	BatchHeaderSize = 61

	// logOverhead is the part of a batch not counted in BatchLength: the base
	// offset and the length itself.
	logOverhead = 12
	// minBatchLength is the smallest legal BatchLength (a header, no records).
	minBatchLength = BatchHeaderSize - logOverhead
)

// Attribute bits of a v2 batch.
const (
	attrCompression   = 0x07
	attrTimestampType = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// Timestamp types, as returned by BatchHeader.TimestampType.
const (
	TimestampCreateTime    int8 = 0
	TimestampLogAppendTime int8 = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var be = binary.BigEndian

// BatchHeader is the decoded fixed header of a RecordBatch v2.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// LastOffset is the offset of the last record in the batch.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset following the batch.
func (h BatchHeader) NextOffset() int64 { return h.LastOffset() + 1 }

// Size is the batch's size in bytes, including base offset and length.
func (h BatchHeader) Size() int64 { return logOverhead + int64(h.BatchLength) }

// IsTransactional reports the transactional attribute (KIP-98).
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports whether the batch holds control records (commit/abort markers).
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// Compression is the codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (h BatchHeader) Compression() int8 { return int8(h.Attributes & attrCompression) }

// TimestampType is TimestampCreateTime or TimestampLogAppendTime.
func (h BatchHeader) TimestampType() int8 {
	if h.Attributes&attrTimestampType != 0 {
		return TimestampLogAppendTime
	}
	return TimestampCreateTime
}

// ParseBatchHeader decodes the header at the start of b. It never panics:
// input too short for a header yields ErrCorruptBatch, a magic other than 2
// yields ErrUnsupportedMagic (with the fields before the magic filled in).
// It does not check the CRC or that b holds the whole batch.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	var h BatchHeader
	if len(b) <= offMagic {
		return h, fmt.Errorf("%w: %d bytes, a batch header needs %d", ErrCorruptBatch, len(b), BatchHeaderSize)
	}
	h.BaseOffset = int64(be.Uint64(b[offBaseOffset:]))
	h.BatchLength = int32(be.Uint32(b[offBatchLength:]))
	h.PartitionLeaderEpoch = int32(be.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, h.Magic)
	}
	if len(b) < BatchHeaderSize {
		return h, fmt.Errorf("%w: %d bytes, a batch header needs %d", ErrCorruptBatch, len(b), BatchHeaderSize)
	}
	h.CRC = be.Uint32(b[offCRC:])
	h.Attributes = int16(be.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(be.Uint32(b[offLastDelta:]))
	h.FirstTimestamp = int64(be.Uint64(b[offFirstTs:]))
	h.MaxTimestamp = int64(be.Uint64(b[offMaxTs:]))
	h.ProducerID = int64(be.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(be.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(be.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(be.Uint32(b[offNumRecords:]))
	return h, nil
}

// parseFramed parses the header at the start of b and checks that the batch
// length is sane and that b holds the whole batch.
func parseFramed(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if h.BatchLength < minBatchLength {
		return h, fmt.Errorf("%w: batch length %d below the minimum %d", ErrCorruptBatch, h.BatchLength, minBatchLength)
	}
	if h.Size() > int64(len(b)) {
		return h, fmt.Errorf("%w: batch length %d exceeds the %d bytes available", ErrCorruptBatch, h.BatchLength, len(b)-logOverhead)
	}
	if h.LastOffsetDelta < 0 {
		return h, fmt.Errorf("%w: negative last offset delta %d", ErrCorruptBatch, h.LastOffsetDelta)
	}
	return h, nil
}

// batchCRC computes the CRC-32C of a whole batch (attributes to end).
func batchCRC(batch []byte) uint32 {
	return crc32.Checksum(batch[offAttributes:], castagnoli)
}

// checkCRC verifies the CRC of the whole batch b (exactly h.Size() bytes).
func checkCRC(h BatchHeader, b []byte) error {
	if got := batchCRC(b); got != h.CRC {
		return fmt.Errorf("%w: crc32c %#08x, header says %#08x", ErrCorruptBatch, got, h.CRC)
	}
	return nil
}

// ValidateBatches checks a produce payload: one or more concatenated
// RecordBatch v2. Every batch must be complete with a consistent length,
// magic 2 (else ErrUnsupportedMagic), a matching CRC-32C, NumRecords > 0 and
// LastOffsetDelta == NumRecords-1 (else ErrCorruptBatch), and at most
// maxBatchBytes bytes including its 12-byte offset/length prefix (else
// ErrBatchTooLarge; maxBatchBytes <= 0 means no limit). Compressed records
// are not decompressed. It returns the parsed headers.
func ValidateBatches(b []byte, maxBatchBytes int) ([]BatchHeader, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no record batches", ErrCorruptBatch)
	}
	var hs []BatchHeader
	for pos := 0; pos < len(b); {
		h, err := validateBatch(b[pos:], maxBatchBytes)
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", len(hs), pos, err)
		}
		hs = append(hs, h)
		pos += int(h.Size())
	}
	return hs, nil
}

func validateBatch(b []byte, maxBatchBytes int) (BatchHeader, error) {
	h, err := parseFramed(b)
	if err != nil {
		return h, err
	}
	if maxBatchBytes > 0 && h.Size() > int64(maxBatchBytes) {
		return h, fmt.Errorf("%w: %d bytes, the limit is %d", ErrBatchTooLarge, h.Size(), maxBatchBytes)
	}
	if err := checkCRC(h, b[:h.Size()]); err != nil {
		return h, err
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta != h.NumRecords-1 {
		return h, fmt.Errorf("%w: %d records with last offset delta %d", ErrCorruptBatch, h.NumRecords, h.LastOffsetDelta)
	}
	return h, nil
}

// validateStored checks a batch read back from disk or received from a
// leader: framing, magic, CRC. Unlike a produce, a stored batch may hold no
// records (compaction keeps empty batches for producer state), so only
// NumRecords >= 0 is required.
func validateStored(b []byte) (BatchHeader, error) {
	h, err := parseFramed(b)
	if err != nil {
		return h, err
	}
	if err := checkCRC(h, b[:h.Size()]); err != nil {
		return h, err
	}
	if h.NumRecords < 0 || h.BaseOffset < 0 {
		return h, fmt.Errorf("%w: %d records at base offset %d", ErrCorruptBatch, h.NumRecords, h.BaseOffset)
	}
	return h, nil
}

// walkBatches checks the framing of concatenated batches without checking
// CRCs (Append trusts ValidateBatches for those) and returns their headers.
func walkBatches(b []byte, checkCRCs bool) ([]BatchHeader, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no record batches", ErrCorruptBatch)
	}
	if len(b) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d bytes in one append", ErrBatchTooLarge, len(b))
	}
	var hs []BatchHeader
	for pos := 0; pos < len(b); {
		var h BatchHeader
		var err error
		if checkCRCs {
			h, err = validateStored(b[pos:])
		} else {
			h, err = parseFramed(b[pos:])
		}
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", len(hs), pos, err)
		}
		hs = append(hs, h)
		pos += int(h.Size())
	}
	return hs, nil
}

// StampBatch rewrites the base offset and partition leader epoch of the batch
// at the start of b, in place; both lie outside the CRC, so the CRC stays
// valid. If logAppendTime >= 0 it also sets the timestamp-type attribute to
// LogAppendTime and MaxTimestamp to logAppendTime, and recomputes the CRC.
// FirstTimestamp is left alone, as Kafka does: record timestamp deltas are
// relative to it, and clients read every record's timestamp from
// MaxTimestamp when the type is LogAppendTime. b must hold one complete
// batch (as checked by ValidateBatches); shorter input is left untouched.
func StampBatch(b []byte, baseOffset int64, leaderEpoch int32, logAppendTime int64) {
	if len(b) < BatchHeaderSize {
		return
	}
	be.PutUint64(b[offBaseOffset:], uint64(baseOffset))
	be.PutUint32(b[offLeaderEpoch:], uint32(leaderEpoch))
	if logAppendTime < 0 {
		return
	}
	attrs := be.Uint16(b[offAttributes:]) | attrTimestampType
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint64(b[offMaxTs:], uint64(logAppendTime))
	end := logOverhead + int64(int32(be.Uint32(b[offBatchLength:])))
	if end > int64(len(b)) || end < BatchHeaderSize {
		end = int64(len(b))
	}
	be.PutUint32(b[offCRC:], batchCRC(b[:end]))
}
