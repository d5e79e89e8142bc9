package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// AppendInfo describes a successful append.
type AppendInfo struct {
	BaseOffset int64 // offset of the first record
	LastOffset int64 // offset of the last record
	// LogAppendTime is the time stamped into the batches, -1 unless stamped.
	LogAppendTime int64
	// MaxTimestamp is the largest batch MaxTimestamp appended, -1 if none.
	MaxTimestamp int64
	// OffsetOfMaxTimestamp is the offset of the first record carrying
	// MaxTimestamp, -1 if none. It is exact for an uncompressed batch, whose
	// records are walked here (~60 ns a record); for a compressed batch it is
	// the batch's base offset, since decompressing on the append path costs
	// too much (Log.MaxTimestamp decodes the batch at lookup time instead).
	OffsetOfMaxTimestamp int64
}

// Log is one partition's log: a directory of segments.
//
// Invariants, enforced here and relied on by recovery:
//   - offsets are assigned under appendMu, from the log end offset, in order;
//   - every byte below a segment's published size is a complete batch, and
//     LogEndOffset is published only after its bytes are in the file;
//   - every segment but the last is sealed: fsynced (log and indexes) before
//     the next segment's file is created, in both durability modes, so only
//     the last segment can have a torn tail after a crash;
//   - DurableOffset only ratchets up (except by TruncateTo), and counts an
//     offset only once an fsync that started after its bytes were written
//     has returned;
//   - the epoch checkpoint is written before the data of a new epoch, so it
//     never misses an epoch present in the log.
//   - LogStartOffset only moves up (retention, DeleteRecordsBefore; except
//     TruncateTo cutting the batch holding it, and TruncateFullyAndStartAt),
//     is durable in log-start-offset-checkpoint before any segment below it
//     is deleted, and is never below the first segment's base offset nor
//     above LogEndOffset; the active segment is never deleted (retention.go);
//   - a sealed segment changes only by compaction, which swaps in a copy
//     holding a subset of its records at the same offsets (cleaner.go).
//
// Lock order: cleanMu -> appendMu -> syncMu -> mu -> segment.mu ->
// FileCache.mu; epochCache.mu is a leaf; logSync.mu comes after appendMu
// and before SyncScheduler.mu, and is never held with syncMu or mu. A sync
// worker takes syncMu then mu (read); appends take only appendMu (and mu
// briefly to publish a new segment), so an append never waits for an
// fsync.
type Log struct {
	cfg     Config
	logger  zerolog.Logger
	topicID [16]byte
	files   *FileCache // sealed segments' descriptors (Config.FileCache or the process's)

	// appendMu serialises writers: Append, AppendAsFollower, TruncateTo,
	// TruncateFullyAndStartAt, AssignLeaderEpoch, ApplyRetention,
	// DeleteRecordsBefore, the swap of Compact, SetConfig, Close. It also
	// guards the settings SetConfig changes in cfg.
	appendMu sync.Mutex
	// syncMu is held around every fsync of a sync worker, and by whoever closes,
	// removes or shrinks segment files, so an fsync never hits a closed file.
	syncMu sync.Mutex

	// cleanMu serialises compaction passes (cleaner.go); Close takes it,
	// after setting cleanAbort, to wait for a running pass to stop. It
	// comes before appendMu.
	cleanMu    sync.Mutex
	cleanAbort atomic.Bool
	cleanedTo  int64                   // the cleaner checkpoint, -1 if none; guarded by appendMu
	cleanHook  func(step string) error // tests: stop a compaction pass after a step

	mu     sync.RWMutex
	segs   []*segment // by base offset; the last is active. Writes need appendMu and mu.
	gen    uint64     // bumped by every truncation; ReadResult.Bytes checks it
	closed atomic.Bool

	leo     atomic.Int64
	start   atomic.Int64
	durable atomic.Int64
	failErr atomic.Pointer[error]
	epochs  epochCache
	// syncer queues the log on its SyncScheduler for group commit
	// (DurabilityFsync) or the flush policy (DurabilityPageCache); hook is
	// the durable hook (sync.go).
	syncer      logSync
	durableHook durableHook
	fsyncs      atomic.Int64
	testHook    atomic.Pointer[func()] // called by a sync worker before each fdatasync

	// The page-cache flush policy (sync.go). flushMessages and flushMs
	// mirror cfg.FlushMessages and cfg.FlushMs for the sync worker, which does
	// not take appendMu. dirtySince is when the oldest append not yet
	// fsynced happened (monoNow), 0 when none is known.
	flushMessages atomic.Int64
	flushMs       atomic.Int64
	dirtySince    atomic.Int64
	clockBase     time.Time
	countFlushes  atomic.Int64 // fsyncs triggered by flush.messages
	timeFlushes   atomic.Int64 // fsyncs triggered by flush.ms

	// markerUnsynced: Open unlinked clean-shutdown without a directory
	// fsync yet (shutdown.go); guarded by appendMu.
	markerUnsynced bool
	cleanOpen      bool           // Open found a matching clean-shutdown marker and skipped recovery
	txnFiles       map[int64]bool // during Open: the bases that have a .txnindex

	// Producer snapshots (snapshot.go), guarded by appendMu: the offsets
	// of the .snapshot files, ascending, and the state's source.
	snapshots  []int64
	snapSource func() (int64, []byte)
}

