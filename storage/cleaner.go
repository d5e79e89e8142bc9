package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Log compaction (cleanup.policy=compact), after Kafka's log cleaner.
//
// The sealed segments are split at the cleaner checkpoint (the offset in
// cleaner-offset-checkpoint, or the log start offset): below it the "clean"
// section, already compacted against itself, above it the "dirty" section.
// The cleanable part ends before the first segment that is not wholly
// below the caller's bound (the high watermark), before the first dirty
// segment holding a record newer than now - min.compaction.lag.ms (judged
// by the segment's largest timestamp, as Kafka does), and always before the
// active segment, which is never cleaned.
//
// A pass runs when the dirty bytes make up more than
// min.cleanable.dirty.ratio of the cleanable bytes, or when the oldest dirty
// segment's first batch is older than max.compaction.lag.ms (KIP-354). It
//
//  1. maps every key of the dirty segments to its latest offset (offsetMap;
//     whole segments, within a memory budget);
//  2. rewrites each cleanable segment, from the first one holding offsets at
//     or above the log start, into <base>.log.cleaned (+ .index.cleaned,
//     .timeindex.cleaned), keeping what filterBatch keeps: offsets never
//     move, and a segment in which nothing changes is left alone. The files
//     are fsynced, and the .log keeps the original's modification time
//     (retention falls back to it when no batch has a timestamp);
//  3. swaps the copies in (below), and
//  4. writes cleaner-offset-checkpoint = the base offset of the first
//     segment it did not map, so the next pass starts there.
//
// The swap, for the segments still in the log (retention or
// DeleteRecordsBefore may have deleted some meanwhile; a truncation abandons
// the pass), under appendMu:
//
//	a. per segment, in offset order: rename .index.cleaned and
//	   .timeindex.cleaned to .swap, then .log.cleaned to .log.swap, and
//	   fsync the directory. A durable .log.swap commits the segment, and
//	   the order makes the committed part of an interrupted pass a prefix.
//	   That matters for tombstones: the pass that stamps a tombstone's
//	   horizon also removes its key's older records, which lie in earlier
//	   segments; a later pass drops the tombstone itself. Were the
//	   tombstone's segment committed without the earlier ones, that later
//	   pass could drop it (and, crashing again, keep the older value);
//	b. per segment: rename each .swap over its final name, indexes first
//	   (rename(2) replaces atomically, so at every instant <base>.log is the
//	   old or the new file); a segment left empty, other than the first of
//	   the log, is deleted instead (final files, then its .swap files);
//	c. fsync the directory, then publish the new segments to readers and
//	   mark the old ones replaced, so a ReadResult that still points at an
//	   old file fails with ErrTruncated instead of reading it.
//
// Recovery (Open) finishes an interrupted swap deterministically, as
// Kafka's does: every *.cleaned file is deleted (not committed), every
// <base>.log.swap is completed (its index .swap files renamed first), and an
// index .swap without its .log.swap is deleted; every segment touched by
// any of these gets its indexes rebuilt from the log, so their state never
// matters. A failure during the swap fails the log (ErrIO until reopened),
// so the rule above is the only way the directory gets finished.
//
// Concurrency: one pass at a time per log (cleanMu). Steps 1 and 2 read the
// sealed segments through their own file handles and take no lock that
// appends or reads use; only the swap and the checkpoint hold appendMu, for
// a few renames and fsyncs. Close interrupts a pass at the next batch.

// Kafka's defaults for the compaction settings.
const (
	DefaultDeleteRetentionMs      = 24 * 60 * 60 * 1000 // delete.retention.ms
	DefaultMinCompactionLagMs     = 0                   // min.compaction.lag.ms
	DefaultMaxCompactionLagMs     = math.MaxInt64       // max.compaction.lag.ms
	DefaultMinCleanableDirtyRatio = 0.5                 // min.cleanable.dirty.ratio
	DefaultOffsetMapBytes         = 128 << 20           // log.cleaner.dedupe.buffer.size
	maxOffsetMapBytes             = 64 << 30
)

