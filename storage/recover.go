package storage

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Recovery rules (run by Open):
//
//  0. An interrupted compaction swap is finished (cleaner.go): *.cleaned
//     files are deleted, each <base>.log.swap is completed (its .index.swap
//     and .timeindex.swap renamed over the indexes first, then it over the
//     .log), other index .swap files are deleted, and every segment touched
//     has its indexes rebuilt in step 2.
//  1. Leftover *.tmp files (interrupted checkpoint writes) and index files
//     without a .log are deleted. Then log-start-offset-checkpoint is read,
//     and every segment but the last whose successor starts at or below the
//     checkpointed offset is deleted unread: it lies wholly below the log
//     start, left by a crash between the checkpoint write and the deletion
//     (retention.go). A checkpoint that cannot be read or parsed is logged
//     and ignored: it only ever hides data, so ignoring it loses nothing.
//  2. Every segment but the last was sealed (fsynced) before its successor
//     existed, so it is trusted: its .index and .timeindex are loaded and
//     sanity-checked (whole entries, monotonic, inside the log, the last
//     index entry points at a batch with that last offset, and the batch
//     headers from there chain exactly to the end of the file). If an index
//     is missing or fails the check, the segment is scanned fully and its
//     indexes rebuilt; a bad batch found then is ErrCorrupt.
//  3. The last segment is scanned fully: framing, magic 2, CRC-32C, offsets
//     increasing. At the first bad batch, the rest of the file is searched for
//     a valid batch with a higher offset. If there is one, the damage is not
//     a torn tail: Open fails with ErrCorrupt naming the file and byte. If
//     there is none, the tail is a torn or unsynced write: it is truncated
//     (with a warning naming file, byte and offset) and fsynced. The indexes
//     of the last segment are always rebuilt from the scan.
//  4. Segments must not overlap (ErrCorrupt otherwise).
//  5. The log start offset is the checkpointed one, raised to the first
//     segment's base offset and capped at the log end offset (the records
//     up to a DeleteRecordsBefore offset may not have been durable); if
//     that differs from the file, the file is rewritten, so that records
//     appended later can never fall below a stale checkpoint.
//  6. The epoch checkpoint loses entries starting at or past the recovered
//     log end offset, gains the epochs seen in the last segment's scan, and
//     loses the entries wholly below the log start offset.
//  7. The last segment is fdatasynced, so the recovered state is durable and
//     DurableOffset starts at LogEndOffset.
//
// A log closed cleanly (clean-shutdown, shutdown.go) that still matches the
// marker skips the scan of rule 3 and the fdatasync of rule 7: its last
// segment is loaded through its indexes with the checks of rule 2 (an
// active segment may lack time index entries), and the epochs are the
// checkpoint's, which was written before any batch of each epoch. Any
// mismatch falls back to the rules above.
//  8. cleaner-offset-checkpoint is read; an unreadable one is ignored (the
//     next compaction starts at the log start).