// Open opens the partition log in cfg.Dir, creating it if missing, and
// recovers it: see recover.go for the rules.
func Open(cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Log{cfg: cfg, logger: partitionLogger(cfg), clockBase: time.Now(), files: cfg.FileCache}
	if l.files == nil {
		l.files = DefaultFileCache()
	}
	sched := cfg.SyncScheduler
	if sched == nil {
		sched = DefaultSyncScheduler()
	}
	l.syncer.init(sched)
	l.epochs.dir = cfg.Dir
	l.flushMessages.Store(cfg.FlushMessages)
	l.flushMs.Store(cfg.FlushMs)
	began := time.Now()
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			_ = s.close()
		}
		return nil, fmt.Errorf("open log %s: %w", cfg.Dir, err)
	}
	l.logger.Info().Int64("log_start_offset", l.LogStartOffset()).Int64("log_end_offset", l.LogEndOffset()).
		Int("segments", len(l.segs)).Int32("epoch", l.LatestEpoch()).Bool("clean_shutdown", l.cleanOpen).
		Dur("took", time.Since(began)).Msg("opened log")
	return l, nil
}

// SetConfig applies a topic config change to the open log (AlterConfigs):
// SegmentBytes, SegmentMs, IndexIntervalBytes and SegmentIndexBytes take
// effect from the next append (a smaller size or index limit rolls the
// active segment then); FlushMessages and FlushMs at once (a sync worker
// re-evaluates the flush policy, so a lower limit may flush right away). cfg must pass Validate; Dir and Durability must not
// change, nor TopicID unless zero (ErrInvalidConfig); Logger is ignored. The
// settings are read only under appendMu, which SetConfig holds, so they
// change between two appends, never during one.
func (l *Log) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	switch {
	case cfg.Dir != l.cfg.Dir:
		return fmt.Errorf("%w: Dir cannot change from %s to %s", ErrInvalidConfig, l.cfg.Dir, cfg.Dir)
	case cfg.Durability != l.cfg.Durability:
		return fmt.Errorf("%w: Durability cannot change from %v to %v", ErrInvalidConfig, l.cfg.Durability, cfg.Durability)
	case cfg.TopicID != ([16]byte{}) && cfg.TopicID != l.topicID:
		return fmt.Errorf("%w: TopicID cannot change from %x to %x", ErrInvalidConfig, l.topicID, cfg.TopicID)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	l.cfg.SegmentBytes, l.cfg.SegmentMs = cfg.SegmentBytes, cfg.SegmentMs
	l.cfg.IndexIntervalBytes, l.cfg.SegmentIndexBytes = cfg.IndexIntervalBytes, cfg.SegmentIndexBytes
	l.cfg.FlushMessages, l.cfg.FlushMs = cfg.FlushMessages, cfg.FlushMs
	l.flushMessages.Store(cfg.FlushMessages)
	l.flushMs.Store(cfg.FlushMs)
	if l.cfg.Durability == DurabilityPageCache {
		l.kickSync() // re-evaluate the flush policy
	}
	l.logger.Info().Int64("segment_bytes", cfg.SegmentBytes).Int64("segment_ms", cfg.SegmentMs).
		Int("index_interval_bytes", cfg.IndexIntervalBytes).Int("segment_index_bytes", cfg.SegmentIndexBytes).
		Int64("flush_messages", cfg.FlushMessages).Int64("flush_ms", cfg.FlushMs).Msg("config changed")
	return nil
}

