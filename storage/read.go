package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// FileRegion is a byte range of a segment file holding whole batches. In a
// ReadResult, File is the descriptor the read used; the segment's file
// cache may close it once Read returns (sealed segments), so use the
// result through Bytes or Pin, which open it again if needed. In Pinned,
// File is a duplicated descriptor that stays open until Release.
type FileRegion struct {
	File *os.File
	Pos  int64
	Len  int64
}

// ReadResult is the answer to Read: whole batches, as file regions so that a
// later change can send them with sendfile.
//
// Lifetime: the regions stay valid until the log is truncated (TruncateTo,
// TruncateFullyAndStartAt) or closed, or one of their segments is deleted
// (ApplyRetention, DeleteRecordsBefore) or replaced by its compacted copy
// (Compact). Bytes copies them under the log's read lock and fails with
// ErrTruncated (truncated or compacted: read again), ErrClosed or
// ErrOffsetOutOfRange respectively if that happened since Read, so it never
// returns other bytes than the ones Read found. A sealed segment's file
// closed meanwhile by the FileCache is simply opened again. Moving the log start offset without deleting the segment
// (DeleteRecordsBefore inside a segment) does not invalidate a result. Pin
// gives the same guarantee for the zero-copy path (see Pinned).
type ReadResult struct {
	Regions []FileRegion
	Size    int64 // total bytes in Regions

	log    *Log
	gen    uint64
	segs   []*segment // the segments the regions lie in
	owners []*segment // the segment of each region
}

// add appends n bytes at pos of seg's file f, merging with the previous
// region when contiguous.
func (r *ReadResult) add(f *os.File, seg *segment, pos, n int64) {
	if k := len(r.Regions); k > 0 && r.owners[k-1] == seg && r.Regions[k-1].Pos+r.Regions[k-1].Len == pos {
		r.Regions[k-1].Len += n
	} else {
		r.Regions = append(r.Regions, FileRegion{File: f, Pos: pos, Len: n})
		r.owners = append(r.owners, seg)
	}
	r.Size += n
}

// regionFile returns the open file of region i, with a reference to drop
// with the returned release. A ReadResult built without a log (tests)
// uses the region's own file.
func (r ReadResult) regionFile(i int) (*os.File, func(), error) {
	if i >= len(r.owners) {
		return r.Regions[i].File, func() {}, nil
	}
	seg := r.owners[i]
	f, err := seg.acquire()
	if err != nil {
		return nil, nil, err
	}
	return f, seg.release, nil
}

// addSegment records that the regions added next lie in seg.
func (r *ReadResult) addSegment(seg *segment) {
	if k := len(r.segs); k == 0 || r.segs[k-1] != seg {
		r.segs = append(r.segs, seg)
	}
}

// Bytes copies the regions out.
func (r ReadResult) Bytes() ([]byte, error) {
	if r.Size == 0 {
		return nil, nil
	}
	if l := r.log; l != nil {
		l.mu.RLock()
		defer l.mu.RUnlock()
		if err := r.checkValidLocked(); err != nil {
			return nil, err
		}
	}
	out := make([]byte, r.Size)
	n := int64(0)
	for i, rg := range r.Regions {
		f, release, err := r.regionFile(i)
		if err != nil {
			return nil, err
		}
		_, err = f.ReadAt(out[n:n+rg.Len], rg.Pos)
		release()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("%w: read %s at byte %d: %v", ErrIO, f.Name(), rg.Pos, err)
		}
		n += rg.Len
	}
	return out, nil
}

// checkValidLocked reports whether the read's regions still hold the bytes
// Read found; the caller holds r.log.mu (read).
func (r ReadResult) checkValidLocked() error {
	l := r.log
	if l.closed.Load() {
		return ErrClosed
	}
	if l.gen != r.gen {
		return ErrTruncated
	}
	for _, s := range r.segs {
		if s.deleted.Load() {
			return fmt.Errorf("%w: segment %d was deleted after the read", ErrOffsetOutOfRange, s.base)
		}
		if s.replaced.Load() {
			return fmt.Errorf("%w: segment %d was compacted after the read", ErrTruncated, s.base)
		}
	}
	return nil
}

// segmentIndexLocked is the index in l.segs of the segment that holds
// offset (the last segment whose base is <= offset; 0 if none).
func (l *Log) segmentIndexLocked(offset int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })
	return max(i-1, 0)
}

