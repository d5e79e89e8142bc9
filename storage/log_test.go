package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// smallConfig rolls segments every few KiB and indexes densely, so that the
// tests cross segment and index boundaries constantly.
func smallConfig(t testing.TB, dir string) Config {
	cfg := testConfig(t, dir)
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 256
	return cfg
}

// appendRandom appends n batches of random shape and returns the stamped
// bytes of every batch in order.
func appendRandom(t testing.TB, l *Log, rng *rand.Rand, n int, epoch int32, ts *int64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := makeBatch(batchOpts{records: 1 + rng.IntN(5), valueSize: rng.IntN(300), firstTs: *ts, tsStep: 1})
		*ts += 10
		before := l.LogEndOffset()
		info := mustAppend(t, l, b, epoch)
		if info.BaseOffset != before || l.LogEndOffset() != info.LastOffset+1 {
			t.Fatalf("append %d: info %+v, LEO before %d after %d", i, info, before, l.LogEndOffset())
		}
		out = append(out, b)
	}
	return out
}

// checkContents reads every offset back and compares it with the appended
// batches: Read(offset) must return the batch containing offset first.
func checkContents(t testing.TB, l *Log, want [][]byte) {
	t.Helper()
	all := readAll(t, l, l.LogStartOffset(), l.LogEndOffset())
	if !bytes.Equal(all, bytes.Join(want, nil)) {
		t.Fatalf("read back %d bytes, appended %d; contents differ", len(all), len(bytes.Join(want, nil)))
	}
	for _, b := range want {
		h, _ := ParseBatchHeader(b)
		for _, off := range []int64{h.BaseOffset, h.LastOffset()} {
			res, err := l.Read(off, 1, l.LogEndOffset())
			if err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
			got, err := res.Bytes()
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("Read(%d, 1 byte) = %d bytes (%v), want the batch at %d (KIP-74: one whole batch)", off, len(got), err, h.BaseOffset)
			}
		}
	}
}

func TestAppendReadRoundTripAcrossRollsAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "orders-3")
	cfg := smallConfig(t, dir)
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ts := int64(1000)
	want := appendRandom(t, l, rng, 150, 0, &ts)
	checkContents(t, l, want)
	if n := len(l.segs); n < 5 {
		t.Fatalf("only %d segments; the test must cross rolls", n)
	}
	leo := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, cfg)
	if l.LogEndOffset() != leo || l.DurableOffset() != leo {
		t.Fatalf("after reopen LEO %d durable %d, want %d", l.LogEndOffset(), l.DurableOffset(), leo)
	}
	checkContents(t, l, want)
	want = append(want, appendRandom(t, l, rng, 20, 0, &ts)...)
	checkContents(t, l, want)
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, n := range names {
		if len(filepath.Base(n)) != 24 {
			t.Fatalf("segment file %s is not named by a 20-digit base offset", n)
		}
	}
}