func partitionLogger(cfg Config) zerolog.Logger {
	c := cfg.Logger.With().Str("dir", cfg.Dir)
	if topic, p, ok := ParsePartitionDir(filepath.Base(cfg.Dir)); ok {
		c = c.Str("topic", topic).Int32("partition", p)
	}
	return c.Logger()
}

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// LogStartOffset is the first offset in the log.
func (l *Log) LogStartOffset() int64 { return l.start.Load() }

// DurableOffset is the end of what this log acknowledges as durable: with
// DurabilityFsync every offset below it is on stable storage; with
// DurabilityPageCache it equals LogEndOffset ("durable" there means "in the
// page cache": Sync never waits). See FlushedOffset for the fsync point.
func (l *Log) DurableOffset() int64 {
	if l.cfg.Durability == DurabilityPageCache {
		return l.leo.Load()
	}
	return l.durable.Load()
}

// FlushedOffset: every offset below it is on stable storage (fsynced), in
// both durability modes. With DurabilityFsync it equals DurableOffset; with
// DurabilityPageCache it is moved by segment rolls, the flush policy
// (flush.messages, flush.ms), recovery and Close, and may lag LogEndOffset.
func (l *Log) FlushedOffset() int64 { return l.durable.Load() }

// TopicID is the topic ID from Config or, if that was zero, from partition.metadata.
func (l *Log) TopicID() [16]byte { return l.topicID }

// LatestEpoch is the newest leader epoch in the epoch cache, -1 if none.
func (l *Log) LatestEpoch() int32 { return l.epochs.latest() }

// LastBatchEpoch is the leader epoch of the last batch in the log: the
// newest cached epoch that starts below the log end offset (-1: none). It
// differs from LatestEpoch after AssignLeaderEpoch, which records an epoch
// before any of its batches exist; a follower sends it as LastFetchedEpoch.
func (l *Log) LastBatchEpoch() int32 {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.epochs.latestBelow(l.leo.Load())
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (KIP-101, KIP-279): the
// largest cached epoch <= epoch and the start offset of the next larger
// epoch, or the log end offset if epoch is the latest. An epoch below the
// first cached epoch gets (epoch, start offset of the first cached epoch), as
// in Kafka; an epoch above the latest, or an empty cache, gets (-1, -1).
func (l *Log) EndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64) {
	return l.epochs.endOffsetFor(epoch, l.leo.Load())
}

// AssignLeaderEpoch records that epoch starts at the current log end offset,
// as Kafka does when a replica becomes leader, so that EndOffsetForEpoch
// answers for the new epoch before its first append. Older or equal epochs
// are ignored.
func (l *Log) AssignLeaderEpoch(epoch int32) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	return l.assignEpochsLocked(epochEntry{epoch: epoch, start: l.leo.Load()})
}

// assignEpochsLocked adds the epoch starts that are newer than the latest
// cached epoch and persists the checkpoint, before any data of those epochs
// is written. The common case (no new epoch) costs one read lock.
func (l *Log) assignEpochsLocked(es ...epochEntry) error {
	latest := l.epochs.latest()
	for _, e := range es {
		if e.epoch > latest {
			return l.epochs.update(withAssigned(l.epochs.snapshot(), es...))
		}
	}
	return nil
}