// CompactionConfig holds a compacted topic's settings.
type CompactionConfig struct {
	// DeleteRetentionMs is delete.retention.ms: how long a tombstone stays
	// after the pass that first kept it.
	DeleteRetentionMs int64
	// MinCompactionLagMs is min.compaction.lag.ms: no segment holding a
	// record newer than now minus this is cleaned.
	MinCompactionLagMs int64
	// MaxCompactionLagMs is max.compaction.lag.ms: a dirty segment whose
	// first batch is older than now minus this is cleaned whatever the
	// dirty ratio.
	MaxCompactionLagMs int64
	// MinCleanableDirtyRatio is min.cleanable.dirty.ratio: a pass runs when
	// dirty bytes / cleanable bytes exceeds it.
	MinCleanableDirtyRatio float64
	// OffsetMapBytes bounds the key map of one pass (see offsetMap); 0
	// means DefaultOffsetMapBytes.
	OffsetMapBytes int64
}

// DefaultCompactionConfig returns Kafka's defaults.
func DefaultCompactionConfig() CompactionConfig {
	return CompactionConfig{
		DeleteRetentionMs:      DefaultDeleteRetentionMs,
		MinCompactionLagMs:     DefaultMinCompactionLagMs,
		MaxCompactionLagMs:     DefaultMaxCompactionLagMs,
		MinCleanableDirtyRatio: DefaultMinCleanableDirtyRatio,
	}
}

// Validate reports the first invalid setting, wrapping ErrInvalidConfig.
func (c CompactionConfig) Validate() error {
	switch {
	case c.DeleteRetentionMs < 0:
		return fmt.Errorf("%w: DeleteRetentionMs %d is negative", ErrInvalidConfig, c.DeleteRetentionMs)
	case c.MinCompactionLagMs < 0:
		return fmt.Errorf("%w: MinCompactionLagMs %d is negative", ErrInvalidConfig, c.MinCompactionLagMs)
	case c.MaxCompactionLagMs < 1:
		return fmt.Errorf("%w: MaxCompactionLagMs %d is below 1", ErrInvalidConfig, c.MaxCompactionLagMs)
	case !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1):
		return fmt.Errorf("%w: MinCleanableDirtyRatio %v outside [0, 1]", ErrInvalidConfig, c.MinCleanableDirtyRatio)
	case c.OffsetMapBytes < 0 || c.OffsetMapBytes > maxOffsetMapBytes:
		return fmt.Errorf("%w: OffsetMapBytes %d outside [0, %d]", ErrInvalidConfig, c.OffsetMapBytes, int64(maxOffsetMapBytes))
	}
	return nil
}

// CompactionResult describes one call of Compact.
type CompactionResult struct {
	// Cleaned is set when a pass ran and was swapped in.
	Cleaned bool
	// Forced is set when max.compaction.lag.ms called for the pass.
	Forced bool
	// FirstDirtyOffset is where the dirty section began, DirtyRatio its
	// share of the cleanable bytes.
	FirstDirtyOffset int64
	DirtyRatio       float64
	// CleanedUpTo is the new cleaner checkpoint: the base offset of the
	// first segment the pass did not map.
	CleanedUpTo int64
	// Keys is the number of distinct keys mapped.
	Keys int
	// SegmentsRewritten were swapped for cleaned copies; SegmentsRemoved
	// were left empty and deleted.
	SegmentsRewritten int
	SegmentsRemoved   int
	// BytesBefore and BytesAfter are the sizes of the segments the pass
	// went through.
	BytesBefore, BytesAfter int64
	// RecordsRemoved counts every record dropped: superseded ones,
	// tombstones past their horizon (also in TombstonesRemoved) and
	// records without a key (also in KeylessRemoved).
	RecordsRemoved    int64
	TombstonesRemoved int64
	KeylessRemoved    int64
}

// Compact runs one compaction pass if the log needs one; see
// CompactContext.
func (l *Log) Compact(now time.Time, cfg CompactionConfig, maxCleanableOffset int64) (CompactionResult, error) {
	return l.CompactContext(context.Background(), now, cfg, maxCleanableOffset)
}

