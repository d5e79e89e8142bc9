package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// txnEntryBytes encodes an entry the way Kafka's TransactionIndex does
// (AbortedTxn: version int16, producerId, firstOffset, lastOffset,
// lastStableOffset, all big-endian), independently of appendTxnEntries.
func txnEntryBytes(pid, first, last, lso int64) []byte {
	b := make([]byte, txnEntrySize)
	be.PutUint16(b[0:], 0)
	be.PutUint64(b[2:], uint64(pid))
	be.PutUint64(b[10:], uint64(first))
	be.PutUint64(b[18:], uint64(last))
	be.PutUint64(b[26:], uint64(lso))
	return b
}

func txnIndexSeeds() map[string][]byte {
	one := txnEntryBytes(7, 100, 105, 100)
	two := txnEntryBytes(8, 101, 110, 100)
	badVersion := bytes.Clone(one)
	badVersion[1] = 1
	return map[string][]byte{
		"empty":           {},
		"zero-entry":      make([]byte, txnEntrySize),
		"ffffffff-entry":  bytes.Repeat([]byte{0xff}, txnEntrySize),
		"one-valid-entry": one,
		"two-entries":     append(bytes.Clone(one), two...),
		"torn-tail":       append(bytes.Clone(one), two[:10]...),
		"bad-version":     badVersion,
		"out-of-order":    append(bytes.Clone(two), one...),
	}
}

// FuzzDecodeTxnIndex: the decoder never panics, returns a prefix of the
// input that re-encodes byte for byte, every entry it returns is valid and
// in marker order, and it reports an error exactly when it stopped early.
func FuzzDecodeTxnIndex(f *testing.F) {
	for _, s := range txnIndexSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const base, next = 100, 1 << 40
		ts, err := decodeTxnIndex(b, base, next)
		n := len(ts) * txnEntrySize
		if !bytes.Equal(appendTxnEntries(nil, ts), b[:n]) {
			t.Fatalf("entries %+v do not re-encode to the input's prefix", ts)
		}
		if (err == nil) != (n == len(b)) {
			t.Fatalf("decoded %d of %d bytes with error %v", n, len(b), err)
		}
		for i, e := range ts {
			if e.check(base, next) != nil || (i > 0 && e.LastOffset <= ts[i-1].LastOffset) {
				t.Fatalf("invalid entry %d returned: %+v", i, e)
			}
		}
	})
}

// mustAbort appends an abort marker stand-in batch and records the
// aborted transaction (producer pid, first offset first) for it.
func mustAbort(t testing.TB, l *Log, pid, first int64) AbortedTxn {
	t.Helper()
	info := mustAppend(t, l, batch(1, 10, 0), 0)
	a := AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: info.LastOffset, LastStableOffset: first}
	if err := l.AppendAbortedTxn(a); err != nil {
		t.Fatalf("AppendAbortedTxn(%+v): %v", a, err)
	}
	return a
}

func mustAborted(t testing.TB, l *Log, from, to int64, want ...AbortedTxn) {
	t.Helper()
	got, err := l.AbortedTransactions(from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AbortedTransactions(%d, %d) = %+v, want %+v", from, to, got, want)
	}
}

