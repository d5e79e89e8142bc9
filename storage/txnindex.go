package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The transaction index (doc.go, "Transaction index"): <base>.txnindex
// lists the aborted transactions whose abort marker is in the segment, as
// fixed 34-byte entries, in marker order.

const (
	txnIndexSuffix   = ".txnindex"
	txnEntrySize     = 34
	txnEntryVersion0 = 0
)

// AbortedTxn is one entry of the transaction index: producer ProducerID
// aborted the transaction whose first record is at FirstOffset and whose
// abort marker is at LastOffset; LastStableOffset is the partition's last
// stable offset when the marker was written. A read_committed fetch
// answers the entries overlapping its range as AbortedTransactions.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// appendTxnEntries encodes ts as version 0 entries.
func appendTxnEntries(b []byte, ts []AbortedTxn) []byte {
	for _, t := range ts {
		b = be.AppendUint16(b, txnEntryVersion0)
		b = be.AppendUint64(b, uint64(t.ProducerID))
		b = be.AppendUint64(b, uint64(t.FirstOffset))
		b = be.AppendUint64(b, uint64(t.LastOffset))
		b = be.AppendUint64(b, uint64(t.LastStableOffset))
	}
	return b
}

// decodeTxnIndex decodes the entries of a segment [base, next) and returns
// the longest valid prefix. err says why decoding stopped early (a partial
// entry, an unknown version, an entry outside the segment or out of marker
// order); it is nil if all of b is valid. Recovery truncates the file to
// the prefix: an entry is written whole by one pwrite before the marker
// can be acknowledged, so only a crash leaves a bad tail.
func decodeTxnIndex(b []byte, base, next int64) ([]AbortedTxn, error) {
	var out []AbortedTxn
	for pos := 0; pos < len(b); pos += txnEntrySize {
		if len(b)-pos < txnEntrySize {
			return out, fmt.Errorf("%d trailing bytes, a partial entry", len(b)-pos)
		}
		e := b[pos : pos+txnEntrySize]
		if v := int16(be.Uint16(e)); v != txnEntryVersion0 {
			return out, fmt.Errorf("entry %d has version %d", len(out), v)
		}
		t := AbortedTxn{
			ProducerID:       int64(be.Uint64(e[2:])),
			FirstOffset:      int64(be.Uint64(e[10:])),
			LastOffset:       int64(be.Uint64(e[18:])),
			LastStableOffset: int64(be.Uint64(e[26:])),
		}
		if err := t.check(base, next); err != nil {
			return out, fmt.Errorf("entry %d: %w", len(out), err)
		}
		if n := len(out); n > 0 && t.LastOffset <= out[n-1].LastOffset {
			return out, fmt.Errorf("entry %d: marker %d not after %d", n, t.LastOffset, out[n-1].LastOffset)
		}
		out = append(out, t)
	}
	return out, nil
}

// check validates an entry of a segment holding [base, next).
func (t AbortedTxn) check(base, next int64) error {
	switch {
	case t.ProducerID < 0:
		return fmt.Errorf("producer id %d", t.ProducerID)
	case t.FirstOffset < 0 || t.FirstOffset > t.LastOffset:
		return fmt.Errorf("first offset %d, marker at %d", t.FirstOffset, t.LastOffset)
	case t.LastOffset < base || t.LastOffset >= next:
		return fmt.Errorf("marker at %d outside the segment [%d, %d)", t.LastOffset, base, next)
	case t.LastStableOffset < 0:
		return fmt.Errorf("last stable offset %d", t.LastStableOffset)
	}
	return nil
}

func (s *segment) txnPath() string {
	return filepath.Join(filepath.Dir(s.logPath), segmentFileName(s.base, txnIndexSuffix))
}

// AppendAbortedTxn records an aborted transaction whose abort marker was
// appended (LastOffset, below the log end offset) into the active segment:
// the entry goes to the active segment's .txnindex, created on the first
// entry. Markers must be recorded in offset order. With DurabilityFsync
// the entry is fsynced before it returns, so once the marker is durable
// (Sync) so is its entry; with DurabilityPageCache it is fsynced when the
// segment rolls or the log closes, like the other indexes. The file is
// opened only for the write: aborts are rare, and an idle segment holds no
// descriptor for it.
func (l *Log) AppendAbortedTxn(t AbortedTxn) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	seg := l.segs[len(l.segs)-1]
	if err := t.check(seg.base, l.leo.Load()); err != nil {
		return fmt.Errorf("%w: aborted transaction %+v: %v", ErrOffsetOutOfRange, t, err)
	}
	seg.mu.RLock()
	n := len(seg.txns)
	last := int64(-1)
	if n > 0 {
		last = seg.txns[n-1].LastOffset
	}
	seg.mu.RUnlock()
	if t.LastOffset <= last {
		return fmt.Errorf("%w: aborted transaction marker %d not after %d", ErrOffsetOutOfRange, t.LastOffset, last)
	}
	if err := l.dropCleanMarkerLocked(); err != nil {
		return err
	}
	if err := seg.writeTxnEntry(t, n, l.cfg.Durability == DurabilityFsync); err != nil {
		return l.fail(err)
	}
	seg.mu.Lock()
	seg.txns = append(seg.txns, t)
	seg.mu.Unlock()
	return nil
}

