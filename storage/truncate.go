package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TruncateTo removes every batch holding an offset >= offset, for a follower
// whose log diverged from the leader's (KIP-101, KIP-279). The log then ends
// at offset, or at the base offset of the batch that held offset when
// offset falls inside a batch (whole batches only). Later segments are
// deleted, the segment holding offset is cut and fsynced, indexes and
// maximum timestamp are recomputed, epochs starting at or past the new end
// are dropped from the cache and the checkpoint, DurableOffset is capped at
// the new end, and pending Sync calls for removed offsets fail with
// ErrOffsetOutOfRange. offset >= LogEndOffset is a no-op; offset below
// LogStartOffset is ErrOffsetOutOfRange. If the cut batch also held
// LogStartOffset (DeleteRecordsBefore inside a batch), the log start offset
// comes down to the new end, as Kafka's truncateTo does (min of both), and
// is checkpointed. Reads prepared before the truncation fail in
// ReadResult.Bytes with ErrTruncated. A cleaner checkpoint above the cut is
// lowered first, so compaction never takes re-appended offsets for clean.
func (l *Log) TruncateTo(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	leo := l.leo.Load()
	if offset >= leo {
		return nil
	}
	if start := l.start.Load(); offset < start {
		return fmt.Errorf("%w: truncate to %d, below the log start offset %d", ErrOffsetOutOfRange, offset, start)
	}
	if err := l.dropCleanMarkerLocked(); err != nil {
		return err
	}
	// The new end is at or above the base of the segment holding offset.
	if err := l.lowerCleanerCheckpointLocked(l.segs[l.segmentIndexLocked(offset)].base); err != nil {
		return err
	}
	l.mu.Lock()
	l.gen++
	end, err := l.truncateSegmentsLocked(offset)
	startLowered := err == nil && end < l.start.Load()
	if startLowered {
		l.start.Store(end)
	}
	l.mu.Unlock()
	if err != nil {
		return l.fail(err)
	}
	if startLowered {
		// A stale, higher checkpoint would hide records appended later
		// from the next Open, so failing to replace it fails the log.
		if err := writeFileAtomic(l.cfg.Dir, logStartCheckpointFile, encodeLogStartCheckpoint(end)); err != nil {
			return l.fail(err)
		}
	}
	l.leo.Store(end)
	if l.durable.Load() > end {
		l.durable.Store(end)
	}
	l.syncer.release(l.durable.Load(), nil, end,
		fmt.Errorf("%w: offsets from %d were truncated", ErrOffsetOutOfRange, end))
	l.pruneSnapshotsLocked() // those above the new end describe records that are gone
	l.resetDurableHook(l.durable.Load())
	es := withTruncatedEnd(l.epochs.snapshot(), end)
	if err := l.epochs.update(es); err != nil {
		l.epochs.set(es) // memory follows the log; recovery re-truncates the file
		return err
	}
	l.logger.Info().Int64("requested_offset", offset).Int64("log_end_offset", end).Int64("previous_log_end_offset", leo).
		Int32("epoch", l.epochs.latest()).Msg("truncated log")
	return nil
}

// truncateSegmentsLocked deletes the segments after the one holding offset
// (last first, so a crash leaves a prefix of the segments) and cuts that
// one. It returns the new log end offset.
func (l *Log) truncateSegmentsLocked(offset int64) (int64, error) {
	i := l.segmentIndexLocked(offset)
	removed := false
	for j := len(l.segs) - 1; j > i; j-- {
		if err := l.segs[j].remove(); err != nil {
			return 0, err
		}
		l.segs[j] = nil
		l.segs = l.segs[:j]
		removed = true
	}
	// A cut inside a sealed segment makes it the active one again.
	if err := l.segs[i].activate(); err != nil {
		return 0, err
	}
	end, err := l.segs[i].truncate(offset, int64(l.cfg.IndexIntervalBytes))
	if err != nil {
		return 0, err
	}
	if removed {
		if err := syncDir(l.cfg.Dir); err != nil {
			return 0, err
		}
	}
	return end, nil
}

// truncate cuts the segment before the first batch whose last offset is >=
// offset and recomputes its indexes and maximum timestamp. It returns the
// segment's new end offset.
func (s *segment) truncate(offset, interval int64) (int64, error) {
	sc := newHeaderScanner(s.log, s.size.Load())
	pos, h, found, err := s.locate(sc, offset)
	if err != nil {
		return 0, err
	}
	end := s.next.Load()
	if found {
		end = min(offset, h.BaseOffset)
	} else {
		pos = sc.end
	}
	if err := s.log.Truncate(pos); err != nil {
		return 0, fmt.Errorf("%w: truncate %s: %v", ErrIO, s.name(), err)
	}
	if err := s.log.Sync(); err != nil {
		return 0, fmt.Errorf("%w: fsync %s: %v", ErrIO, s.name(), err)
	}
	s.size.Store(pos)
	s.next.Store(end)
	if err := s.retrack(pos, end); err != nil {
		return 0, err
	}
	if err := s.truncateTxns(end); err != nil {
		return 0, err
	}
	return end, s.writeIndexes()
}