// load runs the recovery of Open.
func (l *Log) load() error {
	if err := ensureDir(l.cfg.Dir); err != nil {
		return err
	}
	if err := l.loadTopicID(); err != nil {
		return err
	}
	l.txnFiles = map[int64]bool{}
	rebuild, err := l.completeSwaps()
	if err != nil {
		return err
	}
	bases, hasIdx, err := l.listSegments()
	if err != nil {
		return err
	}
	for base := range rebuild {
		hasIdx[base] = false
	}
	cp, cpFound := l.readLogStartCheckpoint()
	if bases, err = l.removeSegmentsBelow(bases, cp); err != nil {
		return err
	}
	marker, hasMarker, err := l.takeCleanMarker()
	if err != nil {
		return err
	}
	seen, err := l.loadSegments(bases, hasIdx, marker, hasMarker)
	if err != nil {
		return err
	}
	for _, s := range l.segs {
		if l.txnFiles[s.base] {
			if err := l.loadTxnIndex(s); err != nil {
				return err
			}
		}
	}
	l.txnFiles = nil
	active := l.segs[len(l.segs)-1]
	leo := active.next.Load()
	l.leo.Store(leo)
	start := min(max(cp, l.segs[0].base), leo)
	l.start.Store(start)
	if cpFound && start != cp {
		l.logger.Warn().Int64("checkpoint", cp).Int64("log_start_offset", start).Msg("rewriting the log start offset checkpoint")
		if err := writeFileAtomic(l.cfg.Dir, logStartCheckpointFile, encodeLogStartCheckpoint(start)); err != nil {
			return err
		}
	}
	if !l.cleanOpen {
		if err := fdatasync(active.log); err != nil {
			return fmt.Errorf("%w: fdatasync %s: %v", ErrIO, active.name(), err)
		}
	}
	l.durable.Store(leo)
	l.cleanedTo = l.readCleanerCheckpoint()
	l.pruneSnapshotsLocked()
	return l.loadEpochs(leo, start, seen)
}

// completeSwaps finishes or rolls back an interrupted compaction swap
// (rule 0 above) and returns the base offsets of the segments it touched,
// whose indexes load rebuilds.
func (l *Log) completeSwaps() (map[int64]bool, error) {
	entries, err := os.ReadDir(l.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: list %s: %v", ErrIO, l.cfg.Dir, err)
	}
	touched := map[int64]bool{}
	var remove []string
	var swapLogs []int64
	for _, e := range entries {
		name := e.Name()
		rest, cleaned := strings.CutSuffix(name, cleanedSuffix)
		if !cleaned {
			var swapped bool
			if rest, swapped = strings.CutSuffix(name, swapSuffix); !swapped {
				continue
			}
		}
		base, suffix, ok := parseAnySegmentFileName(rest)
		if !ok {
			continue
		}
		touched[base] = true
		if cleaned {
			remove = append(remove, name)
		} else if suffix == logSuffix {
			swapLogs = append(swapLogs, base)
		}
	}
	for _, base := range swapLogs {
		if err := l.completeSwap(base); err != nil {
			return nil, err
		}
	}
	for _, e := range entries { // index .swap files whose .log.swap is missing
		if rest, ok := strings.CutSuffix(e.Name(), swapSuffix); ok {
			if base, suffix, ok := parseAnySegmentFileName(rest); ok && suffix != logSuffix && !slices.Contains(swapLogs, base) {
				remove = append(remove, e.Name())
			}
		}
	}
	for _, name := range remove {
		if err := os.Remove(filepath.Join(l.cfg.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: remove leftover %s: %v", ErrIO, name, err)
		}
		l.logger.Info().Str("file", name).Msg("removed an uncommitted compaction file")
	}
	if len(touched) == 0 {
		return touched, nil
	}
	return touched, syncDir(l.cfg.Dir)
}

// completeSwap installs the committed compacted copy of the segment at
// base: its index .swap files, if still there, then its .log.swap.
func (l *Log) completeSwap(base int64) error {
	logPath, idxPath, timePath := segmentPaths(l.cfg.Dir, base)
	for _, p := range []string{idxPath, timePath, logPath} {
		err := os.Rename(p+swapSuffix, p)
		if err != nil && !(p != logPath && errors.Is(err, fs.ErrNotExist)) {
			return fmt.Errorf("%w: complete the compaction swap of %s: %v", ErrIO, p, err)
		}
	}
	l.logger.Warn().Str("file", logPath).Msg("completed an interrupted compaction swap")
	return nil
}

// parseAnySegmentFileName parses "<20 digits>.log", ".index" or
// ".timeindex", returning the base offset and the suffix.
func parseAnySegmentFileName(name string) (int64, string, bool) {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if base, ok := parseSegmentFileName(name, suffix); ok {
			return base, suffix, true
		}
	}
	return 0, "", false
}