// writeTxnEntry writes entry t at index n of the segment's .txnindex,
// fsyncing it (and the directory, for a new file) if sync; otherwise the
// segment remembers to fsync it when sealed.
func (s *segment) writeTxnEntry(t AbortedTxn, n int, sync bool) error {
	path := s.txnPath()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("%w: open %s: %v", ErrIO, path, err)
	}
	_, err = f.WriteAt(appendTxnEntries(nil, []AbortedTxn{t}), int64(n)*txnEntrySize)
	if err == nil && sync {
		err = fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w: write %s: %v", ErrIO, path, err)
	}
	if n == 0 && sync {
		if err := syncDir(filepath.Dir(path)); err != nil {
			return err
		}
	}
	s.txnUnsynced = !sync
	return nil
}

// syncTxnIndex fsyncs a .txnindex written without fsync (page-cache mode)
// and the directory, when the segment is sealed or the log closes.
func (s *segment) syncTxnIndex() error {
	if !s.txnUnsynced {
		return nil
	}
	f, err := os.OpenFile(s.txnPath(), os.O_RDWR, 0)
	if err == nil {
		err = errors.Join(f.Sync(), f.Close())
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.logPath))
	}
	if err != nil {
		return fmt.Errorf("%w: fsync %s: %v", ErrIO, s.txnPath(), err)
	}
	s.txnUnsynced = false
	return nil
}

// loadTxnIndex reads the segment's .txnindex, once its end offset is known,
// and cuts a bad tail off the file (with a warning): a missing file means
// no entries.
func (l *Log) loadTxnIndex(s *segment) error {
	path := s.txnPath()
	b, ok, err := readSmallFile(path)
	if err != nil || !ok {
		return err
	}
	ts, why := decodeTxnIndex(b, s.base, s.next.Load())
	s.mu.Lock()
	s.txns = ts
	s.mu.Unlock()
	if why == nil {
		return nil
	}
	l.logger.Warn().Str("file", path).Int("entries_kept", len(ts)).AnErr("reason", why).
		Msg("truncating the transaction index at its first bad entry")
	return s.rewriteTxnIndex()
}

// rewriteTxnIndex makes the file hold exactly the in-memory entries
// (removing it when there are none), durably.
func (s *segment) rewriteTxnIndex() error {
	s.mu.RLock()
	b := appendTxnEntries(nil, s.txns)
	s.mu.RUnlock()
	path := s.txnPath()
	if len(b) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: remove %s: %v", ErrIO, path, err)
		}
		s.txnUnsynced = false
		return syncDir(filepath.Dir(path))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("%w: open %s: %v", ErrIO, path, err)
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Truncate(int64(len(b)))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w: rewrite %s: %v", ErrIO, path, err)
	}
	s.txnUnsynced = false
	return nil
}

// truncateTxns drops the entries whose marker is at or after end (a
// truncation cut the segment there) and rewrites the file if any was.
func (s *segment) truncateTxns(end int64) error {
	s.mu.Lock()
	n := len(s.txns)
	for n > 0 && s.txns[n-1].LastOffset >= end {
		n--
	}
	changed := n != len(s.txns)
	s.txns = s.txns[:n:n]
	s.mu.Unlock()
	if !changed {
		return nil
	}
	return s.rewriteTxnIndex()
}

// AbortedTransactions returns the aborted transactions overlapping the
// offsets [from, to): those whose abort marker is at or after from and
// whose first offset is before to, in marker order, as a read_committed
// fetch of that range must answer them (Kafka's collectAbortedTxns). The
// entries live with the segment holding their marker, which is at or
// after every record of the transaction, so only the segments from the
// one holding from are searched.
func (l *Log) AbortedTransactions(from, to int64) ([]AbortedTxn, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed.Load() {
		return nil, ErrClosed
	}
	var out []AbortedTxn
	for i := l.segmentIndexLocked(from); i < len(l.segs); i++ {
		s := l.segs[i]
		s.mu.RLock()
		for _, t := range s.txns {
			if t.LastOffset >= from && t.FirstOffset < to {
				out = append(out, t)
			}
		}
		s.mu.RUnlock()
	}
	return out, nil
}