// retrack drops the index entries past the cut and recomputes the maximum
// timestamp and the appender state. A kept time entry's timestamp belongs to
// a kept batch; batches after the last kept offset entry are rescanned.
func (s *segment) retrack(size, end int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := 0
	for k < len(s.offIdx) && int64(s.offIdx[k].pos) < size {
		k++
	}
	s.offIdx = s.offIdx[:k]
	t := 0
	for t < len(s.timeIdx) && s.base+int64(s.timeIdx[t].rel) < end {
		t++
	}
	s.timeIdx = s.timeIdx[:t]
	s.maxTs, s.maxTsOffset = -1, -1
	if t > 0 {
		s.maxTs, s.maxTsOffset = s.timeIdx[t-1].ts, s.base+int64(s.timeIdx[t-1].rel)
	}
	from := int64(0)
	if k > 0 {
		from = int64(s.offIdx[k-1].pos)
	}
	s.bytesSinceIndex, s.rollTs = size-from, -1
	sc := newHeaderScanner(s.log, size)
	for pos := from; pos < size; {
		h, err := sc.header(pos)
		if err != nil {
			return err
		}
		if h.MaxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.LastOffset()
		}
		pos += h.Size()
	}
	if size > 0 {
		h, err := sc.header(0)
		if err != nil {
			return err
		}
		s.rollTs = h.MaxTimestamp
	}
	return nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset, for a
// follower whose log has nothing in common with the leader's (Kafka's
// truncateFullyAndStartAt, e.g. when the leader's log start offset passed
// the follower's end): every segment is deleted, a new empty segment starts
// at offset, and LogStartOffset, LogEndOffset and DurableOffset all become
// offset. The leader epoch cache and its checkpoint are cleared (the
// follower learns epochs again from the batches it fetches), the cleaner
// checkpoint is removed, and log-start-offset-checkpoint holds offset.
// Pending Sync calls for offsets above offset fail with
// ErrOffsetOutOfRange, reads prepared before it fail with ErrTruncated.
// offset must not be negative.
//
// Order on disk: the epoch checkpoint is cleared, the cleaner checkpoint
// removed, and the log start checkpoint written first. Then, if offset is
// past the log end (the usual case), the new segment is created before the
// old ones are deleted, so a crash at any point reopens as the new empty
// log (recovery deletes the segments below the checkpointed start).
// Otherwise the old segments are deleted, newest first, before the new one
// is created; a crash in between reopens a prefix of the old log, with its
// start capped at its end, which the caller truncates again.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: start the log at %d", ErrOffsetOutOfRange, offset)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	prevStart, prevEnd := l.start.Load(), l.leo.Load()
	if err := l.dropCleanMarkerLocked(); err != nil {
		return err
	}
	if err := l.resetCheckpointsLocked(offset); err != nil {
		return l.fail(err)
	}
	// Readers wait on mu while files are replaced, as in TruncateTo.
	l.mu.Lock()
	l.gen++
	seg, err := l.replaceAllSegmentsLocked(offset, prevEnd)
	if err == nil {
		l.segs = []*segment{seg}
		l.start.Store(offset)
		l.leo.Store(offset)
		l.durable.Store(offset)
	}
	l.mu.Unlock()
	if err != nil {
		return l.fail(err)
	}
	l.syncer.release(offset, nil, offset, fmt.Errorf("%w: the log was emptied and restarted at %d", ErrOffsetOutOfRange, offset))
	// Every snapshot describes records that are gone, even one at offset.
	if err := l.deleteSnapshotsLocked(func(int64) bool { return true }); err != nil {
		l.logger.Warn().Err(err).Msg("deleting producer snapshots failed")
	}
	l.resetDurableHook(l.DurableOffset())
	l.logger.Info().Int64("offset", offset).Int64("previous_log_start_offset", prevStart).
		Int64("previous_log_end_offset", prevEnd).Msg("truncated the log fully and restarted it")
	return nil
}

// resetCheckpointsLocked clears the epoch cache, removes the cleaner
// checkpoint and checkpoints offset as the log start, in that order.
func (l *Log) resetCheckpointsLocked(offset int64) error {
	if err := l.epochs.update(nil); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(l.cfg.Dir, cleanerCheckpointFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: remove the cleaner checkpoint: %v", ErrIO, err)
	}
	l.cleanedTo = -1
	return writeFileAtomic(l.cfg.Dir, logStartCheckpointFile, encodeLogStartCheckpoint(offset))
}

// replaceAllSegmentsLocked deletes every segment and creates the empty one
// at offset, in the order TruncateFullyAndStartAt describes. The caller
// holds appendMu, syncMu and mu.
func (l *Log) replaceAllSegmentsLocked(offset, prevEnd int64) (*segment, error) {
	old := l.segs
	if offset >= prevEnd && offset > old[len(old)-1].base {
		seg, err := l.createEmptySegment(offset)
		if err != nil {
			return nil, err
		}
		return seg, removeSegmentsNewestFirst(l.cfg.Dir, old)
	}
	if err := removeSegmentsNewestFirst(l.cfg.Dir, old); err != nil {
		return nil, err
	}
	return l.createEmptySegment(offset)
}

// createEmptySegment creates the segment at base and fsyncs the directory.
func (l *Log) createEmptySegment(base int64) (*segment, error) {
	seg, err := openSegment(l.cfg.Dir, base, true, l.files)
	if err != nil {
		return nil, err
	}
	if err := syncDir(l.cfg.Dir); err != nil {
		_ = seg.remove()
		return nil, err
	}
	return seg, nil
}

// removeSegmentsNewestFirst closes and deletes segs, newest first so that a
// crash leaves a prefix of the log, and fsyncs the directory.
func removeSegmentsNewestFirst(dir string, segs []*segment) error {
	for i := len(segs) - 1; i >= 0; i-- {
		if err := segs[i].remove(); err != nil {
			return err
		}
	}
	return syncDir(dir)
}