// readLogStartCheckpoint returns the checkpointed log start offset, -1 if
// there is none. found reports whether the file exists; a file that cannot
// be read or parsed is logged and counts as found with offset -1, so that
// load rewrites it.
func (l *Log) readLogStartCheckpoint() (offset int64, found bool) {
	path := filepath.Join(l.cfg.Dir, logStartCheckpointFile)
	b, ok, err := readSmallFile(path)
	if err == nil && !ok {
		return -1, false
	}
	if err == nil {
		offset, err = parseLogStartCheckpoint(b)
	}
	if err != nil {
		l.logger.Warn().Err(err).Str("file", path).Msg("ignoring unreadable log start offset checkpoint; the log starts at its first segment")
		return -1, true
	}
	return offset, true
}

// removeSegmentsBelow deletes the segments (never the last) whose successor
// starts at or below start, and returns the remaining base offsets.
func (l *Log) removeSegmentsBelow(bases []int64, start int64) ([]int64, error) {
	n := 0
	for n < len(bases)-1 && bases[n+1] <= start {
		n++
	}
	if n == 0 {
		return bases, nil
	}
	for _, base := range bases[:n] {
		if err := removeSegmentFiles(l.cfg.Dir, base); err != nil {
			return nil, err
		}
	}
	l.logger.Info().Int("segments", n).Int64("log_start_offset", start).Msg("deleted segments below the log start offset")
	return bases[n:], syncDir(l.cfg.Dir)
}

func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: create %s: %v", ErrIO, dir, err)
	}
	return syncDir(filepath.Dir(dir))
}

func (l *Log) loadTopicID() error {
	path := filepath.Join(l.cfg.Dir, partitionMetadataFile)
	b, ok, err := readSmallFile(path)
	if err != nil {
		return err
	}
	if !ok {
		l.topicID = l.cfg.TopicID
		if l.cfg.TopicID == ([16]byte{}) {
			return nil
		}
		return writeFileAtomic(l.cfg.Dir, partitionMetadataFile, encodePartitionMetadata(l.cfg.TopicID))
	}
	id, err := parsePartitionMetadata(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if l.cfg.TopicID != ([16]byte{}) && id != l.cfg.TopicID {
		return fmt.Errorf("%w: %s holds %x, opened for %x", ErrTopicIDMismatch, path, id, l.cfg.TopicID)
	}
	l.topicID = id
	return nil
}

// listSegments returns the base offsets of the .log files, sorted, and
// whether each has both index files; it deletes *.tmp and orphaned indexes.
func (l *Log) listSegments() ([]int64, map[int64]bool, error) {
	entries, err := os.ReadDir(l.cfg.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: list %s: %v", ErrIO, l.cfg.Dir, err)
	}
	var bases []int64
	indexes := map[int64]int{}
	var orphans []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasSuffix(name, tmpSuffix) {
			orphans = append(orphans, name)
		} else if base, ok := parseSegmentFileName(name, logSuffix); ok {
			bases = append(bases, base)
		} else if base, ok := parseSegmentFileName(name, indexSuffix); ok {
			indexes[base]++
		} else if base, ok := parseSegmentFileName(name, timeIndexSuffix); ok {
			indexes[base]++
		} else if base, ok := parseSegmentFileName(name, txnIndexSuffix); ok {
			l.txnFiles[base] = true
		} else if off, ok := parseSegmentFileName(name, snapshotSuffix); ok {
			l.snapshots = append(l.snapshots, off)
		}
	}
	slices.Sort(bases)
	slices.Sort(l.snapshots)
	for base := range indexes {
		if _, ok := slices.BinarySearch(bases, base); !ok {
			orphans = append(orphans, segmentFileName(base, indexSuffix), segmentFileName(base, timeIndexSuffix))
		}
	}
	for base := range l.txnFiles {
		if _, ok := slices.BinarySearch(bases, base); !ok {
			orphans = append(orphans, segmentFileName(base, txnIndexSuffix))
			delete(l.txnFiles, base)
		}
	}
	for _, name := range orphans {
		if err := os.Remove(filepath.Join(l.cfg.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: remove leftover %s: %v", ErrIO, name, err)
		}
		l.logger.Info().Str("file", name).Msg("removed leftover file")
	}
	hasIdx := map[int64]bool{}
	for _, b := range bases {
		hasIdx[b] = indexes[b] == 2
	}
	return bases, hasIdx, nil
}

// loadSegments opens every segment (creating segment 0 in an empty
// directory) and recovers it; it returns the epoch starts seen in the last.
// Sealed segments keep no file open: their .log goes back to the file cache.
func (l *Log) loadSegments(bases []int64, hasIdx map[int64]bool, marker cleanMarker, hasMarker bool) ([]epochEntry, error) {
	if len(bases) == 0 {
		seg, err := openSegment(l.cfg.Dir, 0, true, l.files)
		if err != nil {
			return nil, err
		}
		l.segs = []*segment{seg}
		return nil, syncDir(l.cfg.Dir)
	}
	var seen []epochEntry
	for i, base := range bases {
		seg, err := openSegment(l.cfg.Dir, base, false, l.files)
		if err != nil {
			return nil, err
		}
		l.segs = append(l.segs, seg)
		if i == len(bases)-1 {
			if err := seg.activate(); err != nil {
				return nil, err
			}
		}
		if i > 0 && base < l.segs[i-1].next.Load() {
			return nil, fmt.Errorf("%w: segment %s starts at %d, before the end %d of the previous one",
				ErrCorrupt, seg.name(), base, l.segs[i-1].next.Load())
		}
		if i == len(bases)-1 {
			seen, err = l.loadActive(seg, hasIdx[base], marker, hasMarker)
		} else if err = l.loadSealed(seg, hasIdx[base]); err == nil {
			err = seg.closeIndexes()
		}
		if err != nil {
			return nil, err
		}
	}
	return seen, nil
}

func fileSize(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("%w: stat %s: %v", ErrIO, f.Name(), err)
	}
	return st.Size(), nil
}

