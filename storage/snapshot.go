package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Producer-state snapshots (doc.go, "Producer snapshots").
//
// Replication rebuilds its idempotent-producer state at startup by reading
// batch headers; a snapshot of that state at offset X lets it read only the
// headers from X on. Storage does not know the state's encoding: it stores
// opaque bytes in <20-digit X>.snapshot files, framed and checksummed so
// that a damaged file is never handed back, and keeps the set of files
// consistent with the log (none above the log end, none below the log
// start, at most snapshotsKept).

const (
	snapshotSuffix   = ".snapshot"
	snapshotVersion0 = 0
	// snapshotHeader: version int16, crc uint32 (CRC-32C of the rest),
	// offset int64, data length int32.
	snapshotHeader = 2 + 4 + 8 + 4
	// snapshotsKept: the newest one, and one to fall back on should it
	// turn out damaged.
	snapshotsKept = 2
	// maxSnapshotBytes bounds what is read back, so a damaged length field
	// cannot make Open allocate without limit.
	maxSnapshotBytes = 1 << 30
)

// encodeSnapshot frames data as the snapshot file for offset.
func encodeSnapshot(offset int64, data []byte) []byte {
	b := make([]byte, snapshotHeader, snapshotHeader+len(data))
	be.PutUint16(b[0:], snapshotVersion0)
	be.PutUint64(b[6:], uint64(offset))
	be.PutUint32(b[14:], uint32(len(data)))
	b = append(b, data...)
	be.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

// decodeSnapshot checks a snapshot file named for offset and returns its
// data. Any mismatch is an error: a snapshot is trusted whole or not at all.
func decodeSnapshot(b []byte, offset int64) ([]byte, error) {
	if len(b) < snapshotHeader {
		return nil, fmt.Errorf("%d bytes, shorter than the header", len(b))
	}
	if v := be.Uint16(b); v != snapshotVersion0 {
		return nil, fmt.Errorf("unknown version %d", v)
	}
	if crc := crc32.Checksum(b[6:], castagnoli); crc != be.Uint32(b[2:]) {
		return nil, fmt.Errorf("CRC-32C %08x, header says %08x", crc, be.Uint32(b[2:]))
	}
	if got := int64(be.Uint64(b[6:])); got != offset {
		return nil, fmt.Errorf("holds offset %d, named %d", got, offset)
	}
	if n := int64(be.Uint32(b[14:])); n != int64(len(b)-snapshotHeader) {
		return nil, fmt.Errorf("length %d, %d bytes follow", n, len(b)-snapshotHeader)
	}
	return b[snapshotHeader:], nil
}

func snapshotFileName(offset int64) string { return segmentFileName(offset, snapshotSuffix) }

// SetSnapshotSource registers fn (nil removes it), which returns the
// producer state to snapshot and the offset it covers (every batch below
// offset, none above). The log calls it, under its append lock and so
// between two appends, when a segment rolls (the state then covers exactly
// the offsets below the new segment's base, since the batch that caused
// the roll is not written yet) and when it closes cleanly, and writes what
// it returns with WriteProducerSnapshot's rules. fn must not call the
// log's writing methods; it runs on the goroutine calling Append,
// AppendAsFollower or Close, so state that the caller guards around those
// calls needs no further locking. An offset outside [LogStartOffset,
// LogEndOffset] or a nil data skips the snapshot.
func (l *Log) SetSnapshotSource(fn func() (offset int64, data []byte)) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.snapSource = fn
}

// WriteProducerSnapshot stores data as the producer-state snapshot at
// offset (LogStartOffset <= offset <= LogEndOffset), atomically (temporary
// file, fsync, rename, directory fsync) and CRC-protected, replacing one at
// the same offset, then deletes all but the newest snapshotsKept.
func (l *Log) WriteProducerSnapshot(offset int64, data []byte) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if start, leo := l.start.Load(), l.leo.Load(); offset < start || offset > leo {
		return fmt.Errorf("%w: snapshot at %d outside [%d, %d]", ErrOffsetOutOfRange, offset, start, leo)
	}
	return l.writeSnapshotLocked(offset, data)
}