// Append writes one or more batches validated by ValidateBatches. Offsets
// are assigned from the log end offset; every batch is stamped in place with
// its base offset and leaderEpoch, and with logAppendTime (if >= 0) as
// LogAppendTime (see StampBatch). Append re-checks the framing but trusts the
// CRCs. It does not wait for durability (see Sync). leaderEpoch must be >= 0
// and not older than LatestEpoch (else ErrFencedEpoch). Safe for concurrent
// callers.
func (l *Log) Append(batches []byte, leaderEpoch int32, logAppendTime int64) (AppendInfo, error) {
	info, err := l.appendLeader(batches, leaderEpoch, logAppendTime)
	if err == nil {
		l.notifyDurable() // a roll, or page-cache mode, advanced DurableOffset
	}
	return info, err
}

func (l *Log) appendLeader(batches []byte, leaderEpoch int32, logAppendTime int64) (AppendInfo, error) {
	hs, err := walkBatches(batches, false)
	if err != nil {
		return AppendInfo{}, err
	}
	if leaderEpoch < 0 {
		return AppendInfo{}, fmt.Errorf("%w: negative leader epoch %d", ErrFencedEpoch, leaderEpoch)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return AppendInfo{}, err
	}
	if latest := l.epochs.latest(); leaderEpoch < latest {
		return AppendInfo{}, fmt.Errorf("%w: append in epoch %d, log is at epoch %d", ErrFencedEpoch, leaderEpoch, latest)
	}
	base := l.leo.Load()
	stampAll(batches, hs, base, leaderEpoch, logAppendTime)
	if err := l.assignEpochsLocked(epochEntry{epoch: leaderEpoch, start: base}); err != nil {
		return AppendInfo{}, err
	}
	if err := l.appendLocked(batches, hs); err != nil {
		return AppendInfo{}, err
	}
	return appendInfo(batches, hs, logAppendTime), nil
}

// stampAll stamps every batch of b and updates hs to match.
func stampAll(b []byte, hs []BatchHeader, base int64, epoch int32, logAppendTime int64) {
	var pos int64
	for i := range hs {
		StampBatch(b[pos:pos+hs[i].Size()], base, epoch, logAppendTime)
		hs[i].BaseOffset, hs[i].PartitionLeaderEpoch = base, epoch
		if logAppendTime >= 0 {
			hs[i].Attributes |= attrTimestampType
			hs[i].MaxTimestamp = logAppendTime
		}
		base = hs[i].NextOffset()
		pos += hs[i].Size()
	}
}

// AppendAsFollower appends batches copied from the leader, offsets and
// epochs included. The batches' CRCs are verified, their offsets must
// increase, and the first base offset must not be below the log end offset
// (else ErrOffsetOutOfRange); above it is a gap the leader's compaction left,
// kept as it is. The epoch cache learns every newer epoch it sees.
func (l *Log) AppendAsFollower(batches []byte) (AppendInfo, error) {
	info, err := l.appendFollower(batches)
	if err == nil {
		l.notifyDurable()
	}
	return info, err
}

func (l *Log) appendFollower(batches []byte) (AppendInfo, error) {
	hs, err := walkBatches(batches, true)
	if err != nil {
		return AppendInfo{}, err
	}
	epochs := make([]epochEntry, 0, 1)
	for i, h := range hs {
		if i > 0 && h.BaseOffset <= hs[i-1].LastOffset() {
			return AppendInfo{}, fmt.Errorf("%w: batch %d base offset %d not above %d", ErrCorruptBatch, i, h.BaseOffset, hs[i-1].LastOffset())
		}
		if n := len(epochs); n == 0 || h.PartitionLeaderEpoch > epochs[n-1].epoch {
			epochs = append(epochs, epochEntry{epoch: h.PartitionLeaderEpoch, start: h.BaseOffset})
		}
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return AppendInfo{}, err
	}
	// A first batch past the log end is a gap the leader's compaction left
	// (its batches keep their offsets); one below it would overlap.
	if leo := l.leo.Load(); hs[0].BaseOffset < leo {
		return AppendInfo{}, fmt.Errorf("%w: follower append at offset %d, log end offset is %d", ErrOffsetOutOfRange, hs[0].BaseOffset, leo)
	}
	if err := l.assignEpochsLocked(epochs...); err != nil {
		return AppendInfo{}, err
	}
	if err := l.appendLocked(batches, hs); err != nil {
		return AppendInfo{}, err
	}
	return appendInfo(batches, hs, -1), nil
}