// loadActive loads the last segment through its indexes if marker says it
// was closed cleanly and still matches, else recovers it (recoverActive).
func (l *Log) loadActive(seg *segment, hasIdx bool, marker cleanMarker, hasMarker bool) ([]epochEntry, error) {
	if hasMarker {
		ok, err := l.loadActiveClean(seg, hasIdx, marker)
		if err != nil || ok {
			l.cleanOpen = ok
			return nil, err
		}
		seg.offIdx, seg.timeIdx, seg.maxTs, seg.maxTsOffset, seg.bytesSinceIndex, seg.rollTs = nil, nil, -1, -1, 0, -1
	}
	// Recovery may change the segment: the marker must not come back.
	if err := l.dropCleanMarkerLocked(); err != nil {
		return nil, err
	}
	return l.recoverActive(seg)
}

// recoverActive scans the last segment, truncates a torn tail, rebuilds its
// indexes, and returns the epoch starts seen.
func (l *Log) recoverActive(seg *segment) ([]epochEntry, error) {
	size, err := fileSize(seg.log)
	if err != nil {
		return nil, err
	}
	res, err := l.scanSegment(seg, seg.log, size)
	if err != nil {
		return nil, err
	}
	if res.validEnd < size {
		if err := l.truncateTornTail(seg, res, size); err != nil {
			return nil, err
		}
	}
	seg.size.Store(res.validEnd)
	seg.next.Store(res.next)
	if err := seg.writeIndexes(); err != nil {
		return nil, err
	}
	return res.epochs, nil
}