func (l *Log) writeSnapshotLocked(offset int64, data []byte) error {
	if len(data) > maxSnapshotBytes-snapshotHeader {
		return fmt.Errorf("%w: producer snapshot of %d bytes", ErrIO, len(data))
	}
	if err := writeFileAtomic(l.cfg.Dir, snapshotFileName(offset), encodeSnapshot(offset, data)); err != nil {
		return err
	}
	if i, found := slices.BinarySearch(l.snapshots, offset); !found {
		l.snapshots = slices.Insert(l.snapshots, i, offset)
	}
	if n := len(l.snapshots) - snapshotsKept; n > 0 {
		return l.deleteSnapshotsLocked(func(off int64) bool { return off < l.snapshots[n] })
	}
	return nil
}

// snapshotFromSourceLocked writes the source's snapshot, if a source is
// set and it has a new one. A failure is logged, not returned: a snapshot
// only shortens the next rebuild.
func (l *Log) snapshotFromSourceLocked(why string) {
	if l.snapSource == nil {
		return
	}
	offset, data := l.snapSource()
	if data == nil || offset < l.start.Load() || offset > l.leo.Load() {
		return
	}
	if n := len(l.snapshots); n > 0 && l.snapshots[n-1] == offset {
		return // the state at an offset is a function of the log: unchanged
	}
	if err := l.writeSnapshotLocked(offset, data); err != nil {
		l.logger.Warn().Err(err).Int64("offset", offset).Str("at", why).Msg("writing the producer snapshot failed; the next start reads more batch headers")
	}
}

// LatestProducerSnapshot returns the newest snapshot that reads back
// intact. A damaged one is deleted with a warning and the next older one
// tried: a snapshot is never half trusted. ok is false if none is left;
// err reports only I/O errors.
func (l *Log) LatestProducerSnapshot() (offset int64, data []byte, ok bool, err error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	for i := len(l.snapshots) - 1; i >= 0; i-- {
		off := l.snapshots[i]
		if off > l.leo.Load() {
			continue // pruning failed; never describes this log
		}
		path := filepath.Join(l.cfg.Dir, snapshotFileName(off))
		b, found, err := readSmallFile(path)
		if err != nil {
			return 0, nil, false, err
		}
		var why error = errors.New("file missing")
		if found {
			if data, why = decodeSnapshot(b, off); why == nil {
				return off, data, true, nil
			}
		}
		l.logger.Warn().Str("file", path).AnErr("reason", why).Msg("deleting a damaged producer snapshot; falling back to an older one")
		if err := l.deleteSnapshotsLocked(func(o int64) bool { return o == off }); err != nil {
			return 0, nil, false, err
		}
	}
	return 0, nil, false, nil
}

// deleteSnapshotsLocked deletes the snapshots for which drop is true, and
// fsyncs the directory if it deleted any. The caller holds appendMu (or is
// Open).
func (l *Log) deleteSnapshotsLocked(drop func(offset int64) bool) error {
	kept := l.snapshots[:0]
	var errs []error
	removed := false
	for _, off := range l.snapshots {
		if !drop(off) {
			kept = append(kept, off)
			continue
		}
		path := filepath.Join(l.cfg.Dir, snapshotFileName(off))
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			kept = append(kept, off)
			continue
		}
		removed = true
	}
	l.snapshots = kept
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: delete producer snapshots: %v", ErrIO, err)
	}
	if removed {
		return syncDir(l.cfg.Dir)
	}
	return nil
}

// pruneSnapshotsLocked deletes the snapshots that no longer describe the
// log: above its end (a truncation or recovery cut what they cover) or
// below its start (retention deleted what they cover). Failures are
// logged: LatestProducerSnapshot never returns a snapshot above the end,
// and Open prunes again.
func (l *Log) pruneSnapshotsLocked() {
	start, end := l.start.Load(), l.leo.Load()
	if err := l.deleteSnapshotsLocked(func(off int64) bool { return off > end || off < start }); err != nil {
		l.logger.Warn().Err(err).Msg("deleting stale producer snapshots failed")
	}
}