// Read returns whole batches starting with the one that contains offset, up
// to maxBytes in total but always at least one batch if one exists below
// maxOffset (KIP-74), and never a batch whose base offset is >= maxOffset
// (the high watermark) or >= the log end offset. offset == LogEndOffset or
// >= maxOffset gives an empty result; offset below LogStartOffset or above
// LogEndOffset is ErrOffsetOutOfRange.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64) (ReadResult, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed.Load() {
		return ReadResult{}, ErrClosed
	}
	leo, start := l.leo.Load(), l.start.Load()
	if offset < start || offset > leo {
		return ReadResult{}, fmt.Errorf("%w: offset %d outside [%d, %d]", ErrOffsetOutOfRange, offset, start, leo)
	}
	res := ReadResult{log: l, gen: l.gen}
	limit := min(maxOffset, leo)
	for i := l.segmentIndexLocked(offset); i < len(l.segs) && offset < limit; i++ {
		done, err := readSegment(l.segs[i], &res, offset, int64(maxBytes), limit)
		if err != nil || done {
			return res, err
		}
	}
	return res, nil
}

// readSegment adds the batches of seg that qualify to res; done is true when
// the read is complete (limit or maxBytes reached).
func readSegment(seg *segment, res *ReadResult, offset, maxBytes, limit int64) (done bool, err error) {
	f, err := seg.acquire()
	if err != nil {
		return true, err
	}
	defer seg.release()
	sc := newHeaderScanner(f, seg.size.Load())
	pos, h, found, err := seg.locate(sc, offset)
	if err != nil || !found {
		return false, err
	}
	for {
		if h.BaseOffset >= limit {
			return true, nil
		}
		if res.Size > 0 && res.Size+h.Size() > maxBytes {
			return true, nil
		}
		res.addSegment(seg)
		res.add(f, seg, pos, h.Size())
		if pos += h.Size(); pos >= sc.end {
			return false, nil
		}
		if h, err = sc.header(pos); err != nil {
			return true, err
		}
	}
}

// OffsetForTimestamp answers ListOffsets by timestamp per record, as Kafka's
// LogSegment.findOffsetByTimestamp does: the offset and timestamp of the
// first record, in offset order, whose timestamp is >= ts and whose offset
// is >= LogStartOffset (so the answer can be fetched). found is false if no
// record qualifies. The candidate batches (MaxTimestamp >= ts) are found
// through the time and offset indexes and only those are decoded, one at a
// time, until a record qualifies. A batch that cannot be decoded is answered
// at batch granularity (its base offset, raised to LogStartOffset, and its
// MaxTimestamp), with a warning: the lookup still points at the right batch.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed.Load() {
		return -1, -1, false, ErrClosed
	}
	leo, start := l.leo.Load(), l.start.Load()
	for _, seg := range l.segs {
		seg.mu.RLock()
		segMax := seg.maxTs
		rel, ok := timeIndexLookup(seg.timeIdx, ts)
		seg.mu.RUnlock()
		if segMax < ts || seg.next.Load() <= start {
			continue
		}
		from := max(seg.base, start)
		if ok {
			from = max(seg.base+rel, start)
		}
		offset, timestamp, found, err = l.offsetForTimestampIn(seg, from, ts, start, leo)
		if found || err != nil {
			return offset, timestamp, found, err
		}
	}
	return -1, -1, false, nil
}

// offsetForTimestampIn scans seg from the batch holding from for the first
// record at or after start with a timestamp >= ts. The caller holds l.mu.
func (l *Log) offsetForTimestampIn(seg *segment, from, ts, start, leo int64) (int64, int64, bool, error) {
	f, err := seg.acquire()
	if err != nil {
		return -1, -1, false, err
	}
	defer seg.release()
	sc := newHeaderScanner(f, seg.size.Load())
	pos, h, found, err := seg.locate(sc, from)
	for found && err == nil && h.BaseOffset < leo {
		if h.MaxTimestamp >= ts {
			off, rts, ok, err := l.firstRecordAtOrAfter(seg, f, pos, h, ts, start)
			if ok || err != nil {
				return off, rts, ok, err
			}
		}
		if pos += h.Size(); pos >= sc.end {
			break
		}
		h, err = sc.header(pos)
	}
	return -1, -1, false, err
}

// firstRecordAtOrAfter decodes the batch h at pos of seg and returns the
// first record with offset >= start and timestamp >= ts. The caller holds
// l.mu, which keeps its bytes in place, and a reference to f, seg's file.
func (l *Log) firstRecordAtOrAfter(seg *segment, f *os.File, pos int64, h BatchHeader, ts, start int64) (int64, int64, bool, error) {
	b, err := readBatchAt(f, pos, h)
	if err != nil {
		return -1, -1, false, err
	}
	var off, rts int64
	found := false
	err = walkRecords(b, false, func(r *Record) bool {
		if r.Offset >= start && r.Timestamp >= ts {
			off, rts, found = r.Offset, r.Timestamp, true
		}
		return !found
	})
	if err != nil && !found {
		l.logger.Warn().Err(err).Str("file", seg.name()).Int64("position", pos).Int64("base_offset", h.BaseOffset).
			Msg("cannot decode the records of a batch; answering the timestamp lookup at batch granularity")
		return max(h.BaseOffset, start), h.MaxTimestamp, true, nil
	}
	return off, rts, found, nil
}