// truncateTornTail cuts the last segment at the first bad batch, unless a
// valid batch follows the damage (then the damage is ErrCorrupt).
func (l *Log) truncateTornTail(seg *segment, res scanResult, size int64) error {
	q, found, err := findBatchAfter(seg.log, res.validEnd+1, size, res.next)
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("%w: %s: bad batch at byte %d (%v) followed by a valid batch at byte %d",
			ErrCorrupt, seg.name(), res.validEnd, res.stop, q)
	}
	l.logger.Warn().Str("file", seg.name()).Int64("byte", res.validEnd).Int64("offset", res.next).
		Int64("dropped_bytes", size-res.validEnd).AnErr("reason", res.stop).Msg("truncating torn tail of the last segment")
	if err := seg.log.Truncate(res.validEnd); err != nil {
		return fmt.Errorf("%w: truncate %s: %v", ErrIO, seg.name(), err)
	}
	if err := seg.log.Sync(); err != nil {
		return fmt.Errorf("%w: fsync %s: %v", ErrIO, seg.name(), err)
	}
	return nil
}

// loadSealed loads a sealed segment through its indexes, or rebuilds them
// from a full scan if they are missing or inconsistent.
func (l *Log) loadSealed(seg *segment, hasIdx bool) error {
	f, err := seg.acquire()
	if err != nil {
		return err
	}
	defer seg.release()
	size, err := fileSize(f)
	if err != nil {
		return err
	}
	why := errors.New("index file missing")
	if hasIdx {
		if why = l.loadIndexes(seg, f, size, false); why == nil {
			return nil
		}
		if errors.Is(why, ErrIO) {
			return why
		}
	}
	l.logger.Warn().Str("file", seg.name()).AnErr("reason", why).Msg("rebuilding indexes of a sealed segment")
	seg.offIdx, seg.timeIdx, seg.maxTs, seg.maxTsOffset, seg.bytesSinceIndex = nil, nil, -1, -1, 0
	res, err := l.scanSegment(seg, f, size)
	if err != nil {
		return err
	}
	if res.validEnd < size {
		return fmt.Errorf("%w: %s: bad batch at byte %d of a sealed segment: %v", ErrCorrupt, seg.name(), res.validEnd, res.stop)
	}
	seg.size.Store(size)
	seg.next.Store(res.next)
	seg.mu.Lock()
	seg.maybeTimeEntryLocked()
	seg.mu.Unlock()
	if err := seg.writeIndexes(); err != nil {
		return err
	}
	return seg.syncAll()
}

// loadIndexes reads and checks the index files of a sealed segment (or of
// the active one after a clean shutdown, whose time index may be empty)
// and walks the batch headers after the last index entry to find the
// segment's end.
func (l *Log) loadIndexes(seg *segment, f *os.File, size int64, active bool) error {
	maxEntries := size/BatchHeaderSize + 1
	_, idxPath, timePath := segmentPaths(l.cfg.Dir, seg.base)
	idx, err := readCapped(idxPath, maxEntries*offsetIndexEntrySize)
	if err != nil {
		return err
	}
	tidx, err := readCapped(timePath, maxEntries*timeIndexEntrySize)
	if err != nil {
		return err
	}
	offs, err := decodeOffsetIndex(idx, size)
	if err != nil {
		return err
	}
	times, err := decodeTimeIndex(tidx)
	if err != nil {
		return err
	}
	if len(times) == 0 && size > 0 && !active {
		// seal always leaves an entry unless no batch has a timestamp;
		// a deleted-and-recreated file looks the same, so rebuild (rare
		// for logs written by clients that set timestamps).
		return fmt.Errorf("%w: empty time index for a non-empty segment", errBadIndex)
	}
	return l.checkTail(seg, f, size, offs, times)
}

