package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// segment is one <base>.log with its .index and .timeindex.
//
// Descriptors: the active segment's .log is open from its creation (or its
// activation by Open or a truncation) until it is sealed; a sealed
// segment's .log is opened on demand through the log's FileCache, which
// closes the least recently used ones beyond its bound, so every use of it
// takes a reference (acquire, release, withFile). The index files are open
// only while something writes them: the active segment from its creation
// (or the first index write after a clean Open) until it is sealed, and a
// segment whose indexes are being rebuilt. The in-memory indexes are the
// ones lookups use, so a sealed segment costs at most one descriptor, and
// none once evicted. log, idxFile and timeFile are touched only under
// Log.appendMu (or during Open, or by the cleaner on a copy nobody else
// sees).
//
// Published state (size, next) is written by the appender after the bytes
// are in the file and read by readers without locks: every byte below size
// is a complete batch. Index entries and the max-timestamp pair are guarded
// by mu; an index entry may briefly point at or past a reader's size
// snapshot, so lookups ignore such entries.
type segment struct {
	base int64
	// log is the handle the segment is written through: the active
	// segment's .log (also registered, uncounted, in fc), or the .cleaned
	// file of a compacted copy being written (fc nil). nil once sealed.
	log      *os.File
	idxFile  *os.File
	timeFile *os.File
	fc       *FileCache // nil for a compacted copy until it is installed
	cached   cachedFile // guarded by fc.mu

	size atomic.Int64 // bytes of complete batches
	next atomic.Int64 // offset after the last batch (base if empty)
	// deleted is set, under Log.mu, when the segment leaves the segment
	// list for deletion (retention, DeleteRecordsBefore); replaced when
	// compaction swaps in a cleaned copy (cleaner.go). ReadResult.Bytes
	// checks both before touching the segment's file.
	deleted  atomic.Bool
	replaced atomic.Bool
	logPath  string // the .log file's final name (its fd may have been opened under a temporary one)

	// Appender-only state: touched under Log.appendMu (or during Open).
	bytesSinceIndex int64
	rollTs          int64 // MaxTimestamp of the first batch, -1 if none
	createdMs       int64
	idxDirty        bool // an index file write failed; rewrite before sealing
	txnUnsynced     bool // the .txnindex was written without fsync (page-cache mode)

	mu          sync.RWMutex
	offIdx      []offsetEntry
	timeIdx     []timeEntry
	maxTs       int64        // largest batch MaxTimestamp, -1 if none
	maxTsOffset int64        // last offset of the first batch reaching maxTs, -1 if none
	txns        []AbortedTxn // the .txnindex entries (txnindex.go)
}

func segmentPaths(dir string, base int64) (log, idx, tidx string) {
	return filepath.Join(dir, segmentFileName(base, logSuffix)),
		filepath.Join(dir, segmentFileName(base, indexSuffix)),
		filepath.Join(dir, segmentFileName(base, timeIndexSuffix))
}

// openSegment returns the existing segment at base (create=false) with no
// file open yet (Open activates the last one, the others open on demand
// through fc), or creates (create=true, the .log must not exist yet) all
// three files of a new active segment. Sizes and indexes are loaded by the
// caller; an opened segment's index files are opened on demand
// (openIndexes).
func openSegment(dir string, base int64, create bool, fc *FileCache) (*segment, error) {
	logPath := filepath.Join(dir, segmentFileName(base, logSuffix))
	s := &segment{base: base, logPath: logPath, fc: fc, rollTs: -1, maxTs: -1, maxTsOffset: -1, createdMs: time.Now().UnixMilli()}
	if !create {
		return s, nil
	}
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v", ErrIO, logPath, err)
	}
	s.log = f
	fc.addActive(s, f)
	// A stale index of a removed segment must not leak in.
	if err := s.openIndexes(os.O_TRUNC); err != nil {
		_ = s.close()
		return nil, err
	}
	if err := os.Remove(s.txnPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		_ = s.close()
		return nil, fmt.Errorf("%w: remove stale %s: %v", ErrIO, s.txnPath(), err)
	}
	s.next.Store(base)
	return s, nil
}

