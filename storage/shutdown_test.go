package storage

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// forgetCleanShutdown removes the marker a Close left, so that the next Open
// sees the directory as a crash would leave it.
func forgetCleanShutdown(t testing.TB, dir string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("removing the clean shutdown marker: %v", err)
	}
}

func markerExists(t testing.TB, dir string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(dir, cleanShutdownFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// segState is what recovery derives for a segment, for comparing the clean
// path with a full recovery.
type segState struct {
	Base, Size, Next, MaxTs, MaxTsOffset, BytesSinceIndex, RollTs int64
	Off                                                           []offsetEntry
	Time                                                          []timeEntry
}

func segStates(l *Log) []segState {
	var out []segState
	for _, s := range l.segs {
		out = append(out, segState{s.base, s.size.Load(), s.next.Load(), s.maxTs, s.maxTsOffset,
			s.bytesSinceIndex, s.rollTs, s.offIdx, s.timeIdx})
	}
	return out
}

// writeMultiSegmentLog fills dir with several segments and an active one
// holding index entries, and closes the log cleanly.
func writeMultiSegmentLog(t *testing.T, cfg Config) {
	l := openLog(t, cfg)
	for i := 0; i < 40; i++ {
		mustAppend(t, l, batch(3, 90, int64(1000+i*7%13)), int32(i/10))
	}
	if len(l.segs) < 3 {
		t.Fatalf("want several segments, have %d", len(l.segs))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A cleanly closed log reopens without the recovery scan and fsync (issue
// 3), into the same state a full recovery derives, and the marker is gone
// once it is open.
func TestOpenAfterCleanCloseSkipsRecovery(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.SegmentBytes, cfg.IndexIntervalBytes = 2048, 300
	writeMultiSegmentLog(t, cfg)
	if !markerExists(t, dir) {
		t.Fatal("Close wrote no clean shutdown marker")
	}
	full := t.TempDir()
	copyDir(t, dir, full)
	forgetCleanShutdown(t, full)

	l := openLog(t, cfg)
	if !l.cleanOpen {
		t.Fatal("Open after a clean Close recovered fully")
	}
	if markerExists(t, dir) {
		t.Fatal("Open left the clean shutdown marker in place")
	}
	fcfg := cfg
	fcfg.Dir = full
	r := openLog(t, fcfg)
	if r.cleanOpen {
		t.Fatal("Open without a marker skipped recovery")
	}
	if got, want := segStates(l), segStates(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("clean open state\n%+v\nfull recovery state\n%+v", got, want)
	}
	if l.LogEndOffset() != r.LogEndOffset() || l.DurableOffset() != l.LogEndOffset() || l.LatestEpoch() != r.LatestEpoch() {
		t.Fatalf("clean open: LEO %d durable %d epoch %d; full recovery: LEO %d epoch %d",
			l.LogEndOffset(), l.DurableOffset(), l.LatestEpoch(), r.LogEndOffset(), r.LatestEpoch())
	}
	if a, b := readAll(t, l, 0, l.LogEndOffset()), readAll(t, r, 0, r.LogEndOffset()); !bytes.Equal(a, b) {
		t.Fatal("clean open and full recovery read different bytes")
	}

	// Appends go on as after a recovery, and the next clean reopen keeps them.
	mustAppend(t, l, batch(2, 50, 5000), l.LatestEpoch())
	want := readAll(t, l, 0, l.LogEndOffset())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, cfg)
	if !l2.cleanOpen {
		t.Fatal("second clean reopen recovered fully")
	}
	if got := readAll(t, l2, 0, l2.LogEndOffset()); !bytes.Equal(got, want) {
		t.Fatalf("after reopen: %d bytes, want %d", len(got), len(want))
	}
}

// Without a marker (a crash) Open recovers fully, and a crash after a clean
// open, once the log changed, finds no marker.
func TestOpenWithoutCleanShutdownRecovers(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	l := openLog(t, cfg)
	mustAppend(t, l, batch(3, 100, 1), 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, cfg)
	if !l.cleanOpen {
		t.Fatal("clean reopen recovered fully")
	}
	mustAppend(t, l, batch(3, 100, 2), 0) // makes the marker's removal durable
	crashed := t.TempDir()
	copyDir(t, dir, crashed) // the image of a crash now: no Close
	if markerExists(t, crashed) {
		t.Fatal("the marker outlived an append")
	}
	ccfg := cfg
	ccfg.Dir = crashed
	r := openLog(t, ccfg)
	if r.cleanOpen {
		t.Fatal("Open after a crash skipped recovery")
	}
	if r.LogEndOffset() != l.LogEndOffset() {
		t.Fatalf("recovered LEO %d, want %d", r.LogEndOffset(), l.LogEndOffset())
	}
}

// A marker that does not describe the files (wrong size, wrong base,
// unreadable) is ignored: Open recovers fully and removes it.
func TestOpenIgnoresStaleCleanShutdownMarker(t *testing.T) {
	for name, marker := range map[string]func(m cleanMarker) []byte{
		"wrong size":  func(m cleanMarker) []byte { m.size--; return encodeCleanMarker(m) },
		"wrong base":  func(m cleanMarker) []byte { m.base++; return encodeCleanMarker(m) },
		"wrong end":   func(m cleanMarker) []byte { m.leo++; return encodeCleanMarker(m) },
		"garbage":     func(cleanMarker) []byte { return []byte("0\nnot a marker\n") },
		"bad version": func(m cleanMarker) []byte { return append([]byte("1"), encodeCleanMarker(m)[1:]...) },
		"extra fields": func(m cleanMarker) []byte {
			return append(encodeCleanMarker(m)[:len(encodeCleanMarker(m))-1], " 7\n"...)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir)
			cfg.SegmentBytes, cfg.IndexIntervalBytes = 2048, 300
			writeMultiSegmentLog(t, cfg)
			path := filepath.Join(dir, cleanShutdownFile)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := parseCleanMarker(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, marker(m), 0o644); err != nil {
				t.Fatal(err)
			}
			l := openLog(t, cfg)
			if l.cleanOpen {
				t.Fatal("Open trusted a stale clean shutdown marker")
			}
			if markerExists(t, dir) {
				t.Fatal("Open left the stale marker in place")
			}
			if l.LogEndOffset() != m.leo {
				t.Fatalf("LEO %d, want %d", l.LogEndOffset(), m.leo)
			}
		})
	}
}

// Bytes added to the active segment behind the marker's back (what a crash
// after a later append would leave, had the marker survived) make the
// marker stale: Open recovers fully and cuts the torn tail.
func TestOpenCleanMarkerDoesNotHideGrownFile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	l := openLog(t, cfg)
	mustAppend(t, l, batch(3, 100, 1), 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(segFile(dir, 0, logSuffix), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("torn")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := openLog(t, cfg)
	if r.cleanOpen {
		t.Fatal("Open trusted a marker whose size no longer matches")
	}
	if got := fileLen(t, segFile(dir, 0, logSuffix)); got != r.segs[0].size.Load() {
		t.Fatalf("torn tail not truncated: file %d bytes, segment %d", got, r.segs[0].size.Load())
	}
}

// Sealed segments hold only their .log descriptor; the active one
// keeps its index files open once it writes them, and a segment that a
// truncation makes active again reopens them.
func TestSealedSegmentsCloseIndexFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.SegmentBytes, cfg.IndexIntervalBytes = 2048, 300
	l := openLog(t, cfg)
	for i := 0; i < 40; i++ {
		mustAppend(t, l, batch(3, 90, int64(1000+i)), 0)
	}
	checkIndexFiles := func(when string) {
		t.Helper()
		for i, s := range l.segs {
			open := s.idxFile != nil || s.timeFile != nil
			if i < len(l.segs)-1 && open {
				t.Fatalf("%s: sealed segment %d keeps index files open", when, s.base)
			}
		}
	}
	checkIndexFiles("after rolls")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	forgetCleanShutdown(t, dir)
	l = openLog(t, cfg)
	checkIndexFiles("after recovery")
	if act := l.segs[len(l.segs)-1]; act.idxFile == nil || act.timeFile == nil {
		t.Fatal("the recovered active segment has no index files open")
	}
	mid := l.segs[1]
	if err := l.TruncateTo(mid.base + 1); err != nil {
		t.Fatal(err)
	}
	if l.segs[len(l.segs)-1] != mid || mid.idxFile == nil || mid.timeFile == nil {
		t.Fatal("the segment made active by TruncateTo did not reopen its index files")
	}
	for i := 0; i < 20; i++ {
		mustAppend(t, l, batch(3, 90, int64(2000+i)), 0)
	}
	checkIndexFiles("after truncation and appends")
	want := readAll(t, l, 0, l.LogEndOffset())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	forgetCleanShutdown(t, dir)
	r := openLog(t, cfg)
	if got := readAll(t, r, 0, r.LogEndOffset()); !bytes.Equal(got, want) {
		t.Fatalf("after reopen: %d bytes, want %d", len(got), len(want))
	}
}