// checkTail verifies the last index entry and walks the headers from it to
// the end of the file, then installs the indexes.
func (l *Log) checkTail(seg *segment, f *os.File, size int64, offs []offsetEntry, times []timeEntry) error {
	sc := newHeaderScanner(f, size)
	pos := int64(0)
	if size > 0 {
		if h, err := sc.header(0); err != nil || h.BaseOffset < seg.base {
			return fmt.Errorf("%w: first batch does not match the segment (%v)", errBadIndex, err)
		}
	}
	if n := len(offs); n > 0 {
		pos = int64(offs[n-1].pos)
		if h, err := sc.header(pos); err != nil || h.LastOffset() != seg.base+int64(offs[n-1].rel) {
			return fmt.Errorf("%w: last entry does not match the log (%v)", errBadIndex, err)
		}
	}
	maxTs, maxTsOffset := int64(-1), int64(-1)
	if n := len(times); n > 0 {
		maxTs, maxTsOffset = times[n-1].ts, seg.base+int64(times[n-1].rel)
	}
	next := seg.base
	for pos < size {
		h, err := sc.header(pos)
		if err != nil {
			return fmt.Errorf("%w: %v", errBadIndex, err)
		}
		if !seg.fitsOffset(h.LastOffset()) || h.BaseOffset < next {
			return fmt.Errorf("%w: batch at byte %d has offsets %d-%d", errBadIndex, pos, h.BaseOffset, h.LastOffset())
		}
		if h.MaxTimestamp > maxTs {
			maxTs, maxTsOffset = h.MaxTimestamp, h.LastOffset()
		}
		next, pos = h.NextOffset(), pos+h.Size()
	}
	if maxTsOffset >= next {
		return fmt.Errorf("%w: time index points at offset %d past the end %d", errBadIndex, maxTsOffset, next)
	}
	seg.offIdx, seg.timeIdx, seg.maxTs, seg.maxTsOffset = offs, times, maxTs, maxTsOffset
	seg.size.Store(size)
	seg.next.Store(next)
	return nil
}

// readCapped reads the file at path, refusing one larger than limit.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is missing", errBadIndex, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v", ErrIO, path, err)
	}
	defer f.Close()
	size, err := fileSize(f)
	if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, fmt.Errorf("%w: %s has %d bytes, more than its log can need", errBadIndex, f.Name(), size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: read %s: %v", ErrIO, f.Name(), err)
	}
	return b, nil
}

// scanResult is the outcome of a full scan of a segment.
type scanResult struct {
	validEnd int64        // bytes of valid batches from the start
	next     int64        // offset after the last valid batch
	epochs   []epochEntry // where each newer leader epoch starts
	stop     error        // why the scan stopped before the end, if it did
}

// scanSegment reads a whole segment, validating every batch, and rebuilds
// its in-memory indexes and max timestamp. I/O errors are returned; bad data
// ends the scan with res.stop set.
func (l *Log) scanSegment(seg *segment, f *os.File, size int64) (scanResult, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20)
	res := scanResult{next: seg.base}
	interval := int64(l.cfg.IndexIntervalBytes)
	var buf []byte
	latest := int32(-1)
	var pos int64
	for pos < size {
		b, stop, err := readBatch(r, &buf, size-pos)
		if err != nil {
			return res, fmt.Errorf("%w: read %s at byte %d: %v", ErrIO, seg.name(), pos, err)
		}
		var h BatchHeader
		if stop == nil {
			h, stop = validateStored(b)
		}
		if stop == nil && (h.BaseOffset < res.next || !seg.fitsOffset(h.LastOffset())) {
			stop = fmt.Errorf("offsets %d-%d out of order (next expected %d, segment base %d)", h.BaseOffset, h.LastOffset(), res.next, seg.base)
		}
		if stop != nil {
			res.stop = stop
			break
		}
		seg.mu.Lock()
		seg.trackBatchLocked(h, pos, interval, nil, nil)
		seg.mu.Unlock()
		if pos == 0 {
			seg.rollTs = h.MaxTimestamp
		}
		if h.PartitionLeaderEpoch > latest {
			latest = h.PartitionLeaderEpoch
			res.epochs = append(res.epochs, epochEntry{epoch: latest, start: h.BaseOffset})
		}
		res.next, pos = h.NextOffset(), pos+h.Size()
	}
	res.validEnd = pos
	return res, nil
}