// CompactContext compacts the sealed segments wholly below
// maxCleanableOffset (the high watermark) if the dirty ratio or
// max.compaction.lag.ms calls for it, keeping the latest record of every
// key (see the comment at the top of cleaner.go). now is the clock for the
// compaction lags and tombstone horizons. A pass that ctx cancels, that
// Close interrupts, or whose log a truncation changed changes nothing and
// returns Cleaned false with ctx's error, ErrClosed or ErrTruncated. A
// corrupt batch in a sealed segment is ErrCorrupt (the pass is abandoned).
// An error during the swap fails the log; Open finishes the swap.
func (l *Log) CompactContext(ctx context.Context, now time.Time, cfg CompactionConfig, maxCleanableOffset int64) (CompactionResult, error) {
	if err := cfg.Validate(); err != nil {
		return CompactionResult{}, err
	}
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	p, err := l.planCompaction(now, cfg, maxCleanableOffset)
	if p == nil || err != nil {
		return CompactionResult{}, err
	}
	defer p.closeFiles()
	if !p.run {
		return p.res, nil
	}
	budget := cfg.OffsetMapBytes
	if budget == 0 {
		budget = DefaultOffsetMapBytes
	}
	keys, end, err := l.buildOffsetMap(ctx, p, budget)
	if err != nil {
		return p.res, err
	}
	p.res.Keys, p.res.CleanedUpTo = keys.size(), p.srcs[end-1].nextBase
	rules := &retainRules{keys: keys, nowMs: now.UnixMilli(), deleteRetentionMs: cfg.DeleteRetentionMs}
	cleaned, err := l.writeCleanedSegments(ctx, p.srcs[:end], rules, &p.res)
	if err != nil {
		discardCleaned(cleaned)
		return p.res, err
	}
	if err := l.swapCleaned(p, cleaned); err != nil {
		return p.res, err
	}
	return p.res, nil
}

// cleanSource is one segment a pass reads, through its own file handle so
// that a concurrent deletion cannot close it under the pass.
type cleanSource struct {
	seg      *segment
	f        *os.File
	size     int64
	nextBase int64 // base offset of the following segment
}

// cleanPlan is what planCompaction decided.
type cleanPlan struct {
	gen      uint64
	srcs     []cleanSource // cleanable segments, oldest first
	dirtyIdx int           // index in srcs of the first dirty segment
	run      bool
	res      CompactionResult
}

func (p *cleanPlan) closeFiles() {
	for _, s := range p.srcs {
		if s.f != nil {
			_ = s.f.Close()
		}
	}
}

// planCompaction snapshots the segment list under appendMu, then, without
// locks, picks the cleanable segments, decides whether a pass is due and,
// if so, opens them. A nil plan means there is nothing to do.
func (l *Log) planCompaction(now time.Time, cfg CompactionConfig, maxCleanable int64) (*cleanPlan, error) {
	l.appendMu.Lock()
	if err := l.writableLocked(); err != nil {
		l.appendMu.Unlock()
		return nil, err
	}
	segs := slices.Clone(l.segs)
	gen, start, leo, cp := l.gen, l.start.Load(), l.leo.Load(), l.cleanedTo
	l.appendMu.Unlock()

	firstDirty := cp
	if cp < start || cp > leo {
		firstDirty = start
	}
	p := &cleanPlan{gen: gen, dirtyIdx: -1}
	p.res.FirstDirtyOffset, p.res.CleanedUpTo = firstDirty, firstDirty
	nowMs := now.UnixMilli()
	var cleanBytes, dirtyBytes int64
	for i := 0; i < len(segs)-1; i++ {
		s, nextBase := segs[i], segs[i+1].base
		if nextBase <= start {
			continue // wholly below the log start: retention deletes it
		}
		if s.next.Load() > maxCleanable {
			break
		}
		dirty := nextBase > firstDirty
		if dirty && cfg.MinCompactionLagMs > 0 && l.largestTimestamp(s) > nowMs-cfg.MinCompactionLagMs {
			break
		}
		if dirty && p.dirtyIdx < 0 {
			p.dirtyIdx = len(p.srcs)
		}
		size := s.size.Load()
		if dirty {
			dirtyBytes += size
		} else {
			cleanBytes += size
		}
		p.srcs = append(p.srcs, cleanSource{seg: s, size: size, nextBase: nextBase})
	}
	if p.dirtyIdx < 0 {
		return p, nil
	}
	if cleanBytes+dirtyBytes > 0 {
		p.res.DirtyRatio = float64(dirtyBytes) / float64(cleanBytes+dirtyBytes)
	}
	if cfg.MaxCompactionLagMs < math.MaxInt64 {
		p.res.Forced = earliestFirstBatch(p.srcs[p.dirtyIdx:]) < nowMs-cfg.MaxCompactionLagMs
	}
	p.run = (p.res.Forced && dirtyBytes > 0) || p.res.DirtyRatio > cfg.MinCleanableDirtyRatio
	if !p.run {
		return p, nil
	}
	if err := l.openSources(p.srcs); err != nil {
		p.closeFiles()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // a segment was deleted meanwhile; the next pass sees the new list
		}
		return nil, err
	}
	return p, nil
}