// KIP-74: a fetch returns at least one whole batch even if it exceeds
// maxBytes, then only batches that fit; never a batch at or past maxOffset.
func TestReadRespectsMaxBytesAndMaxOffset(t *testing.T) {
	l := openLog(t, smallConfig(t, t.TempDir()))
	var sizes []int64
	for i := 0; i < 10; i++ {
		b := batch(2, 100, int64(i))
		sizes = append(sizes, int64(len(b)))
		mustAppend(t, l, b, 0)
	}
	// batch i holds offsets 2i and 2i+1
	read := func(off int64, maxBytes int32, maxOffset int64) []BatchHeader {
		t.Helper()
		res, err := l.Read(off, maxBytes, maxOffset)
		if err != nil {
			t.Fatalf("Read(%d, %d, %d): %v", off, maxBytes, maxOffset, err)
		}
		b, err := res.Bytes()
		if err != nil || int64(len(b)) != res.Size {
			t.Fatalf("Bytes: %d bytes, size %d, %v", len(b), res.Size, err)
		}
		if len(b) == 0 {
			return nil
		}
		return mustHeaders(t, b)
	}
	if hs := read(3, 1, 20); len(hs) != 1 || hs[0].BaseOffset != 2 {
		t.Fatalf("maxBytes 1: %+v, want only the batch at 2", hs)
	}
	if hs := read(0, int32(sizes[0]+sizes[1]+sizes[2]/2), 20); len(hs) != 2 {
		t.Fatalf("maxBytes 2.5 batches: %d batches, want 2", len(hs))
	}
	if hs := read(0, 1<<20, 7); len(hs) != 4 || hs[3].BaseOffset != 6 {
		t.Fatalf("maxOffset 7: %d batches, want those at 0,2,4,6", len(hs))
	}
	if hs := read(0, 1<<20, 6); len(hs) != 3 {
		t.Fatalf("maxOffset 6: %d batches, want 3", len(hs))
	}
	if hs := read(6, 1<<20, 6); hs != nil {
		t.Fatalf("offset == maxOffset: %+v, want empty", hs)
	}
	if hs := read(20, 1<<20, 20); hs != nil {
		t.Fatalf("offset == LEO: %+v, want empty", hs)
	}
	if hs := read(0, 1<<20, 1<<40); len(hs) != 10 {
		t.Fatalf("maxOffset past LEO: %d batches", len(hs))
	}
	for _, off := range []int64{-1, 21} {
		if _, err := l.Read(off, 100, 100); !errors.Is(err, ErrOffsetOutOfRange) || !errors.Is(err, kerr.OffsetOutOfRange) {
			t.Fatalf("Read(%d) = %v, want ErrOffsetOutOfRange", off, err)
		}
	}
}

func TestAppendStampsLogAppendTime(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	info, err := l.Append(makeBatch(batchOpts{records: 3, firstTs: 5, tsStep: 1}), 2, 999)
	if err != nil {
		t.Fatal(err)
	}
	if info.LogAppendTime != 999 || info.MaxTimestamp != 999 || info.OffsetOfMaxTimestamp != 0 || info.LastOffset != 2 {
		t.Fatalf("info %+v", info)
	}
	hs := mustHeaders(t, readAll(t, l, 0, 10))
	if h := hs[0]; h.TimestampType() != TimestampLogAppendTime || h.MaxTimestamp != 999 || h.PartitionLeaderEpoch != 2 {
		t.Fatalf("stored header %+v", h)
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	mustAppend(t, l, batch(1, 1, 0), 5)
	if _, err := l.Append(batch(1, 1, 0), 4, -1); !errors.Is(err, ErrFencedEpoch) {
		t.Fatalf("append with an older epoch: %v, want ErrFencedEpoch", err)
	}
	if _, err := l.Append(batch(1, 1, 0)[:65], 5, -1); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("truncated batch: %v", err)
	}
	if l.LogEndOffset() != 1 {
		t.Fatalf("rejected appends moved the LEO to %d", l.LogEndOffset())
	}
}