// MaxTimestamp answers ListOffsets MAX_TIMESTAMP (KIP-734): the largest
// timestamp in the log and the offset of the first record carrying it, or
// -1, -1 if no batch has a timestamp. The segments remember which batch
// first reached the largest batch MaxTimestamp; that batch is decoded here
// to find the record. If it cannot be read or decoded, or no record carries
// its MaxTimestamp (a producer that set the header wrong), the answer falls
// back to the batch's base offset.
func (l *Log) MaxTimestamp() (ts int64, offset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed.Load() {
		return -1, -1
	}
	var best *segment
	ts, last := int64(-1), int64(-1)
	for _, seg := range l.segs {
		seg.mu.RLock()
		if seg.maxTs > ts {
			best, ts, last = seg, seg.maxTs, seg.maxTsOffset
		}
		seg.mu.RUnlock()
	}
	if best == nil || last < 0 {
		return -1, -1
	}
	f, err := best.acquire()
	if err != nil {
		return ts, last
	}
	defer best.release()
	sc := newHeaderScanner(f, best.size.Load())
	pos, h, found, err := best.locate(sc, last)
	if err != nil || !found {
		return ts, last
	}
	b, err := readBatchAt(f, pos, h)
	if err == nil {
		if off, ok := offsetOfMaxTimestamp(b, h); ok {
			return ts, off
		}
	}
	l.logger.Warn().AnErr("error", err).Str("file", best.name()).Int64("position", pos).Int64("base_offset", h.BaseOffset).
		Msg("no record found carrying the batch max timestamp; answering MAX_TIMESTAMP with the batch base offset")
	return ts, h.BaseOffset
}

// offsetOfMaxTimestamp is the offset of the first record of batch b (header
// h) whose timestamp equals the batch MaxTimestamp. ok is false if b cannot
// be decoded or no record carries it.
func offsetOfMaxTimestamp(b []byte, h BatchHeader) (offset int64, ok bool) {
	err := walkRecords(b, false, func(r *Record) bool {
		if r.Timestamp == h.MaxTimestamp {
			offset, ok = r.Offset, true
		}
		return !ok
	})
	return offset, ok && err == nil
}

// readBatchAt reads the whole batch h at pos of f.
func readBatchAt(f *os.File, pos int64, h BatchHeader) ([]byte, error) {
	b := make([]byte, h.Size())
	if n, err := f.ReadAt(b, pos); n < len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: read batch of %s at byte %d: %v", ErrIO, f.Name(), pos, err)
	}
	return b, nil
}

// ScanBatchHeaders calls fn for every batch header from the batch containing
// from up to the log end (from below LogStartOffset starts at the first
// batch). fn runs without locks held, on headers gathered in chunks; an
// error from fn stops the scan and is returned.
func (l *Log) ScanBatchHeaders(from int64, fn func(BatchHeader) error) error {
	for {
		hs, next, err := l.headerChunk(from, 1024)
		if err != nil {
			return err
		}
		for _, h := range hs {
			if err := fn(h); err != nil {
				return err
			}
		}
		if len(hs) == 0 {
			return nil
		}
		from = next
	}
}

// headerChunk gathers up to n headers from the batch containing from.
func (l *Log) headerChunk(from int64, n int) ([]BatchHeader, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed.Load() {
		return nil, 0, ErrClosed
	}
	leo := l.leo.Load()
	if from > leo {
		return nil, 0, fmt.Errorf("%w: scan from %d, log end offset is %d", ErrOffsetOutOfRange, from, leo)
	}
	from = max(from, l.start.Load())
	var hs []BatchHeader
	for i := l.segmentIndexLocked(from); i < len(l.segs) && from < leo && len(hs) < n; i++ {
		seg := l.segs[i]
		err := seg.withFile(func(f *os.File) error {
			sc := newHeaderScanner(f, seg.size.Load())
			pos, h, found, err := seg.locate(sc, from)
			for found && err == nil && h.BaseOffset < leo && len(hs) < n {
				hs = append(hs, h)
				from = h.NextOffset()
				if pos += h.Size(); pos >= sc.end {
					break
				}
				h, err = sc.header(pos)
			}
			return err
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return hs, from, nil
}
