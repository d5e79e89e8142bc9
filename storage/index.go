package storage

import (
	"errors"
	"fmt"
	"sort"
)

// Index entry sizes (Kafka's .index and .timeindex formats).
const (
	offsetIndexEntrySize = 8  // int32 relative offset, int32 file position
	timeIndexEntrySize   = 12 // int64 timestamp, int32 relative offset
)

// offsetEntry maps the last offset of a batch (relative to the segment's base
// offset) to the file position where the batch starts.
type offsetEntry struct {
	rel int32
	pos int32
}

// timeEntry records that the largest timestamp among the batches up to and
// including the one whose last offset is base+rel is ts, and that this batch
// is the first to reach it.
type timeEntry struct {
	ts  int64
	rel int32
}

func appendOffsetEntries(dst []byte, es []offsetEntry) []byte {
	for _, e := range es {
		dst = be.AppendUint32(dst, uint32(e.rel))
		dst = be.AppendUint32(dst, uint32(e.pos))
	}
	return dst
}

func appendTimeEntries(dst []byte, es []timeEntry) []byte {
	for _, e := range es {
		dst = be.AppendUint64(dst, uint64(e.ts))
		dst = be.AppendUint32(dst, uint32(e.rel))
	}
	return dst
}

var errBadIndex = errors.New("invalid index")

// decodeOffsetIndex parses a .index file and checks it against a log of
// logSize bytes: whole entries, relative offsets and positions strictly
// increasing, positions inside the log.
func decodeOffsetIndex(b []byte, logSize int64) ([]offsetEntry, error) {
	if len(b)%offsetIndexEntrySize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of entries", errBadIndex, len(b))
	}
	es := make([]offsetEntry, 0, len(b)/offsetIndexEntrySize)
	for i := 0; i < len(b); i += offsetIndexEntrySize {
		e := offsetEntry{rel: int32(be.Uint32(b[i:])), pos: int32(be.Uint32(b[i+4:]))}
		if e.rel < 0 || e.pos < 0 || int64(e.pos) >= logSize {
			return nil, fmt.Errorf("%w: entry %d (%d, %d) out of range", errBadIndex, len(es), e.rel, e.pos)
		}
		if n := len(es); n > 0 && (e.rel <= es[n-1].rel || e.pos <= es[n-1].pos) {
			return nil, fmt.Errorf("%w: entry %d (%d, %d) out of order", errBadIndex, n, e.rel, e.pos)
		}
		es = append(es, e)
	}
	return es, nil
}

// decodeTimeIndex parses a .timeindex file: whole entries, timestamps
// strictly increasing, relative offsets non-decreasing and non-negative.
func decodeTimeIndex(b []byte) ([]timeEntry, error) {
	if len(b)%timeIndexEntrySize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of time entries", errBadIndex, len(b))
	}
	es := make([]timeEntry, 0, len(b)/timeIndexEntrySize)
	for i := 0; i < len(b); i += timeIndexEntrySize {
		e := timeEntry{ts: int64(be.Uint64(b[i:])), rel: int32(be.Uint32(b[i+8:]))}
		if e.rel < 0 {
			return nil, fmt.Errorf("%w: time entry %d has offset %d", errBadIndex, len(es), e.rel)
		}
		if n := len(es); n > 0 && (e.ts <= es[n-1].ts || e.rel < es[n-1].rel) {
			return nil, fmt.Errorf("%w: time entry %d out of order", errBadIndex, n)
		}
		es = append(es, e)
	}
	return es, nil
}

// offsetIndexLookup returns the position to start scanning from for the
// batch holding relative offset rel: the position of the last entry whose
// offset is <= rel (that batch ends at or before rel), ignoring entries at or
// past end (published by an append the caller does not see yet). 0 if none.
func offsetIndexLookup(es []offsetEntry, rel int64, end int64) int64 {
	i := sort.Search(len(es), func(i int) bool { return int64(es[i].rel) > rel })
	for i > 0 && int64(es[i-1].pos) >= end {
		i--
	}
	if i == 0 {
		return 0
	}
	return int64(es[i-1].pos)
}

// timeIndexLookup returns the relative offset of the last entry whose
// timestamp is < ts: every batch up to that one has a max timestamp < ts,
// so the answer lies after it. ok is false when no such entry exists.
func timeIndexLookup(es []timeEntry, ts int64) (rel int64, ok bool) {
	i := sort.Search(len(es), func(i int) bool { return es[i].ts >= ts })
	if i == 0 {
		return 0, false
	}
	return int64(es[i-1].rel), true
}