// appendInfo describes the stamped batches b with headers hs.
func appendInfo(b []byte, hs []BatchHeader, logAppendTime int64) AppendInfo {
	info := AppendInfo{
		BaseOffset: hs[0].BaseOffset, LastOffset: hs[len(hs)-1].LastOffset(),
		LogAppendTime: -1, MaxTimestamp: -1, OffsetOfMaxTimestamp: -1,
	}
	if logAppendTime >= 0 {
		info.LogAppendTime = logAppendTime
	}
	var best []byte
	bestIdx := -1
	pos := int64(0)
	for i, h := range hs {
		if h.MaxTimestamp > info.MaxTimestamp {
			info.MaxTimestamp, info.OffsetOfMaxTimestamp = h.MaxTimestamp, h.BaseOffset
			best, bestIdx = b[pos:pos+h.Size()], i
		}
		pos += h.Size()
	}
	if bestIdx >= 0 && hs[bestIdx].Compression() == CodecNone {
		if off, ok := offsetOfMaxTimestamp(best, hs[bestIdx]); ok {
			info.OffsetOfMaxTimestamp = off
		}
	}
	return info
}

// writableLocked reports why the log cannot take writes, if it cannot.
func (l *Log) writableLocked() error {
	if l.closed.Load() {
		return ErrClosed
	}
	return l.failure()
}

// fail makes err sticky: the log refuses writes and syncs until reopened.
func (l *Log) fail(err error) error {
	if l.failErr.CompareAndSwap(nil, &err) {
		l.logger.Error().Err(err).Msg("log failed; writes and syncs are refused until it is reopened")
	}
	return err
}

func (l *Log) failure() error {
	if p := l.failErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *Log) advanceDurable(v int64) {
	for {
		cur := l.durable.Load()
		if v <= cur || l.durable.CompareAndSwap(cur, v) {
			return
		}
	}
}

// appendLocked writes the stamped batches to the active segment, rolling
// first if needed, then publishes them. The caller holds appendMu.
func (l *Log) appendLocked(data []byte, hs []BatchHeader) error {
	first, last := hs[0], hs[len(hs)-1]
	if last.LastOffset()-first.BaseOffset > math.MaxInt32 {
		return fmt.Errorf("%w: one append spans %d offsets", ErrCorruptBatch, last.LastOffset()-first.BaseOffset)
	}
	if err := l.dropCleanMarkerLocked(); err != nil {
		return err
	}
	seg := l.segs[len(l.segs)-1]
	if l.shouldRollLocked(seg, int64(len(data)), hs) {
		var err error
		if seg, err = l.rollLocked(first.BaseOffset); err != nil {
			return err
		}
	}
	pos := seg.size.Load()
	if _, err := seg.log.WriteAt(data, pos); err != nil {
		return l.undoWriteLocked(seg, pos, err)
	}
	seg.size.Store(pos + int64(len(data)))
	seg.next.Store(last.NextOffset())
	l.leo.Store(last.NextOffset())
	if err := seg.trackAppend(hs, pos, int64(l.cfg.IndexIntervalBytes)); err != nil {
		l.logger.Warn().Err(err).Msg("index write failed; the index is rewritten from memory when the segment rolls")
	}
	l.noteAppendLocked()
	return nil
}

// undoWriteLocked cuts a failed, possibly partial write off the file. If even
// that fails the log is failed: the garbage would otherwise sit below the
// next append.
func (l *Log) undoWriteLocked(seg *segment, pos int64, werr error) error {
	err := fmt.Errorf("%w: write %s at byte %d: %v", ErrIO, seg.name(), pos, werr)
	if terr := seg.log.Truncate(pos); terr != nil {
		return l.fail(fmt.Errorf("%w (and truncating it back failed: %v)", err, terr))
	}
	return err
}