// KIP-101: the epoch cache records where each leader epoch starts, survives
// reopen in Kafka's checkpoint format, and answers OffsetForLeaderEpoch.
func TestLeaderEpochCache(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig(t, dir)
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l.LatestEpoch() != -1 {
		t.Fatalf("empty log epoch %d", l.LatestEpoch())
	}
	for _, ep := range []int32{0, 0, 2, 2, 2, 5} {
		mustAppend(t, l, batch(2, 10, 0), ep) // batch k holds 2k, 2k+1
	}
	check := func(l *Log) {
		t.Helper()
		if l.LatestEpoch() != 5 {
			t.Fatalf("latest epoch %d", l.LatestEpoch())
		}
		for _, c := range []struct {
			req, epoch int32
			end        int64
		}{{0, 0, 4}, {1, 0, 4}, {2, 2, 10}, {3, 2, 10}, {4, 2, 10}, {5, 5, 12}, {6, -1, -1}, {-1, -1, -1}} {
			ep, end := l.EndOffsetForEpoch(c.req)
			if ep != c.epoch || end != c.end {
				t.Errorf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", c.req, ep, end, c.epoch, c.end)
			}
		}
	}
	check(l)
	raw, err := os.ReadFile(filepath.Join(dir, epochCheckpointFile))
	if err != nil || string(raw) != "0\n3\n0 0\n2 4\n5 10\n" {
		t.Fatalf("checkpoint %q, %v", raw, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(openLog(t, cfg))
}

// Kafka answers an epoch older than the first cached one with that epoch and
// the first cached epoch's start offset (LeaderEpochFileCache.endOffsetFor).
func TestEndOffsetForEpochBelowFirstEpoch(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	mustAppend(t, l, batch(3, 1, 0), 4)
	mustAppend(t, l, batch(3, 1, 0), 7)
	if ep, end := l.EndOffsetForEpoch(2); ep != 2 || end != 0 {
		t.Fatalf("EndOffsetForEpoch(2) = (%d, %d), want (2, 0)", ep, end)
	}
	if err := l.AssignLeaderEpoch(9); err != nil {
		t.Fatal(err)
	}
	if ep, end := l.EndOffsetForEpoch(7); ep != 7 || end != 6 {
		t.Fatalf("after assigning epoch 9: EndOffsetForEpoch(7) = (%d, %d), want (7, 6)", ep, end)
	}
}

// tsModel is the expected answer of the timestamp lookups, computed by brute
// force over the records of the batches appended. The batches come from
// makeBatch, whose record i has offset delta i and timestamp
// FirstTimestamp + i*step, so the records follow from the header alone.
type tsModel struct{ hs []BatchHeader }

// records calls fn with the offset and timestamp of every record in order.
func (m tsModel) records(fn func(off, ts int64) bool) {
	for _, h := range m.hs {
		step := int64(0)
		if h.LastOffsetDelta > 0 {
			step = (h.MaxTimestamp - h.FirstTimestamp) / int64(h.LastOffsetDelta)
		}
		for i := int64(0); i <= int64(h.LastOffsetDelta); i++ {
			if !fn(h.BaseOffset+i, h.FirstTimestamp+i*step) {
				return
			}
		}
	}
}

func (m tsModel) offsetFor(ts int64) (int64, int64, bool) {
	off, got, found := int64(-1), int64(-1), false
	m.records(func(o, t int64) bool {
		if t >= ts {
			off, got, found = o, t, true
		}
		return !found
	})
	return off, got, found
}

func (m tsModel) max() (int64, int64) {
	ts, off := int64(-1), int64(-1)
	m.records(func(o, t int64) bool {
		if t > ts {
			ts, off = t, o
		}
		return true
	})
	return ts, off
}

func checkTimestamps(t testing.TB, l *Log, m tsModel, probes []int64) {
	t.Helper()
	for _, ts := range probes {
		off, got, found, err := l.OffsetForTimestamp(ts)
		wOff, wTs, wFound := m.offsetFor(ts)
		if err != nil || off != wOff || got != wTs || found != wFound {
			t.Fatalf("OffsetForTimestamp(%d) = (%d, %d, %v, %v), want (%d, %d, %v)", ts, off, got, found, err, wOff, wTs, wFound)
		}
	}
	ts, off := l.MaxTimestamp()
	if wTs, wOff := m.max(); ts != wTs || off != wOff {
		t.Fatalf("MaxTimestamp = (%d, %d), want (%d, %d)", ts, off, wTs, wOff)
	}
}

// ListOffsets by timestamp and MAX_TIMESTAMP (KIP-734), per record,
// with timestamps that go up and down across segments and index entries.
func TestTimestampLookups(t *testing.T) {
	cfg := smallConfig(t, t.TempDir())
	l := openLog(t, cfg)
	if ts, off := l.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("empty MaxTimestamp (%d, %d)", ts, off)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var m tsModel
	var probes []int64
	for i := 0; i < 200; i++ {
		ts := int64(i*10 + rng.IntN(400) - 200)
		b := makeBatch(batchOpts{records: 1 + rng.IntN(3), valueSize: rng.IntN(200), firstTs: ts, tsStep: 3})
		mustAppend(t, l, b, 0)
		m.hs = append(m.hs, mustHeaders(t, b)[0])
		probes = append(probes, ts-1, ts, ts+1)
	}
	probes = append(probes, -1000, 1<<40)
	checkTimestamps(t, l, m, probes)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkTimestamps(t, openLog(t, cfg), m, probes)
}

func TestScanBatchHeaders(t *testing.T) {
	l := openLog(t, smallConfig(t, t.TempDir()))
	rng := rand.New(rand.NewPCG(5, 6))
	ts := int64(0)
	want := appendRandom(t, l, rng, 60, 0, &ts)
	var got []int64
	err := l.ScanBatchHeaders(0, func(h BatchHeader) error { got = append(got, h.BaseOffset); return nil })
	if err != nil || len(got) != len(want) {
		t.Fatalf("scanned %d headers (%v), want %d", len(got), err, len(want))
	}
	h10, _ := ParseBatchHeader(want[10])
	var first int64 = -1
	stop := errors.New("stop")
	err = l.ScanBatchHeaders(h10.LastOffset(), func(h BatchHeader) error { first = h.BaseOffset; return stop })
	if !errors.Is(err, stop) || first != h10.BaseOffset {
		t.Fatalf("scan from inside batch 10 started at %d (%v), want %d", first, err, h10.BaseOffset)
	}
	if err := l.ScanBatchHeaders(l.LogEndOffset()+1, func(BatchHeader) error { return nil }); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("scan past LEO: %v", err)
	}
}

// KIP-101 follower truncation: after TruncateTo the log, its indexes, the
// timestamp lookups and the epoch cache all agree with a log that never held
// the removed batches, before and after reopen.
func TestTruncateTo(t *testing.T) {
	for _, target := range []string{"mid-batch", "batch boundary", "segment base", "first offset", "noop"} {
		t.Run(target, func(t *testing.T) {
			cfg := smallConfig(t, t.TempDir())
			l := openLog(t, cfg)
			var batches [][]byte
			var m tsModel
			for i := 0; i < 120; i++ {
				b := makeBatch(batchOpts{records: 3, valueSize: 100, firstTs: int64(1000 - i*3 + (i%7)*50), tsStep: 1})
				mustAppend(t, l, b, int32(i/40))
				batches = append(batches, b)
				m.hs = append(m.hs, mustHeaders(t, b)[0])
			}
			var offset int64
			switch target {
			case "mid-batch":
				offset = 151
			case "batch boundary":
				offset = 150
			case "segment base":
				offset = l.segs[len(l.segs)/2].base
			case "first offset":
				offset = 0
			case "noop":
				offset = l.LogEndOffset()
			}
			if err := l.TruncateTo(offset); err != nil {
				t.Fatal(err)
			}
			keep := 0
			for keep < len(m.hs) && m.hs[keep].LastOffset() < offset {
				keep++
			}
			batches, m.hs = batches[:keep], m.hs[:keep]
			wantEnd := int64(0)
			if keep > 0 {
				wantEnd = m.hs[keep-1].NextOffset()
			}
			checkTruncated(t, l, batches, m, wantEnd)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, cfg)
			checkTruncated(t, l, batches, m, wantEnd)
			b := batch(2, 10, 5000)
			if info := mustAppend(t, l, b, 9); info.BaseOffset != wantEnd {
				t.Fatalf("append after truncate at %d, want %d", info.BaseOffset, wantEnd)
			}
		})
	}
}