// openSources opens every source's .log for reading.
func (l *Log) openSources(srcs []cleanSource) error {
	for i := range srcs {
		f, err := os.Open(srcs[i].seg.name())
		if err != nil {
			return fmt.Errorf("%w: open %s for compaction: %w", ErrIO, srcs[i].seg.name(), err)
		}
		srcs[i].f = f
		if size, err := fileSize(f); err != nil || size < srcs[i].size {
			return fmt.Errorf("%w: %s holds %d bytes, the segment %d (%v)", ErrIO, f.Name(), size, srcs[i].size, err)
		}
	}
	return nil
}

// earliestFirstBatch is the smallest first-batch MaxTimestamp over srcs
// (Kafka's rule for max.compaction.lag.ms), math.MaxInt64 if none has a
// positive one. It reads through the segments' own handles; a header that
// cannot be read (the segment was deleted meanwhile) counts as no
// timestamp.
func earliestFirstBatch(srcs []cleanSource) int64 {
	earliest := int64(math.MaxInt64)
	for _, s := range srcs {
		if s.size == 0 {
			continue
		}
		var h BatchHeader
		err := s.seg.withFile(func(f *os.File) (err error) {
			h, err = newHeaderScanner(f, s.size).header(0)
			return err
		})
		if err == nil && h.MaxTimestamp > 0 {
			earliest = min(earliest, h.MaxTimestamp)
		}
	}
	return earliest
}