// shouldRollLocked applies Kafka's roll rules to an append of n bytes.
func (l *Log) shouldRollLocked(seg *segment, n int64, hs []BatchHeader) bool {
	if !seg.fitsOffset(hs[len(hs)-1].LastOffset()) {
		return true
	}
	size := seg.size.Load()
	if size == 0 {
		return false
	}
	if size+n > l.cfg.SegmentBytes {
		return true
	}
	if len(seg.offIdx) >= l.cfg.SegmentIndexBytes/offsetIndexEntrySize ||
		len(seg.timeIdx) >= l.cfg.SegmentIndexBytes/timeIndexEntrySize {
		return true
	}
	if l.cfg.SegmentMs <= 0 {
		return false
	}
	if seg.rollTs >= 0 {
		maxTs := int64(-1)
		for _, h := range hs {
			maxTs = max(maxTs, h.MaxTimestamp)
		}
		return maxTs-seg.rollTs > l.cfg.SegmentMs
	}
	return time.Now().UnixMilli()-seg.createdMs > l.cfg.SegmentMs
}

// rollLocked seals the active segment and starts a new one at base. The
// sealing fsync happens before the new file exists, so after a crash every
// segment but the last is complete.
func (l *Log) rollLocked(base int64) (*segment, error) {
	old := l.segs[len(l.segs)-1]
	if err := old.seal(); err != nil {
		return nil, l.fail(err)
	}
	if err := old.closeIndexes(); err != nil { // sealed: the indexes live in memory
		l.logger.Warn().Err(err).Str("file", old.name()).Msg("closing the index files of a sealed segment failed")
	}
	seg, err := openSegment(l.cfg.Dir, base, true, l.files)
	if err != nil {
		return nil, err
	}
	if err := syncDir(l.cfg.Dir); err != nil {
		_ = seg.remove()
		return nil, err
	}
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	l.mu.Unlock()
	old.sealed() // durable and immutable: its descriptor may now be evicted
	l.advanceDurable(old.next.Load())
	l.snapshotFromSourceLocked("roll")
	l.logger.Debug().Int64("base_offset", base).Int64("sealed_bytes", old.size.Load()).Msg("rolled segment")
	return seg, nil
}

// Close stops the log's sync scheduling (waiting for a running pass),
// fsyncs the active segment, answers pending Sync calls, and closes the
// files. If everything is then durable it writes the
// clean-shutdown marker (shutdown.go), so that the next Open skips the
// recovery scan. It is idempotent.
func (l *Log) Close() error {
	l.cleanAbort.Store(true)
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed.Load() {
		return nil
	}
	l.syncer.stop()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	l.closed.Store(true)
	l.mu.Unlock()
	var errs []error
	if l.failure() == nil {
		l.snapshotFromSourceLocked("close")
		if err := fdatasync(l.segs[len(l.segs)-1].log); err != nil {
			errs = append(errs, fmt.Errorf("%w: fdatasync at close: %v", ErrIO, err))
		} else {
			l.advanceDurable(l.leo.Load())
			if err := l.writeCleanMarkerLocked(); err != nil {
				l.logger.Warn().Err(err).Msg("writing the clean shutdown marker failed; the next Open recovers fully")
			}
		}
	}
	l.syncer.finish(l.durable.Load())
	for _, s := range l.segs {
		if err := s.close(); err != nil {
			errs = append(errs, fmt.Errorf("%w: close %s: %v", ErrIO, s.name(), err))
		}
	}
	l.logger.Info().Int64("log_end_offset", l.leo.Load()).Msg("closed log")
	return errors.Join(errs...)
}

// Delete closes the log and removes its directory (topic deletion).
func (l *Log) Delete() error {
	if err := l.Close(); err != nil {
		l.logger.Warn().Err(err).Msg("close before delete failed; deleting anyway")
	}
	return RemoveDir(l.cfg.Dir)
}

// RemoveDir deletes a partition directory that no Log has open (a stray
// left by a partition that moved away while its broker was down) and
// makes the removal durable.
func RemoveDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("%w: remove %s: %v", ErrIO, dir, err)
	}
	return syncDir(filepath.Dir(dir))
}