func checkTruncated(t *testing.T, l *Log, batches [][]byte, m tsModel, wantEnd int64) {
	t.Helper()
	if l.LogEndOffset() != wantEnd || l.DurableOffset() > wantEnd {
		t.Fatalf("LEO %d durable %d, want %d", l.LogEndOffset(), l.DurableOffset(), wantEnd)
	}
	checkContents(t, l, batches)
	checkTimestamps(t, l, m, []int64{-1, 500, 800, 900, 1000, 1100, 1200, 1300, 1400})
	wantEpoch := int32(-1)
	if len(m.hs) > 0 {
		wantEpoch = int32((len(m.hs) - 1) / 40)
	}
	if l.LatestEpoch() != wantEpoch {
		t.Fatalf("latest epoch %d, want %d", l.LatestEpoch(), wantEpoch)
	}
}

func TestTruncateInvalidatesPendingRead(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	for i := 0; i < 5; i++ {
		mustAppend(t, l, batch(1, 10, 0), 0)
	}
	res, err := l.Read(3, 1000, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if _, err := res.Bytes(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Bytes after truncation: %v, want ErrTruncated", err)
	}
	if err := l.TruncateTo(-5); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("truncate below start: %v", err)
	}
}

// Replication copies the leader's bytes: offsets, epochs and timestamps are
// kept, and CRCs are checked.
func TestAppendAsFollower(t *testing.T) {
	leader := openLog(t, smallConfig(t, t.TempDir()))
	follower := openLog(t, smallConfig(t, t.TempDir()))
	rng := rand.New(rand.NewPCG(7, 8))
	ts := int64(0)
	appendRandom(t, leader, rng, 30, 1, &ts)
	appendRandom(t, leader, rng, 30, 4, &ts)
	for follower.LogEndOffset() < leader.LogEndOffset() {
		res, err := leader.Read(follower.LogEndOffset(), 2000, leader.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		b, err := res.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := follower.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(readAll(t, leader, 0, 1<<40), readAll(t, follower, 0, 1<<40)) {
		t.Fatal("follower log differs from leader log")
	}
	for ep := int32(0); ep < 6; ep++ {
		a1, b1 := leader.EndOffsetForEpoch(ep)
		a2, b2 := follower.EndOffsetForEpoch(ep)
		if a1 != a2 || b1 != b2 {
			t.Fatalf("epoch %d: leader (%d, %d), follower (%d, %d)", ep, a1, b1, a2, b2)
		}
	}
	// A gap (a batch the leader's compaction removed) is kept; an overlap
	// is refused.
	b := batch(1, 1, 0)
	StampBatch(b, follower.LogEndOffset()-1, 4, -1)
	if _, err := follower.AppendAsFollower(b); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("overlap: %v", err)
	}
	gapAt := follower.LogEndOffset() + 3
	StampBatch(b, gapAt, 4, -1)
	if _, err := follower.AppendAsFollower(b); err != nil {
		t.Fatalf("gap: %v", err)
	}
	if leo := follower.LogEndOffset(); leo != gapAt+1 {
		t.Fatalf("log end offset %d after a batch at %d, want %d", leo, gapAt, gapAt+1)
	}
	if res, err := follower.Read(gapAt-2, 1<<20, follower.LogEndOffset()); err != nil || res.Size == 0 {
		t.Fatalf("reading inside the gap: %v, %d bytes; want the batch after it", err, res.Size)
	}
	b = batch(1, 1, 0)
	StampBatch(b, follower.LogEndOffset(), 4, -1)
	b[len(b)-1] ^= 0xff
	if _, err := follower.AppendAsFollower(b); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("bad crc from leader: %v", err)
	}
}