// interrupted reports why a pass must stop early, if it must.
func (l *Log) interrupted(ctx context.Context) error {
	if l.cleanAbort.Load() {
		return fmt.Errorf("compaction interrupted: %w", ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("compaction interrupted: %w", err)
	}
	return nil
}

// forEachBatch calls fn for every batch of src, checked for framing and
// CRC-32C: compaction re-encodes batches with a fresh CRC, so a damaged one
// must never get that far. A bad batch is ErrCorrupt.
func (l *Log) forEachBatch(ctx context.Context, src *cleanSource, fn func(b []byte, h BatchHeader) error) error {
	r := bufio.NewReaderSize(io.NewSectionReader(src.f, 0, src.size), 1<<20)
	var buf []byte
	for pos := int64(0); pos < src.size; {
		if err := l.interrupted(ctx); err != nil {
			return err
		}
		b, stop, err := readBatch(r, &buf, src.size-pos)
		if err != nil {
			return fmt.Errorf("%w: read %s at byte %d: %v", ErrIO, src.seg.name(), pos, err)
		}
		var h BatchHeader
		if stop == nil {
			h, stop = validateStored(b)
		}
		if stop != nil {
			return fmt.Errorf("%w: %s: bad batch at byte %d of a sealed segment: %v", ErrCorrupt, src.seg.name(), pos, stop)
		}
		if err := fn(b, h); err != nil {
			return err
		}
		pos += h.Size()
	}
	return nil
}

// buildOffsetMap maps the keys of the dirty segments, whole segments at a
// time, stopping before a segment once the map is over budget (the first
// dirty segment is always mapped). end is the number of sources, from the
// first, that the pass covers.
func (l *Log) buildOffsetMap(ctx context.Context, p *cleanPlan, budget int64) (keys *offsetMap, end int, err error) {
	keys = newOffsetMap()
	end = p.dirtyIdx
	for i := p.dirtyIdx; i < len(p.srcs); i++ {
		if i > p.dirtyIdx && keys.bytes >= budget {
			l.logger.Info().Int("keys", keys.size()).Int64("map_bytes", keys.bytes).Int64("stop_offset", p.srcs[i].seg.base).
				Msg("compaction key map is full; the rest of the dirty section waits for the next pass")
			break
		}
		err := l.forEachBatch(ctx, &p.srcs[i], func(b []byte, h BatchHeader) error {
			return walkRecords(b, false, func(r *Record) bool {
				if r.Key != nil {
					keys.put(r.Key, r.Offset)
				}
				return true
			})
		})
		if err != nil {
			return nil, 0, fmt.Errorf("mapping keys of %s: %w", p.srcs[i].seg.name(), err)
		}
		end = i + 1
	}
	return keys, end, nil
}

// lastProducerBatches maps each producer id of srcs to the base offset of
// its last batch there, from the batch headers alone.
func lastProducerBatches(srcs []cleanSource) (map[int64]int64, error) {
	last := make(map[int64]int64)
	for _, s := range srcs {
		sc := newHeaderScanner(s.f, s.size)
		for pos := int64(0); pos < s.size; {
			h, err := sc.header(pos)
			if err != nil {
				return nil, err
			}
			if h.ProducerID >= 0 {
				last[h.ProducerID] = h.BaseOffset
			}
			pos += h.Size()
		}
	}
	return last, nil
}

// cleanedSegment is a source and its cleaned copy (files named .cleaned).
type cleanedSegment struct {
	src *cleanSource
	seg *segment
}

// writeCleanedSegments writes the cleaned copy of every source in which
// something changes, and adds to res.
func (l *Log) writeCleanedSegments(ctx context.Context, srcs []cleanSource, rules *retainRules, res *CompactionResult) ([]cleanedSegment, error) {
	lastOf, err := lastProducerBatches(srcs)
	if err != nil {
		return nil, err
	}
	var out []cleanedSegment
	for i := range srcs {
		seg, err := l.writeCleaned(ctx, &srcs[i], rules, lastOf, res)
		if err != nil {
			return out, err
		}
		res.BytesBefore += srcs[i].size
		if seg == nil {
			res.BytesAfter += srcs[i].size
			continue
		}
		res.BytesAfter += seg.size.Load()
		out = append(out, cleanedSegment{src: &srcs[i], seg: seg})
		if err := l.hook("cleaned", seg.base); err != nil {
			return out, err
		}
	}
	return out, nil
}

// writeCleaned writes the cleaned copy of src as .cleaned files, fsynced,
// with its indexes, and returns it as a segment whose name is the final
// one. It returns nil if every batch is kept verbatim (nothing to swap).
func (l *Log) writeCleaned(ctx context.Context, src *cleanSource, rules *retainRules, lastOf map[int64]int64, res *CompactionResult) (*segment, error) {
	base := src.seg.base
	seg, err := createCleaned(l.cfg.Dir, base)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(seg.log, 1<<20)
	interval := int64(l.cfg.IndexIntervalBytes)
	var pos int64
	changed := false
	err = l.forEachBatch(ctx, src, func(b []byte, h BatchHeader) error {
		keepEmpty := h.ProducerID >= 0 && lastOf[h.ProducerID] == h.BaseOffset
		v, err := filterBatch(b, h, rules, keepEmpty)
		if err != nil {
			return fmt.Errorf("compacting the batch at offset %d of %s: %w", h.BaseOffset, src.seg.name(), err)
		}
		res.RecordsRemoved += int64(v.removed)
		res.TombstonesRemoved += int64(v.tombstonesRemoved)
		res.KeylessRemoved += int64(v.keyless)
		changed = changed || !v.verbatim
		if v.out == nil {
			return nil
		}
		oh := h
		if !v.verbatim {
			oh, _ = ParseBatchHeader(v.out)
		}
		if pos+oh.Size() > math.MaxInt32 {
			return fmt.Errorf("%w: the cleaned copy of %s would exceed %d bytes", ErrIO, src.seg.name(), math.MaxInt32)
		}
		if _, err := w.Write(v.out); err != nil {
			return fmt.Errorf("%w: write %s.cleaned: %v", ErrIO, src.seg.name(), err)
		}
		seg.mu.Lock()
		seg.trackBatchLocked(oh, pos, interval, nil, nil)
		seg.mu.Unlock()
		pos += oh.Size()
		seg.next.Store(oh.NextOffset())
		return nil
	})
	if err == nil && !changed {
		discardCleaned([]cleanedSegment{{seg: seg}})
		return nil, nil
	}
	if err == nil {
		err = finishCleaned(seg, w, pos, src)
	}
	if err != nil {
		discardCleaned([]cleanedSegment{{seg: seg}})
		return nil, err
	}
	return seg, nil
}

// createCleaned creates (or empties, after an earlier failed pass) the
// .cleaned files of the segment at base.
func createCleaned(dir string, base int64) (*segment, error) {
	logPath, idxPath, timePath := segmentPaths(dir, base)
	s := &segment{base: base, logPath: logPath, rollTs: -1, maxTs: -1, maxTsOffset: -1, createdMs: time.Now().UnixMilli()}
	s.next.Store(base)
	files := []**os.File{&s.log, &s.idxFile, &s.timeFile}
	for i, p := range []string{logPath, idxPath, timePath} {
		f, err := os.OpenFile(p+cleanedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			_ = s.close()
			return nil, fmt.Errorf("%w: create %s: %v", ErrIO, p+cleanedSuffix, err)
		}
		*files[i] = f
	}
	return s, nil
}

// finishCleaned flushes the cleaned log, seals the copy like a roll does
// (final time index entry, index files, fsync of all three) and gives the
// .log the source's modification time.
func finishCleaned(seg *segment, w *bufio.Writer, size int64, src *cleanSource) error {
	if err := w.Flush(); err != nil {
		return fmt.Errorf("%w: write %s: %v", ErrIO, seg.log.Name(), err)
	}
	seg.size.Store(size)
	seg.mu.Lock()
	seg.maybeTimeEntryLocked()
	seg.mu.Unlock()
	if err := seg.writeIndexes(); err != nil {
		return err
	}
	if st, err := src.f.Stat(); err == nil {
		if err := os.Chtimes(seg.log.Name(), time.Time{}, st.ModTime()); err != nil {
			return fmt.Errorf("%w: set the modification time of %s: %v", ErrIO, seg.log.Name(), err)
		}
	}
	if err := seg.syncAll(); err != nil {
		return err
	}
	// Sealed like a rolled segment: only the .log stays open. Should the
	// copy later become the active segment (TruncateTo), its indexes are
	// reopened under their final names.
	return seg.closeIndexes()
}

// discardCleaned closes and deletes cleaned copies that will not be swapped
// in. Failures are ignored: Open deletes leftover .cleaned files.
func discardCleaned(cs []cleanedSegment) {
	for _, c := range cs {
		_ = c.seg.close()
		logPath, idxPath, timePath := segmentPaths(filepath.Dir(c.seg.logPath), c.seg.base)
		for _, p := range []string{logPath, idxPath, timePath} {
			_ = os.Remove(p + cleanedSuffix)
		}
	}
}

// swapCleaned swaps the cleaned copies in (steps a-c at the top of this
// file) and writes the cleaner checkpoint, under appendMu; the replaced
// files are closed after it is released.
func (l *Log) swapCleaned(p *cleanPlan, cleaned []cleanedSegment) error {
	l.appendMu.Lock()
	live, err := l.liveCleanedLocked(p, cleaned)
	if err != nil {
		l.appendMu.Unlock()
		return err
	}
	var old []*segment
	if len(live) > 0 {
		if old, err = l.replaceSegmentsLocked(live, &p.res); err != nil {
			l.appendMu.Unlock()
			return l.fail(err)
		}
	}
	err = l.writeCleanerCheckpointLocked(p.res.CleanedUpTo)
	l.appendMu.Unlock()
	l.closeReplaced(old)
	if err != nil {
		return err
	}
	p.res.Cleaned = true
	l.logger.Info().Int64("first_dirty_offset", p.res.FirstDirtyOffset).Int64("cleaned_up_to", p.res.CleanedUpTo).
		Float64("dirty_ratio", p.res.DirtyRatio).Bool("forced", p.res.Forced).Int("keys", p.res.Keys).
		Int("segments_rewritten", p.res.SegmentsRewritten).Int("segments_removed", p.res.SegmentsRemoved).
		Int64("bytes_before", p.res.BytesBefore).Int64("bytes_after", p.res.BytesAfter).
		Int64("records_removed", p.res.RecordsRemoved).Int64("tombstones_removed", p.res.TombstonesRemoved).
		Msg("compacted log")
	return l.hook("checkpoint", p.res.CleanedUpTo)
}

// liveCleanedLocked returns the cleaned copies whose source is still a
// sealed segment of the log, discarding the others. A log that was closed,
// failed or truncated since the plan discards them all. The caller holds
// appendMu.
func (l *Log) liveCleanedLocked(p *cleanPlan, cleaned []cleanedSegment) ([]cleanedSegment, error) {
	if err := l.writableLocked(); err != nil {
		discardCleaned(cleaned)
		return nil, err
	}
	if l.gen != p.gen {
		discardCleaned(cleaned)
		return nil, fmt.Errorf("%w: the log was truncated during compaction; the pass is abandoned", ErrTruncated)
	}
	sealed := make(map[*segment]bool, len(l.segs))
	for _, s := range l.segs[:len(l.segs)-1] {
		sealed[s] = true
	}
	var live, gone []cleanedSegment
	for _, c := range cleaned {
		if sealed[c.src.seg] {
			live = append(live, c)
		} else {
			gone = append(gone, c)
		}
	}
	discardCleaned(gone)
	return live, nil
}

// replaceSegmentsLocked runs the swap and publishes the new segment list.
// It returns the replaced segments, to be closed once appendMu is released.
// Any error leaves a directory that Open finishes. The caller holds
// appendMu.
func (l *Log) replaceSegmentsLocked(live []cleanedSegment, res *CompactionResult) (old []*segment, err error) {
	// From the first rename on, a source's path names its cleaned copy, so
	// a reader must not open the source through the file cache any more:
	// hold every source's original file open until closeReplaced (or
	// until this fails and the log with it).
	held := 0
	defer func() {
		if err != nil {
			for _, c := range live[:held] {
				c.src.seg.release()
			}
		}
	}()
	for _, c := range live {
		if _, err := c.src.seg.acquire(); err != nil {
			return nil, err
		}
		held++
	}
	dir := l.cfg.Dir
	for _, c := range live {
		if err := commitCleaned(dir, c.seg.base); err != nil {
			return nil, err
		}
		if err := l.hook("committed", c.seg.base); err != nil {
			return nil, err
		}
	}
	first := l.segs[0]
	for _, c := range live {
		var err error
		if c.seg.size.Load() == 0 && c.src.seg != first {
			err = removeSwapped(dir, c.seg.base)
		} else {
			err = installSwapped(dir, c.seg.base)
		}
		if err != nil {
			return nil, err
		}
		if err := l.hook("installed", c.seg.base); err != nil {
			return nil, err
		}
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	if err := l.hook("synced", res.CleanedUpTo); err != nil {
		return nil, err
	}
	repl := make(map[*segment]*segment, len(live))
	for _, c := range live {
		if c.seg.size.Load() == 0 && c.src.seg != first {
			_ = c.seg.close()
			repl[c.src.seg] = nil
			res.SegmentsRemoved++
		} else {
			// The copy's .log, opened as .cleaned, is now the file at
			// the final name: the cache adopts it like a sealed segment's.
			c.seg.fc = l.files
			l.files.addSealed(c.seg, c.seg.log)
			// Offsets do not move, so the source's transaction index,
			// left in place under the same name, is the copy's too.
			c.src.seg.mu.RLock()
			c.seg.txns = c.src.seg.txns
			c.src.seg.mu.RUnlock()
			c.seg.log = nil
			repl[c.src.seg] = c.seg
			res.SegmentsRewritten++
		}
	}
	l.mu.Lock()
	segs := make([]*segment, 0, len(l.segs))
	for _, s := range l.segs {
		n, ok := repl[s]
		if !ok {
			segs = append(segs, s)
			continue
		}
		s.replaced.Store(true)
		old = append(old, s)
		if n != nil {
			segs = append(segs, n)
		}
	}
	l.segs = segs
	l.mu.Unlock()
	return old, nil
}

// commitCleaned renames the .cleaned files of the segment at base to .swap,
// the .log last, and fsyncs the directory: the segment is committed.
func commitCleaned(dir string, base int64) error {
	logPath, idxPath, timePath := segmentPaths(dir, base)
	for _, p := range []string{idxPath, timePath, logPath} {
		if err := os.Rename(p+cleanedSuffix, p+swapSuffix); err != nil {
			return fmt.Errorf("%w: rename %s: %v", ErrIO, p+cleanedSuffix, err)
		}
	}
	return syncDir(dir)
}

// installSwapped renames the .swap files of the segment at base over the
// final names, the .log last.
func installSwapped(dir string, base int64) error {
	logPath, idxPath, timePath := segmentPaths(dir, base)
	for _, p := range []string{idxPath, timePath, logPath} {
		if err := os.Rename(p+swapSuffix, p); err != nil {
			return fmt.Errorf("%w: rename %s: %v", ErrIO, p+swapSuffix, err)
		}
	}
	return nil
}

// removeSwapped deletes a segment that compaction left empty: its files,
// then its .swap files (a crash in between completes the swap into an
// empty segment, which is just as right).
func removeSwapped(dir string, base int64) error {
	if err := removeSegmentFiles(dir, base); err != nil {
		return err
	}
	logPath, idxPath, timePath := segmentPaths(dir, base)
	for _, p := range []string{logPath, idxPath, timePath} {
		if err := os.Remove(p + swapSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: remove %s: %v", ErrIO, p+swapSuffix, err)
		}
	}
	return nil
}

// closeReplaced drops the references replaceSegmentsLocked held and closes
// the files of replaced segments (a reader still using one keeps it open
// until it is done). Holding syncMu keeps
// an fsync of the syncer off a closed file (the syncer only fsyncs the
// active segment, which compaction never replaces, but the rule is the
// same everywhere).
func (l *Log) closeReplaced(old []*segment) {
	if len(old) == 0 {
		return
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	for _, s := range old {
		// Dropped first, so the release below closes the file instead of
		// parking it in the cache.
		if err := s.close(); err != nil {
			l.logger.Warn().Err(err).Str("file", s.name()).Msg("closing a compacted segment's old files failed")
		}
		s.release()
	}
}

// writeCleanerCheckpointLocked persists the cleaner checkpoint. The caller
// holds appendMu.
func (l *Log) writeCleanerCheckpointLocked(offset int64) error {
	if offset == l.cleanedTo {
		return nil
	}
	if err := writeFileAtomic(l.cfg.Dir, cleanerCheckpointFile, encodeLogStartCheckpoint(offset)); err != nil {
		return err
	}
	l.cleanedTo = offset
	return nil
}

// lowerCleanerCheckpointLocked moves the cleaner checkpoint down to offset
// if it is above it, before a truncation removes what it covers: a
// checkpoint above data that was never mapped would let a pass treat that
// data as clean. The caller holds appendMu.
func (l *Log) lowerCleanerCheckpointLocked(offset int64) error {
	if l.cleanedTo <= offset {
		return nil
	}
	return l.writeCleanerCheckpointLocked(offset)
}

// readCleanerCheckpoint loads cleaner-offset-checkpoint at Open; -1 if
// there is none. An unreadable one is logged and ignored: the next pass
// then cleans from the log start, which is always safe.
func (l *Log) readCleanerCheckpoint() int64 {
	path := filepath.Join(l.cfg.Dir, cleanerCheckpointFile)
	b, ok, err := readSmallFile(path)
	if err == nil && !ok {
		return -1
	}
	var off int64
	if err == nil {
		off, err = parseLogStartCheckpoint(b)
	}
	if err != nil {
		l.logger.Warn().Err(err).Str("file", path).Msg("ignoring unreadable cleaner checkpoint; the next compaction starts at the log start")
		return -1
	}
	return off
}

// hook lets tests stop a pass after a step, as a crash would.
func (l *Log) hook(step string, base int64) error {
	if l.cleanHook == nil {
		return nil
	}
	return l.cleanHook(fmt.Sprintf("%s %d", step, base))
}
