package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"
)

// Deleting from the start of the log (cleanup.policy=delete).
//
// The log start offset only moves up, and always in this order:
//
//  1. under appendMu, decide the new start and the sealed segments wholly
//     below it, and write log-start-offset-checkpoint (atomically, durably);
//  2. under mu, publish the new start and take the segments out of the
//     segment list, marking them deleted: from here on Read answers
//     ErrOffsetOutOfRange below the start, and ReadResult.Bytes of a result
//     that lies in a deleted segment fails the same way instead of reading;
//  3. drop the leader epochs wholly below the new start from the epoch
//     cache and its checkpoint (Kafka's truncateFromStart);
//  4. after appendMu is released: close the files under syncMu (the syncer
//     may still hold a segment that was active a moment ago), unlink them,
//     and fsync the directory.
//
// A crash after step 1 leaves files below the checkpointed start; Open
// deletes them (recover.go). So appends wait at most for the two small
// checkpoint writes, never for the unlink of a large file, and a reader
// never sees other bytes than the ones it found.
//
// The active segment is never deleted, even when all of it is past
// retention or below the log start offset. Kafka rolls it first in that
// case, so that an idle partition eventually empties; here it stays until
// an append rolls it (segment.bytes, segment.ms), and the next retention
// pass after that deletes it.

// ApplyRetention deletes the oldest sealed segments that are past retention,
// as Kafka's retention check does for cleanup.policy=delete, in three passes
// over the segments from the oldest, each stopping at the first segment
// that does not qualify:
//
//   - segments wholly below LogStartOffset (left by DeleteRecordsBefore);
//   - by time (retention.ms): segments whose largest timestamp is more than
//     retentionMs older than now. The largest timestamp is the largest batch
//     MaxTimestamp, or the .log file's modification time if no batch has a
//     timestamp (Kafka's LogSegment.largestTimestamp). retentionMs < 0 means
//     unlimited;
//   - by size (retention.bytes): while the log's Size minus the segment's
//     size stays >= retentionBytes. retentionBytes < 0 means unlimited.
//
// No segment whose next offset is above maxDeletableOffset (the high
// watermark: never delete what a follower may still need to fetch) and never
// the active segment is deleted. The log start offset then moves up to the
// base offset of the first remaining segment. It returns how many segments
// were deleted; a failure after the checkpoint was written is returned
// together with that count, and recovery finishes the deletion.
func (l *Log) ApplyRetention(now time.Time, retentionMs, retentionBytes, maxDeletableOffset int64) (deletedSegments int, err error) {
	l.appendMu.Lock()
	if err := l.writableLocked(); err != nil {
		l.appendMu.Unlock()
		return 0, err
	}
	n := l.expiredSegmentsLocked(now.UnixMilli(), retentionMs, retentionBytes, maxDeletableOffset)
	if n == 0 {
		l.appendMu.Unlock()
		return 0, nil
	}
	newStart := max(l.start.Load(), l.segs[n].base)
	victims, err := l.advanceStartLocked(newStart, n)
	l.appendMu.Unlock()
	if len(victims) > 0 {
		l.logger.Info().Int("segments", len(victims)).Int64("log_start_offset", newStart).
			Int64("retention_ms", retentionMs).Int64("retention_bytes", retentionBytes).Msg("deleting segments past retention")
	}
	return len(victims), errors.Join(err, l.removeSegments(victims))
}

// DeleteRecordsBefore moves the log start offset up to offset (the
// DeleteRecords API, KIP-107): offsets below it can no longer be read
// (ErrOffsetOutOfRange) even while their segment still exists, and the
// sealed segments wholly below it are deleted (never the active segment; see
// ApplyRetention). offset at or below LogStartOffset changes nothing. offset
// above LogEndOffset, or negative, is ErrOffsetOutOfRange. Kafka also refuses
// offsets above the high watermark; that check belongs to the caller, which
// owns the high watermark. It returns the log start offset after the call.
func (l *Log) DeleteRecordsBefore(offset int64) (newLogStart int64, err error) {
	l.appendMu.Lock()
	if err := l.writableLocked(); err != nil {
		l.appendMu.Unlock()
		return l.start.Load(), err
	}
	start, leo := l.start.Load(), l.leo.Load()
	if offset < 0 || offset > leo {
		l.appendMu.Unlock()
		return start, fmt.Errorf("%w: delete records before %d, log end offset is %d", ErrOffsetOutOfRange, offset, leo)
	}
	if offset <= start {
		l.appendMu.Unlock()
		return start, nil
	}
	n := 0 // segments wholly below offset: the next one starts at or below it
	for n < len(l.segs)-1 && l.segs[n+1].base <= offset {
		n++
	}
	victims, err := l.advanceStartLocked(offset, n)
	newLogStart = l.start.Load()
	l.appendMu.Unlock()
	if newLogStart > start {
		l.logger.Info().Int64("log_start_offset", newLogStart).Int("segments", len(victims)).Msg("deleted records")
	}
	return newLogStart, errors.Join(err, l.removeSegments(victims))
}