// acquire returns the segment's open .log and keeps it open until release.
func (s *segment) acquire() (*os.File, error) {
	if s.fc == nil {
		return s.log, nil
	}
	return s.fc.acquire(s)
}

// release drops the reference taken by acquire.
func (s *segment) release() {
	if s.fc != nil {
		s.fc.release(s)
	}
}

// withFile runs fn on the segment's open .log.
func (s *segment) withFile(fn func(f *os.File) error) error {
	f, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.release()
	return fn(f)
}

// activate makes the segment the active one: its .log stays open for
// writing until it is sealed again. The caller holds Log.appendMu (or is
// Open).
func (s *segment) activate() error {
	if s.log != nil {
		return nil
	}
	f, err := s.fc.activate(s)
	if err != nil {
		return err
	}
	s.log = f
	return nil
}

// sealed hands the segment's .log to the cache once seal made it durable:
// from now on it is read through acquire. The caller holds Log.appendMu.
func (s *segment) sealed() {
	if s.fc != nil {
		s.fc.seal(s)
		s.log = nil
	}
}

// openIndexes opens the index files under their final names if they are
// not open (flag adds to O_RDWR|O_CREATE).
func (s *segment) openIndexes(flag int) error {
	if s.idxFile != nil && s.timeFile != nil {
		return nil
	}
	_, idxPath, timePath := segmentPaths(filepath.Dir(s.logPath), s.base)
	var err error
	for _, f := range []struct {
		f    **os.File
		path string
	}{{&s.idxFile, idxPath}, {&s.timeFile, timePath}} {
		if *f.f == nil {
			if *f.f, err = os.OpenFile(f.path, os.O_RDWR|os.O_CREATE|flag, 0o644); err != nil {
				return fmt.Errorf("%w: open index of %s: %v", ErrIO, s.logPath, err)
			}
		}
	}
	return nil
}

// closeIndexes closes the index files; their contents are durable and
// equal to the in-memory indexes (the segment was sealed or rebuilt).
func (s *segment) closeIndexes() error {
	var errs []error
	for _, f := range []**os.File{&s.idxFile, &s.timeFile} {
		if *f != nil {
			errs = append(errs, (*f).Close())
			*f = nil
		}
	}
	return errors.Join(errs...)
}

// syncIndexes fsyncs the index files that are open; closed ones were
// durable when they were closed or loaded.
func (s *segment) syncIndexes() error {
	for _, f := range []*os.File{s.idxFile, s.timeFile} {
		if f == nil {
			continue
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("%w: fsync %s: %v", ErrIO, f.Name(), err)
		}
	}
	return nil
}

func (s *segment) name() string { return s.logPath }

// close closes the files (the cached .log at its last release if a reader
// still uses it) and takes the segment out of its cache for good; it is
// safe on a partly opened segment.
func (s *segment) close() error {
	var errs []error
	if s.fc != nil {
		errs = append(errs, s.fc.drop(s))
	} else if s.log != nil {
		errs = append(errs, s.log.Close())
	}
	s.log = nil
	errs = append(errs, s.closeIndexes())
	return errors.Join(errs...)
}

// remove closes and deletes the segment's files (see removeSegmentFiles).
func (s *segment) remove() error {
	_ = s.close()
	return removeSegmentFiles(filepath.Dir(s.name()), s.base)
}

// rel converts an absolute offset into the segment's relative offset.
func (s *segment) rel(offset int64) int32 { return int32(offset - s.base) }

// fitsOffset reports whether offset can be stored relative to base.
func (s *segment) fitsOffset(offset int64) bool {
	d := offset - s.base
	return d >= 0 && d <= math.MaxInt32
}

// indexPosition is where to start scanning for the batch holding offset.
func (s *segment) indexPosition(offset int64, end int64) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return offsetIndexLookup(s.offIdx, offset-s.base, end)
}