// readBatch reads the next batch of at most remaining bytes into *buf. A
// batch that cannot be complete is reported as stop (bad data), a failed
// read as err.
func readBatch(r *bufio.Reader, buf *[]byte, remaining int64) (b []byte, stop, err error) {
	if remaining < logOverhead {
		return nil, fmt.Errorf("%d trailing bytes, too few for a batch", remaining), nil
	}
	if cap(*buf) < logOverhead {
		*buf = make([]byte, 64<<10)
	}
	if _, err := io.ReadFull(r, (*buf)[:logOverhead]); err != nil {
		return nil, nil, err
	}
	length := int64(int32(be.Uint32((*buf)[offBatchLength:])))
	if length < minBatchLength || logOverhead+length > remaining {
		return nil, fmt.Errorf("batch length %d with %d bytes left in the file", length, remaining-logOverhead), nil
	}
	n := logOverhead + int(length)
	if cap(*buf) < n {
		nb := make([]byte, n)
		copy(nb, (*buf)[:logOverhead])
		*buf = nb
	}
	if _, err := io.ReadFull(r, (*buf)[logOverhead:n]); err != nil {
		return nil, nil, err
	}
	return (*buf)[:n], nil, nil
}

// findBatchAfter searches [from, size) of f, byte by byte, for a valid batch
// (framing, magic, CRC) with base offset >= minOffset. Finding one means the
// damage before it is not a torn tail.
func findBatchAfter(f *os.File, from, size, minOffset int64) (int64, bool, error) {
	const window = 64 << 10
	buf := make([]byte, window+BatchHeaderSize)
	for start := from; start+BatchHeaderSize <= size; start += window {
		n := int(min(int64(len(buf)), size-start))
		if got, err := f.ReadAt(buf[:n], start); got < n {
			return 0, false, fmt.Errorf("%w: read %s at byte %d: %v", ErrIO, f.Name(), start, err)
		}
		for i := 0; i+BatchHeaderSize <= n && i < window; i++ {
			if buf[i+offMagic] != 2 {
				continue
			}
			h, err := ParseBatchHeader(buf[i : i+BatchHeaderSize])
			pos := start + int64(i)
			if err != nil || h.BatchLength < minBatchLength || pos+h.Size() > size || h.BaseOffset < minOffset || h.LastOffsetDelta < 0 || h.NumRecords < 0 {
				continue
			}
			ok, err := crcMatches(f, pos, h)
			if err != nil {
				return 0, false, err
			}
			if ok {
				return pos, true, nil
			}
		}
	}
	return 0, false, nil
}

// crcMatches streams the batch at pos through CRC-32C.
func crcMatches(f *os.File, pos int64, h BatchHeader) (bool, error) {
	crc := crc32.New(castagnoli)
	if _, err := io.Copy(crc, io.NewSectionReader(f, pos+offAttributes, h.Size()-offAttributes)); err != nil {
		return false, fmt.Errorf("%w: read %s at byte %d: %v", ErrIO, f.Name(), pos, err)
	}
	return crc.Sum32() == h.CRC, nil
}

// loadEpochs reads leader-epoch-checkpoint, drops entries at or past the log
// end, adds the epochs seen in the last segment, drops the entries wholly
// below the log start, and rewrites it if changed.
func (l *Log) loadEpochs(leo, start int64, seen []epochEntry) error {
	path := filepath.Join(l.cfg.Dir, epochCheckpointFile)
	b, ok, err := readSmallFile(path)
	if err != nil {
		return err
	}
	var es []epochEntry
	if ok {
		if es, err = parseEpochCheckpoint(b); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
	}
	l.epochs.set(es)
	return l.epochs.update(withTruncatedStart(withAssigned(withTruncatedEnd(es, leo), seen...), start))
}