// expiredSegmentsLocked is how many segments, from the oldest, ApplyRetention
// deletes. The caller holds appendMu (the segment list and sizes are
// stable).
func (l *Log) expiredSegmentsLocked(nowMs, retentionMs, retentionBytes, maxDeletable int64) int {
	sealed := l.segs[:len(l.segs)-1]
	deletable := func(n int) bool { return n < len(sealed) && sealed[n].next.Load() <= maxDeletable }
	start := l.start.Load()
	n := 0
	for deletable(n) && l.segs[n+1].base <= start {
		n++
	}
	if retentionMs >= 0 {
		for deletable(n) && nowMs-l.largestTimestamp(sealed[n]) > retentionMs {
			n++
		}
	}
	if retentionBytes >= 0 {
		rest := l.Size()
		for _, s := range sealed[:n] {
			rest -= s.size.Load()
		}
		for deletable(n) && rest-sealed[n].size.Load() >= retentionBytes {
			rest -= sealed[n].size.Load()
			n++
		}
	}
	return n
}

// largestTimestamp is the segment's largest batch MaxTimestamp or, if no
// batch has one, the modification time of its .log in milliseconds. A
// segment whose file cannot be stat'ed counts as new (kept).
func (l *Log) largestTimestamp(s *segment) int64 {
	s.mu.RLock()
	ts := s.maxTs
	s.mu.RUnlock()
	if ts >= 0 {
		return ts
	}
	st, err := os.Stat(s.name()) // by name: no descriptor needed (compaction keeps the time)
	if err != nil {
		l.logger.Warn().Err(err).Str("file", s.name()).Msg("cannot read the modification time; keeping the segment")
		return math.MaxInt64
	}
	return st.ModTime().UnixMilli()
}

// advanceStartLocked persists newStart as the log start offset, publishes it,
// takes the first n segments out of the list and prunes the epoch cache
// (steps 1-3 above). It returns the segments to remove; if the checkpoint
// cannot be written nothing changes and none are returned. The caller holds
// appendMu and must pass the result to removeSegments after releasing it.
func (l *Log) advanceStartLocked(newStart int64, n int) ([]*segment, error) {
	if err := writeFileAtomic(l.cfg.Dir, logStartCheckpointFile, encodeLogStartCheckpoint(newStart)); err != nil {
		return nil, err
	}
	l.mu.Lock()
	victims := make([]*segment, n)
	copy(victims, l.segs[:n])
	for _, s := range victims {
		s.deleted.Store(true)
	}
	l.segs = append([]*segment(nil), l.segs[n:]...)
	l.start.Store(newStart)
	l.mu.Unlock()
	l.pruneSnapshotsLocked() // those below the new start describe deleted records
	es := withTruncatedStart(l.epochs.snapshot(), newStart)
	if err := l.epochs.update(es); err != nil {
		l.epochs.set(es) // memory follows the log; Open prunes the file again
		return victims, err
	}
	return victims, nil
}

// removeSegments closes and deletes segments already taken out of the list
// (step 4 above). Taking syncMu only around the closes keeps an fsync of
// the syncer off a closed file; the unlinks run without locks.
func (l *Log) removeSegments(victims []*segment) error {
	if len(victims) == 0 {
		return nil
	}
	var errs []error
	l.syncMu.Lock()
	for _, s := range victims {
		if err := s.close(); err != nil {
			errs = append(errs, fmt.Errorf("%w: close %s: %v", ErrIO, s.name(), err))
		}
	}
	l.syncMu.Unlock()
	for _, s := range victims {
		if err := removeSegmentFiles(l.cfg.Dir, s.base); err != nil {
			errs = append(errs, err)
		}
	}
	if err := syncDir(l.cfg.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		l.logger.Warn().Err(err).Msg("deleting segments failed; the next Open deletes what is left")
		return err
	}
	return nil
}

// Size is the total size in bytes of the log's segments (.log files only),
// the size that retention.bytes bounds.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size.Load()
	}
	return n
}

// NumSegments is the number of segments, the active one included.
func (l *Log) NumSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs)
}