// segment.ms (Kafka's rule): roll when the incoming max timestamp is more
// than SegmentMs past the first batch's max timestamp.
func TestTimeBasedRoll(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentMs = 1000
	l := openLog(t, cfg)
	for _, ts := range []int64{10_000, 10_500, 11_000} {
		mustAppend(t, l, batch(1, 1, ts), 0)
	}
	if len(l.segs) != 1 {
		t.Fatalf("%d segments before segment.ms elapsed", len(l.segs))
	}
	mustAppend(t, l, batch(1, 1, 11_001), 0)
	if len(l.segs) != 2 || l.segs[1].base != 3 {
		t.Fatalf("no roll at segment.ms: %d segments", len(l.segs))
	}
}

// segment.index.bytes: a full index rolls the segment.
func TestIndexFullRoll(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.IndexIntervalBytes = 0
	cfg.SegmentIndexBytes = 3 * offsetIndexEntrySize
	l := openLog(t, cfg)
	for i := 0; i < 10; i++ {
		mustAppend(t, l, batch(1, 1, int64(i)), 0)
	}
	if len(l.segs) < 3 {
		t.Fatalf("%d segments; a 3-entry index should roll every few batches", len(l.segs))
	}
	for _, s := range l.segs {
		if len(s.offIdx) > 3 {
			t.Fatalf("segment %d has %d index entries", s.base, len(s.offIdx))
		}
	}
}

