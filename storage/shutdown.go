package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Clean shutdown.
//
// A Close that leaves every byte of the log durable (the active segment's
// .log and both of its indexes fsynced, the log not failed) writes
// clean-shutdown, atomically like the checkpoints:
//
//	0                       version
//	1234 5678 1300          active segment base offset, its .log size, log end offset
//
// Open trusts a marker that matches the files (the last segment has that
// base offset and size, its indexes exist, pass the sealed-segment checks
// and the batch headers chain to the recorded end offset): the active
// segment is then loaded through its indexes like a sealed one instead of
// being scanned and CRC-checked, and recovery rule 7 (the fdatasync) is
// skipped. Anything else is a full recovery.
//
// Open unlinks the marker at once but makes the unlink durable (a directory
// fsync) only before the first change to the active segment (append, roll,
// truncation: dropCleanMarkerLocked), so an idle partition opens without
// any flush. Until that change the files are exactly what the marker
// describes, so a marker brought back by a crash is still true. A marker
// that does not match is removed durably before recovery changes anything.

const cleanShutdownFile = "clean-shutdown"

type cleanMarker struct {
	base, size, leo int64
}

func encodeCleanMarker(m cleanMarker) []byte {
	return fmt.Appendf(nil, "0\n%d %d %d\n", m.base, m.size, m.leo)
}

func parseCleanMarker(b []byte) (cleanMarker, error) {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) != 2 || strings.TrimSpace(lines[0]) != "0" {
		return cleanMarker{}, fmt.Errorf("want version line 0 and one entry, got %q", b)
	}
	f := strings.Fields(lines[1])
	if len(f) != 3 {
		return cleanMarker{}, fmt.Errorf("bad entry line %q", lines[1])
	}
	var v [3]int64
	for i, s := range f {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return cleanMarker{}, fmt.Errorf("bad entry line %q", lines[1])
		}
		v[i] = n
	}
	return cleanMarker{base: v[0], size: v[1], leo: v[2]}, nil
}

// takeCleanMarker reads and unlinks clean-shutdown. ok is false if there is
// none or it cannot be parsed.
func (l *Log) takeCleanMarker() (m cleanMarker, ok bool, err error) {
	path := filepath.Join(l.cfg.Dir, cleanShutdownFile)
	b, found, err := readSmallFile(path)
	if err != nil || !found {
		return cleanMarker{}, false, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return cleanMarker{}, false, fmt.Errorf("%w: remove %s: %v", ErrIO, path, err)
	}
	l.markerUnsynced = true
	if m, err = parseCleanMarker(b); err != nil {
		l.logger.Warn().Err(err).Str("file", path).Msg("ignoring unreadable clean shutdown marker; recovering fully")
		return cleanMarker{}, false, nil
	}
	return m, true, nil
}

// dropCleanMarkerLocked makes the unlink of clean-shutdown durable before
// the active segment changes. The caller holds appendMu (or is Open).
func (l *Log) dropCleanMarkerLocked() error {
	if !l.markerUnsynced {
		return nil
	}
	if err := syncDir(l.cfg.Dir); err != nil {
		return err
	}
	l.markerUnsynced = false
	return nil
}

// writeCleanMarkerLocked syncs the active segment's indexes and records
// the clean shutdown. The caller (Close) holds appendMu and syncMu and has
// fdatasynced the active .log.
func (l *Log) writeCleanMarkerLocked() error {
	seg := l.segs[len(l.segs)-1]
	if seg.idxDirty {
		if err := seg.writeIndexes(); err != nil {
			return err
		}
	}
	if err := seg.syncIndexes(); err != nil {
		return err
	}
	if err := seg.syncTxnIndex(); err != nil {
		return err
	}
	m := cleanMarker{base: seg.base, size: seg.size.Load(), leo: l.leo.Load()}
	return writeFileAtomic(l.cfg.Dir, cleanShutdownFile, encodeCleanMarker(m))
}

// loadActiveClean loads the last segment through its indexes when the
// marker m describes it; ok is false (and seg reset) if it does not.
func (l *Log) loadActiveClean(seg *segment, hasIdx bool, m cleanMarker) (bool, error) {
	if !hasIdx || seg.base != m.base {
		return false, nil
	}
	size, err := fileSize(seg.log)
	if err != nil || size != m.size {
		return false, err
	}
	if why := l.loadIndexes(seg, seg.log, size, true); why != nil {
		if errors.Is(why, ErrIO) {
			return false, why
		}
		l.logger.Warn().AnErr("reason", why).Msg("clean shutdown marker does not match the active segment; recovering fully")
		return false, nil
	}
	if seg.next.Load() != m.leo {
		l.logger.Warn().Int64("marker_log_end_offset", m.leo).Int64("log_end_offset", seg.next.Load()).
			Msg("clean shutdown marker does not match the active segment; recovering fully")
		return false, nil
	}
	// Appender state, as trackBatchLocked would have left it.
	from := int64(0)
	if n := len(seg.offIdx); n > 0 {
		from = int64(seg.offIdx[n-1].pos)
	}
	seg.bytesSinceIndex = size - from
	if size > 0 {
		h, err := newHeaderScanner(seg.log, size).header(0)
		if err != nil {
			return false, nil
		}
		seg.rollTs = h.MaxTimestamp
	}
	return true, nil
}