// The transaction index is Kafka's: one 34-byte entry per aborted
// transaction, in the segment holding its abort marker, created with the
// first entry; a fetch range gets the entries overlapping it, across
// segments; entries survive a clean reopen and a crash; a torn tail is
// cut off; a missing file means no entries.
func TestTxnIndexWriteCollectRecover(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.SegmentBytes = 400
	l := openLog(t, cfg)
	mustAppend(t, l, batch(5, 10, 0), 0) // 0-4
	a := mustAbort(t, l, 7, 1)           // marker at 5
	b := mustAbort(t, l, 8, 3)           // marker at 6
	for l.NumSegments() < 3 {
		mustAppend(t, l, batch(2, 50, 0), 0)
	}
	c := mustAbort(t, l, 9, l.LogEndOffset()-2)
	if got := fileLen(t, segFile(dir, 0, txnIndexSuffix)); got != 2*txnEntrySize {
		t.Fatalf("first segment's .txnindex holds %d bytes, want 2 entries", got)
	}
	raw, err := os.ReadFile(segFile(dir, 0, txnIndexSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if want := append(txnEntryBytes(7, 1, 5, 1), txnEntryBytes(8, 3, 6, 3)...); !bytes.Equal(raw, want) {
		t.Fatalf(".txnindex bytes\n got %x\nwant %x", raw, want)
	}
	if _, err := os.Stat(segFile(dir, l.segs[1].base, txnIndexSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a segment without aborted transactions has a .txnindex (%v)", err)
	}
	mustAborted(t, l, 0, 2, a)
	mustAborted(t, l, 0, 100, a, b, c)
	mustAborted(t, l, 6, 100, b, c)
	mustAborted(t, l, 7, c.FirstOffset)
	mustAborted(t, l, c.FirstOffset, c.FirstOffset+1, c)

	// A crash: the files as they are, no clean-shutdown marker; then a
	// torn entry at the active segment's tail.
	crashed := filepath.Join(t.TempDir(), "crashed-0")
	copyDir(t, dir, crashed)
	tail := segFile(crashed, l.segs[len(l.segs)-1].base, txnIndexSuffix)
	f, err := os.OpenFile(tail, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(txnEntryBytes(10, 0, c.LastOffset+1, 0)[:20]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l2 := openLog(t, testConfig(t, crashed))
	mustAborted(t, l2, 0, 100, a, b, c)
	if got := fileLen(t, tail); got != txnEntrySize {
		t.Fatalf("torn .txnindex tail not cut: %d bytes", got)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l3 := openLog(t, testConfig(t, dir))
	mustAborted(t, l3, 0, 100, a, b, c)
	if err := l3.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(segFile(dir, 0, txnIndexSuffix)); err != nil {
		t.Fatal(err)
	}
	l4 := openLog(t, testConfig(t, dir))
	mustAborted(t, l4, 0, 100, c)
}

// An entry whose marker is past the log end after recovery (the marker's
// batch was a torn tail) is dropped with everything after it.
func TestTxnIndexEntryPastRecoveredEndDropped(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, testConfig(t, dir))
	a := mustAbort(t, l, 7, 0)
	crashed := filepath.Join(t.TempDir(), "crashed-0")
	copyDir(t, dir, crashed)
	f, err := os.OpenFile(segFile(crashed, 0, txnIndexSuffix), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(txnEntryBytes(8, 1, 50, 1)); err != nil { // marker 50 was never appended
		t.Fatal(err)
	}
	f.Close()
	l2 := openLog(t, testConfig(t, crashed))
	mustAborted(t, l2, 0, 100, a)
	if got := fileLen(t, segFile(crashed, 0, txnIndexSuffix)); got != txnEntrySize {
		t.Fatalf(".txnindex holds %d bytes, want the one valid entry", got)
	}
}

// AppendAbortedTxn refuses an entry whose marker is not in the active
// segment below the log end, or not after the previous entry's.
func TestAppendAbortedTxnValidates(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	mustAppend(t, l, batch(3, 1, 0), 0)
	for _, bad := range []AbortedTxn{
		{ProducerID: 1, FirstOffset: 0, LastOffset: 3},  // marker at the log end
		{ProducerID: 1, FirstOffset: 2, LastOffset: 1},  // first after last
		{ProducerID: -1, FirstOffset: 0, LastOffset: 1}, // no producer
	} {
		if err := l.AppendAbortedTxn(bad); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("AppendAbortedTxn(%+v) = %v", bad, err)
		}
	}
	if err := l.AppendAbortedTxn(AbortedTxn{ProducerID: 1, LastOffset: 2}); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendAbortedTxn(AbortedTxn{ProducerID: 2, LastOffset: 2}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("a second entry for the same marker: %v", err)
	}
}

// TruncateTo drops the entries whose marker is at or past the new end and
// deletes the .txnindex of removed segments; retention deletes it with its
// segment; a compaction swap keeps the entries of the segments it rewrites.
func TestTxnIndexFollowsTruncationRetentionCompaction(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.SegmentMs = segMs
	l := openLog(t, cfg)
	var aborts []AbortedTxn
	for k := 0; k < 4; k++ {
		// Unique keys keep every rewritten segment non-empty; "dup" makes
		// each one dirty.
		for j, key := range []string{"dup", fmt.Sprint("k", k), "dup"} {
			s := spec(put(key, fmt.Sprint(k, j)))
			s.ts = segTs(k) + int64(j)
			mustAppend(t, l, keyedBatch(t, s), 0)
		}
		info := mustAppend(t, l, keyedBatch(t, keyedSpec{recs: []kv{put(fmt.Sprint("m", k), "x")}, ts: segTs(k) + 5, pid: -1}), 0)
		a := AbortedTxn{ProducerID: int64(k), FirstOffset: info.LastOffset - 2, LastOffset: info.LastOffset, LastStableOffset: 0}
		if err := l.AppendAbortedTxn(a); err != nil {
			t.Fatal(err)
		}
		aborts = append(aborts, a)
	}
	if l.NumSegments() != 4 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	if res := compactNow(t, l, time.Now().UnixMilli(), anyRatio()); res.SegmentsRewritten != 3 {
		t.Fatalf("compaction rewrote %d segments, want 3: %+v", res.SegmentsRewritten, res)
	}
	mustAborted(t, l, 0, 100, aborts...)

	// Truncation inside the third segment, before its marker.
	third, fourth := l.segs[2].base, l.segs[3].base
	if err := l.TruncateTo(aborts[2].LastOffset); err != nil {
		t.Fatal(err)
	}
	mustAborted(t, l, 0, 100, aborts[:2]...)
	if _, err := os.Stat(segFile(dir, fourth, txnIndexSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a removed segment's .txnindex is still there")
	}
	if _, err := os.Stat(segFile(dir, third, txnIndexSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the cut segment's emptied .txnindex is still there (%v)", err)
	}

	// Retention deletes the first segment and its .txnindex.
	if _, err := l.DeleteRecordsBefore(l.segs[1].base); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(segFile(dir, 0, txnIndexSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("retention left the deleted segment's .txnindex")
	}
	mustAborted(t, l, 0, 100, aborts[1])
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mustAborted(t, openLog(t, testConfig(t, dir)), 0, 100, aborts[1])
}