// trackBatch feeds one batch at pos into the in-memory indexes and the max
// timestamp, following Kafka's LogSegment.append: the max timestamp first,
// then, once more than interval bytes were written since the last entry, an
// offset entry for this batch and a time entry if the max timestamp grew.
// The new entries are appended to *newOff and *newTime, if not nil, for the
// file writes. The caller holds s.mu.
func (s *segment) trackBatchLocked(h BatchHeader, pos, interval int64, newOff *[]offsetEntry, newTime *[]timeEntry) {
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.LastOffset()
	}
	if s.bytesSinceIndex > interval {
		e := offsetEntry{rel: s.rel(h.LastOffset()), pos: int32(pos)}
		s.offIdx = append(s.offIdx, e)
		t, ok := s.maybeTimeEntryLocked()
		if newOff != nil {
			*newOff = append(*newOff, e)
			if ok {
				*newTime = append(*newTime, t)
			}
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += h.Size()
}

// maybeTimeEntryLocked appends a time entry for the current max timestamp if
// it is larger than the last entry's.
func (s *segment) maybeTimeEntryLocked() (timeEntry, bool) {
	if s.maxTsOffset < 0 {
		return timeEntry{}, false
	}
	if n := len(s.timeIdx); n > 0 && s.timeIdx[n-1].ts >= s.maxTs {
		return timeEntry{}, false
	}
	t := timeEntry{ts: s.maxTs, rel: s.rel(s.maxTsOffset)}
	s.timeIdx = append(s.timeIdx, t)
	return t, true
}

// trackAppend indexes the batches just written at pos and appends the new
// entries to the index files. An index write failure is not fatal: indexes
// are derived data, so the segment is marked dirty and its index files are
// rewritten from memory before it is sealed (and rebuilt by recovery).
func (s *segment) trackAppend(hs []BatchHeader, pos, interval int64) error {
	var newOff []offsetEntry
	var newTime []timeEntry
	if pos == 0 && len(hs) > 0 {
		s.rollTs = hs[0].MaxTimestamp
	}
	s.mu.Lock()
	offCount, timeCount := len(s.offIdx), len(s.timeIdx)
	for _, h := range hs {
		s.trackBatchLocked(h, pos, interval, &newOff, &newTime)
		pos += h.Size()
	}
	s.mu.Unlock()
	if s.idxDirty {
		return nil // the files are rewritten whole before sealing
	}
	var err error
	if len(newOff) > 0 || len(newTime) > 0 {
		err = s.openIndexes(0)
	}
	if len(newOff) > 0 && err == nil {
		_, err = s.idxFile.WriteAt(appendOffsetEntries(nil, newOff), int64(offCount)*offsetIndexEntrySize)
	}
	if len(newTime) > 0 && err == nil {
		_, err = s.timeFile.WriteAt(appendTimeEntries(nil, newTime), int64(timeCount)*timeIndexEntrySize)
	}
	if err != nil {
		s.idxDirty = true
		return fmt.Errorf("%w: write index of %s: %v", ErrIO, s.name(), err)
	}
	return nil
}

// writeIndexes rewrites both index files from the in-memory entries.
func (s *segment) writeIndexes() error {
	s.mu.RLock()
	off := appendOffsetEntries(nil, s.offIdx)
	tim := appendTimeEntries(nil, s.timeIdx)
	s.mu.RUnlock()
	if err := s.openIndexes(0); err != nil {
		return err
	}
	for _, w := range []struct {
		f *os.File
		b []byte
	}{{s.idxFile, off}, {s.timeFile, tim}} {
		if _, err := w.f.WriteAt(w.b, 0); err != nil {
			return fmt.Errorf("%w: write %s: %v", ErrIO, w.f.Name(), err)
		}
		if err := w.f.Truncate(int64(len(w.b))); err != nil {
			return fmt.Errorf("%w: truncate %s: %v", ErrIO, w.f.Name(), err)
		}
	}
	s.idxDirty = false
	return nil
}

// seal prepares a segment that stops being the active one: the time index
// gets a final entry for the segment's max timestamp (Kafka's
// onBecomeInactiveSegment), dirty indexes are rewritten, and the log and both
// indexes are fsynced. After seal the segment is immutable and durable, which
// is what lets recovery trust every segment but the last.
func (s *segment) seal() error {
	s.mu.Lock()
	t, added := s.maybeTimeEntryLocked()
	count := len(s.timeIdx)
	s.mu.Unlock()
	if added && !s.idxDirty {
		if err := s.openIndexes(0); err != nil {
			s.idxDirty = true
		} else if _, err := s.timeFile.WriteAt(appendTimeEntries(nil, []timeEntry{t}), int64(count-1)*timeIndexEntrySize); err != nil {
			s.idxDirty = true
		}
	}
	if s.idxDirty {
		if err := s.writeIndexes(); err != nil {
			return err
		}
	}
	if err := s.syncTxnIndex(); err != nil {
		return err
	}
	return s.syncAll()
}

// syncAll fsyncs the log and the open index files (see syncIndexes).
func (s *segment) syncAll() error {
	err := s.withFile(func(f *os.File) error {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("%w: fsync %s: %v", ErrIO, s.logPath, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.syncIndexes()
}

// headerScanner reads batch headers from a segment file through a small
// window, so that walking many small batches costs few reads.
type headerScanner struct {
	f      *os.File
	end    int64 // headers must lie below end
	buf    []byte
	bufPos int64
	bufLen int
}

const scanWindow = 4096

func newHeaderScanner(f *os.File, end int64) *headerScanner {
	return &headerScanner{f: f, end: end, buf: make([]byte, scanWindow)}
}

// header returns the batch header at pos, checked for framing: magic 2, sane
// length, the batch ends at or before end. Anything else is on-disk
// corruption (ErrCorrupt) naming the file and position.
func (sc *headerScanner) header(pos int64) (BatchHeader, error) {
	if pos < 0 || pos+BatchHeaderSize > sc.end {
		return BatchHeader{}, fmt.Errorf("%w: %s: truncated batch header at byte %d (end %d)", ErrCorrupt, sc.f.Name(), pos, sc.end)
	}
	if pos < sc.bufPos || pos+BatchHeaderSize > sc.bufPos+int64(sc.bufLen) {
		n := int(min(int64(len(sc.buf)), sc.end-pos))
		got, err := sc.f.ReadAt(sc.buf[:n], pos)
		if got < n {
			if err == nil || errors.Is(err, io.EOF) {
				return BatchHeader{}, fmt.Errorf("%w: %s: file ends before byte %d", ErrCorrupt, sc.f.Name(), pos+int64(n))
			}
			return BatchHeader{}, fmt.Errorf("%w: read %s at %d: %v", ErrIO, sc.f.Name(), pos, err)
		}
		sc.bufPos, sc.bufLen = pos, n
	}
	off := pos - sc.bufPos
	h, err := ParseBatchHeader(sc.buf[off : off+BatchHeaderSize])
	if err == nil && (h.BatchLength < minBatchLength || pos+h.Size() > sc.end || h.LastOffsetDelta < 0) {
		err = fmt.Errorf("batch length %d", h.BatchLength)
	}
	if err != nil {
		return h, fmt.Errorf("%w: %s: bad batch header at byte %d: %v", ErrCorrupt, sc.f.Name(), pos, err)
	}
	return h, nil
}

// locate finds the first batch below sc.end whose last offset is >= offset,
// starting from the sparse index. found is false if there is none.
func (s *segment) locate(sc *headerScanner, offset int64) (pos int64, h BatchHeader, found bool, err error) {
	pos = s.indexPosition(offset, sc.end)
	for pos < sc.end {
		if h, err = sc.header(pos); err != nil {
			return pos, h, false, err
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += h.Size()
	}
	return pos, BatchHeader{}, false, nil
}