func TestPartitionDirNames(t *testing.T) {
	if got := PartitionDirName("orders.v1", 12); got != "orders.v1-12" {
		t.Fatalf("PartitionDirName = %q", got)
	}
	for name, want := range map[string]struct {
		topic string
		p     int32
		ok    bool
	}{
		"orders-0":              {"orders", 0, true},
		"my-topic-17":           {"my-topic", 17, true},
		"__consumer_offsets-49": {"__consumer_offsets", 49, true},
		"orders":                {"", 0, false},
		"orders-":               {"", 0, false},
		"-1":                    {"", 0, false},
		"orders-01":             {"", 0, false},
		"orders--1":             {"orders-", 1, true},
		"orders-0.abc-delete":   {"", 0, false},
		"orders-99999999999":    {"", 0, false},
		"bad topic-1":           {"", 0, false},
	} {
		topic, p, ok := ParsePartitionDir(name)
		if topic != want.topic || p != want.p || ok != want.ok {
			t.Errorf("ParsePartitionDir(%q) = (%q, %d, %v), want %+v", name, topic, p, ok, want)
		}
	}
}

func TestPartitionMetadata(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.TopicID = [16]byte{0xfb, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	raw, _ := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if string(raw) != "version: 0\ntopic_id: -_8BAgMEBQYHCAkKCwwNDg\n" {
		t.Fatalf("partition.metadata = %q", raw)
	}
	other := cfg
	other.TopicID[0] = 0
	if _, err := Open(other); !errors.Is(err, ErrTopicIDMismatch) || !errors.Is(err, kerr.InconsistentTopicID) {
		t.Fatalf("reopen with another topic ID: %v", err)
	}
	unknown := cfg
	unknown.TopicID = [16]byte{}
	if l := openLog(t, unknown); l.TopicID() != cfg.TopicID {
		t.Fatalf("topic ID not adopted from disk: %x", l.TopicID())
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig("/x").Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no dir":       func(c *Config) { c.Dir = "" },
		"tiny segment": func(c *Config) { c.SegmentBytes = 10 },
		"huge segment": func(c *Config) { c.SegmentBytes = 1 << 32 },
		"negative ms":  func(c *Config) { c.SegmentMs = -1 },
		"neg interval": func(c *Config) { c.IndexIntervalBytes = -1 },
		"tiny index":   func(c *Config) { c.SegmentIndexBytes = 8 },
		"durability 7": func(c *Config) { c.Durability = 7 },
	} {
		c := DefaultConfig("/x")
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

func TestCloseAndDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	l, err := Open(testConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(1, 1, 0), 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Append(batch(1, 1, 0), 0, -1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := l.Read(0, 10, 10); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
}

// Readers run beside appends and rolls and only ever see whole batches.
func TestConcurrentReadersSeeWholeBatches(t *testing.T) {
	l := openLog(t, smallConfig(t, t.TempDir()))
	done := make(chan struct{})
	errs := make(chan error, 2)
	for r := 0; r < 2; r++ {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				leo := l.LogEndOffset()
				res, err := l.Read(0, 1<<20, leo)
				if err == nil {
					var b []byte
					if b, err = res.Bytes(); err == nil && len(b) > 0 {
						_, err = walkBatches(b, true)
					}
				}
				if err != nil {
					errs <- fmt.Errorf("read up to %d: %w", leo, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 300; i++ {
		mustAppend(t, l, batch(1+i%3, i%200, int64(i)), 0)
	}
	close(done)
	for r := 0; r < 2; r++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestErrorsMapToKafkaCodes(t *testing.T) {
	for err, code := range map[error]*kerr.Error{
		ErrCorruptBatch: kerr.CorruptMessage, ErrUnsupportedMagic: kerr.UnsupportedForMessageFormat,
		ErrBatchTooLarge: kerr.MessageTooLarge, ErrOffsetOutOfRange: kerr.OffsetOutOfRange,
		ErrCorrupt: kerr.KafkaStorageError, ErrClosed: kerr.NotLeaderForPartition,
	} {
		var ke *kerr.Error
		if !errors.As(fmt.Errorf("ctx: %w", err), &ke) || ke != code {
			t.Errorf("%v does not map to %v", err, code)
		}
		if strings.Contains(err.Error(), code.Description) {
			t.Errorf("%v repeats the kerr description", err)
		}
	}
}
