package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Tests of log compaction (cleaner.go) against Kafka's documented rules
// (Kafka documentation, "Log Compaction"; KIP-58 min.compaction.lag.ms,
// KIP-354 max.compaction.lag.ms, KIP-534 tombstone delete horizons).

// kv is one record of a test batch: value nil is a tombstone, noKey a
// record without a key.
type kv struct {
	key   string
	value []byte
	noKey bool
}

func put(k, v string) kv    { return kv{key: k, value: []byte(v)} }
func tombstone(k string) kv { return kv{key: k} }

// keyedSpec describes a test batch: its records, the timestamp of the
// first record (each next one 1ms later), a codec and an idempotent
// producer id (-1: none).
type keyedSpec struct {
	recs  []kv
	ts    int64
	codec int8
	pid   int64
}

// keyedBatch encodes the spec with kmsg and the compression libraries
// directly, independently of the code under test (protocol guide, "Record
// Batch" and "Record").
func keyedBatch(t testing.TB, s keyedSpec) []byte {
	t.Helper()
	var raw []byte
	for i, r := range s.recs {
		rec := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Value: r.value}
		if !r.noKey {
			rec.Key = []byte(r.key)
		}
		if i%2 == 1 {
			rec.Headers = []kmsg.Header{{Key: "h", Value: []byte(r.key)}}
		}
		body := rec.AppendTo(nil)
		rec.Length = int32(len(body) - 1)
		raw = rec.AppendTo(raw)
	}
	data := testCompress(t, s.codec, raw)
	pid, pepoch, seq := int64(-1), int16(-1), int32(-1)
	if s.pid >= 0 {
		pid, pepoch, seq = s.pid, 0, 0
	}
	b := kmsg.RecordBatch{
		Magic: 2, Attributes: int16(s.codec), LastOffsetDelta: int32(len(s.recs) - 1),
		FirstTimestamp: s.ts, MaxTimestamp: s.ts + int64(len(s.recs)-1),
		ProducerID: pid, ProducerEpoch: pepoch, FirstSequence: seq,
		NumRecords: int32(len(s.recs)), Records: data,
		Length: int32(BatchHeaderSize - logOverhead + len(data)),
	}
	out := b.AppendTo(nil)
	be.PutUint32(out[offCRC:], batchCRC(out))
	return out
}

func testCompress(t testing.TB, codec int8, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case CodecNone:
		return raw
	case CodecGzip:
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(raw)
		_ = w.Close()
	case CodecSnappy:
		return snappy.Encode(nil, raw)
	case CodecLZ4:
		w := lz4.NewWriter(&buf)
		_, _ = w.Write(raw)
		_ = w.Close()
	case CodecZstd:
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(raw)
		_ = w.Close()
	}
	return buf.Bytes()
}

// segMs is the segment.ms of compaction test logs; the batches of test
// segment k carry timestamps segTs(k)+j, so each group of batches fills one
// segment and the next group rolls.
const segMs = 5000

func segTs(k int) int64 { return 1_000_000 + int64(k)*10_000 }

// compactLog opens a log in dir and appends groups: group k is segment k;
// the last group stays in the active segment. It returns the log.
func compactLog(t testing.TB, dir string, groups [][]keyedSpec) *Log {
	t.Helper()
	cfg := testConfig(t, dir)
	cfg.SegmentMs = segMs
	cfg.IndexIntervalBytes = 64
	l := openLog(t, cfg)
	for k, g := range groups {
		for j, s := range g {
			s.ts = segTs(k) + int64(j)*int64(len(s.recs))
			mustAppend(t, l, keyedBatch(t, s), 0)
		}
	}
	if l.NumSegments() != len(groups) {
		t.Fatalf("%d segments for %d groups", l.NumSegments(), len(groups))
	}
	return l
}

// spec is shorthand for an uncompressed, non-idempotent batch.
func spec(recs ...kv) keyedSpec { return keyedSpec{recs: recs, pid: -1} }

// gotRecord is a record read back, with its batch's header.
type gotRecord struct {
	offset int64
	key    string
	value  string
	null   bool
	ts     int64
	batch  BatchHeader
}

func (r gotRecord) String() string {
	if r.null {
		return fmt.Sprintf("%d:%s=<nil>", r.offset, r.key)
	}
	return fmt.Sprintf("%d:%s=%s", r.offset, r.key, r.value)
}

// readRecords reads every record from the log start to the log end.
func readRecords(t testing.TB, l *Log) []gotRecord {
	t.Helper()
	data := readAll(t, l, l.LogStartOffset(), math.MaxInt64)
	var out []gotRecord
	for pos := 0; pos < len(data); {
		h, err := ParseBatchHeader(data[pos:])
		if err != nil {
			t.Fatal(err)
		}
		recs, err := DecodeRecords(data[pos : pos+int(h.Size())])
		if err != nil {
			t.Fatalf("decoding the batch at offset %d: %v", h.BaseOffset, err)
		}
		for _, r := range recs {
			out = append(out, gotRecord{offset: r.Offset, key: string(r.Key), value: string(r.Value), null: r.Value == nil, ts: r.Timestamp, batch: h})
		}
		pos += int(h.Size())
	}
	return out
}

func recordStrings(rs []gotRecord) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, " ")
}

func wantRecords(t testing.TB, l *Log, want string) {
	t.Helper()
	if got := recordStrings(readRecords(t, l)); got != want {
		t.Fatalf("records\n got  %s\n want %s", got, want)
	}
}

func compactNow(t testing.TB, l *Log, now int64, cfg CompactionConfig) CompactionResult {
	t.Helper()
	res, err := l.Compact(time.UnixMilli(now), cfg, l.LogEndOffset())
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	return res
}

// anyRatio compacts whenever anything is dirty.
func anyRatio() CompactionConfig {
	c := DefaultCompactionConfig()
	c.MinCleanableDirtyRatio = 0
	return c
}

// The cleaner keeps the latest record of every key in the sealed segments,
// at its original offset, with its timestamp and headers; batches keep
// their offset range; the active segment is not touched; the log end and
// start do not move; the result survives a reopen.
func TestCompactKeepsLatestRecordPerKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c-0")
	l := compactLog(t, dir, [][]keyedSpec{
		{spec(put("a", "1"), put("b", "1")), spec(put("c", "1"))}, // 0-2
		{spec(put("a", "2"), put("d", "1"), put("b", "2"))},       // 3-5
		{spec(put("c", "2")), spec(put("a", "3"))},                // 6-7
		{spec(put("a", "4"), put("d", "2"))},                      // 8-9, active
	})
	before := readRecords(t, l)
	leo := l.LogEndOffset()
	res := compactNow(t, l, segTs(9), anyRatio())
	if !res.Cleaned || res.CleanedUpTo != 8 || res.FirstDirtyOffset != 0 || res.RecordsRemoved != 4 || res.Keys != 4 {
		t.Fatalf("result %+v", res)
	}
	wantRecords(t, l, "4:d=1 5:b=2 6:c=2 7:a=3 8:a=4 9:d=2")
	if l.LogEndOffset() != leo || l.LogStartOffset() != 0 {
		t.Fatalf("log end %d start %d, want %d, 0", l.LogEndOffset(), l.LogStartOffset(), leo)
	}
	// Offsets and timestamps are the originals; the batch ranges too.
	orig := map[int64]gotRecord{}
	for _, r := range before {
		orig[r.offset] = r
	}
	for _, r := range readRecords(t, l) {
		o := orig[r.offset]
		if o.key != r.key || o.value != r.value || o.ts != r.ts {
			t.Fatalf("record at %d is %v ts %d, was %v ts %d", r.offset, r, r.ts, o, o.ts)
		}
		if r.batch.BaseOffset != o.batch.BaseOffset || r.batch.LastOffset() != o.batch.LastOffset() {
			t.Fatalf("batch of offset %d spans %d-%d, was %d-%d", r.offset, r.batch.BaseOffset, r.batch.LastOffset(), o.batch.BaseOffset, o.batch.LastOffset())
		}
	}
	if got := checkpointFile(t, dir, cleanerCheckpointFile); got != "0\n8\n" {
		t.Fatalf("cleaner checkpoint %q", got)
	}
	// Segment 0 kept its base even though c=1 is its only record left.
	if got := segmentBases(t, dir); !slices.Equal(got, []int64{0, 3, 6, 8}) {
		t.Fatalf("segments %v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, l.cfg)
	wantRecords(t, l2, "4:d=1 5:b=2 6:c=2 7:a=3 8:a=4 9:d=2")
	if l2.cleanedTo != 8 {
		t.Fatalf("cleaner checkpoint after reopen %d", l2.cleanedTo)
	}
	// Nothing dirty: no pass.
	if res := compactNow(t, l2, segTs(9), anyRatio()); res.Cleaned {
		t.Fatalf("second pass ran: %+v", res)
	}
}

func checkpointFile(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A record is superseded only by a later record in the cleanable part: the
// active segment and the segments at or above the caller's bound (the high
// watermark) are neither cleaned nor used to supersede, as in Kafka.
func TestCompactStopsAtActiveSegmentAndBound(t *testing.T) {
	l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), [][]keyedSpec{
		{spec(put("a", "1"), put("b", "1"))}, // 0-1
		{spec(put("a", "2"))},                // 2
		{spec(put("b", "2"), put("a", "3"))}, // 3-4
		{spec(put("b", "3"))},                // 5, active
	})
	res, err := l.Compact(time.UnixMilli(segTs(9)), anyRatio(), 3) // segment 3-4 is not below 3
	if err != nil {
		t.Fatal(err)
	}
	if !res.Cleaned || res.CleanedUpTo != 3 {
		t.Fatalf("result %+v", res)
	}
	wantRecords(t, l, "1:b=1 2:a=2 3:b=2 4:a=3 5:b=3")
	res = compactNow(t, l, segTs(9), anyRatio())
	if !res.Cleaned || res.CleanedUpTo != 5 || res.FirstDirtyOffset != 3 {
		t.Fatalf("result %+v", res)
	}
	wantRecords(t, l, "3:b=2 4:a=3 5:b=3")
}

// min.cleanable.dirty.ratio: a pass runs only when the dirty bytes are more
// than the ratio of the cleanable bytes.
func TestCompactDirtyRatio(t *testing.T) {
	l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), [][]keyedSpec{
		{spec(put("a", "1"), put("b", "1"))},
		{spec(put("a", "2"), put("b", "2"))},
		{spec(put("c", "1"))},
	})
	cfg := DefaultCompactionConfig()
	if res := compactNow(t, l, segTs(9), cfg); !res.Cleaned || res.DirtyRatio != 1 {
		t.Fatalf("first pass: %+v", res)
	}
	// Now segment 0 is empty-ish clean, segment 1 clean; a new dirty
	// segment of the same size as the clean bytes gives a ratio of 0.5,
	// which is not above 0.5.
	mustAppend(t, l, keyedBatch(t, keyedSpec{recs: []kv{put("b", "3")}, ts: segTs(3), pid: -1}), 0)
	clean := l.Size() - l.segs[len(l.segs)-1].size.Load() - l.segs[len(l.segs)-2].size.Load()
	dirty := l.segs[len(l.segs)-2].size.Load()
	res := compactNow(t, l, segTs(9), cfg)
	wantRatio := float64(dirty) / float64(clean+dirty)
	if res.DirtyRatio != wantRatio {
		t.Fatalf("dirty ratio %v, want %v", res.DirtyRatio, wantRatio)
	}
	cfg.MinCleanableDirtyRatio = wantRatio
	if res := compactNow(t, l, segTs(9), cfg); res.Cleaned {
		t.Fatalf("ratio %v is not above %v, yet a pass ran", res.DirtyRatio, cfg.MinCleanableDirtyRatio)
	}
	cfg.MinCleanableDirtyRatio = wantRatio - 0.01
	if res := compactNow(t, l, segTs(9), cfg); !res.Cleaned {
		t.Fatalf("ratio %v is above %v, yet no pass ran", res.DirtyRatio, cfg.MinCleanableDirtyRatio)
	}
}

// min.compaction.lag.ms (KIP-58): a segment holding a record newer than
// now minus the lag is not cleaned, nor anything after it.
func TestCompactMinCompactionLag(t *testing.T) {
	l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), [][]keyedSpec{
		{spec(put("a", "1"))},
		{spec(put("a", "2"))},
		{spec(put("a", "3"))},
		{spec(put("a", "4"))},
	})
	cfg := anyRatio()
	cfg.MinCompactionLagMs = 5000
	// Now is 5000ms past segment 1's records: segment 1 qualifies (its
	// newest record is exactly lag old), segment 2 does not.
	res := compactNow(t, l, segTs(1)+5000, cfg)
	if !res.Cleaned || res.CleanedUpTo != 2 {
		t.Fatalf("result %+v", res)
	}
	wantRecords(t, l, "1:a=2 2:a=3 3:a=4")
	if res := compactNow(t, l, segTs(2)+4999, cfg); res.Cleaned {
		t.Fatalf("segment 2 is younger than the lag: %+v", res)
	}
	res = compactNow(t, l, segTs(2)+5000, cfg)
	if !res.Cleaned || res.CleanedUpTo != 3 {
		t.Fatalf("result %+v", res)
	}
	wantRecords(t, l, "2:a=3 3:a=4")
}

// max.compaction.lag.ms (KIP-354): a dirty segment whose first batch is
// older than now minus the lag is cleaned whatever the dirty ratio.
func TestCompactMaxCompactionLag(t *testing.T) {
	l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), [][]keyedSpec{
		{spec(put("a", "1"))},
		{spec(put("a", "2"))},
		{spec(put("a", "3"))},
	})
	cfg := DefaultCompactionConfig()
	cfg.MinCleanableDirtyRatio = 1 // the ratio can never exceed it
	if res := compactNow(t, l, segTs(9), cfg); res.Cleaned {
		t.Fatalf("pass without a max lag: %+v", res)
	}
	cfg.MaxCompactionLagMs = segTs(9) - segTs(0) // not yet exceeded
	if res := compactNow(t, l, segTs(9), cfg); res.Cleaned || res.Forced {
		t.Fatalf("pass at exactly the max lag: %+v", res)
	}
	cfg.MaxCompactionLagMs--
	res := compactNow(t, l, segTs(9), cfg)
	if !res.Cleaned || !res.Forced {
		t.Fatalf("max lag passed but no forced pass: %+v", res)
	}
	wantRecords(t, l, "1:a=2 2:a=3")
}

// Tombstones (KIP-534): the first pass that keeps a tombstone stamps its
// batch with a delete horizon of now + delete.retention.ms (attribute bit 6,
// FirstTimestamp) and keeps record timestamps intact; a pass after the
// horizon drops it. The values it deleted are gone from the first pass.
func TestCompactTombstoneDeleteHorizon(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c-0")
	l := compactLog(t, dir, [][]keyedSpec{
		{spec(put("a", "1"), put("b", "1"))},
		{spec(tombstone("a"), put("c", "1"))},
		{spec(put("c", "2"))},
		{spec(put("z", "1"))},
	})
	cfg := anyRatio()
	cfg.DeleteRetentionMs = 1000
	now := segTs(5)
	compactNow(t, l, now, cfg)
	recs := readRecords(t, l)
	wantRecords(t, l, "1:b=1 2:a=<nil> 4:c=2 5:z=1")
	tomb := recs[1]
	if !tomb.batch.HasDeleteHorizon() || tomb.batch.FirstTimestamp != now+1000 {
		t.Fatalf("tombstone batch: horizon %v first timestamp %d, want %d", tomb.batch.HasDeleteHorizon(), tomb.batch.FirstTimestamp, now+1000)
	}
	if tomb.ts != segTs(1) {
		t.Fatalf("tombstone timestamp %d, want %d", tomb.ts, segTs(1))
	}
	// Before the horizon the tombstone stays, whatever else is cleaned.
	cfg.MaxCompactionLagMs = 1 // force passes
	mustAppend(t, l, keyedBatch(t, keyedSpec{recs: []kv{put("y", "1")}, ts: segTs(6), pid: -1}), 0)
	if res := compactNow(t, l, now+999, cfg); !res.Cleaned || res.TombstonesRemoved != 0 {
		t.Fatalf("pass before the horizon: %+v", res)
	}
	wantRecords(t, l, "1:b=1 2:a=<nil> 4:c=2 5:z=1 6:y=1")
	mustAppend(t, l, keyedBatch(t, keyedSpec{recs: []kv{put("x", "1")}, ts: segTs(7), pid: -1}), 0)
	res := compactNow(t, l, now+1000, cfg)
	if !res.Cleaned || res.TombstonesRemoved != 1 {
		t.Fatalf("pass at the horizon: %+v", res)
	}
	wantRecords(t, l, "1:b=1 4:c=2 5:z=1 6:y=1 7:x=1")
}

// Re-encoded batches keep the producer's codec (re-compressed), decode to
// the kept records with their headers, and carry valid CRCs.
func TestCompactRecompressesWithTheOriginalCodec(t *testing.T) {
	for _, codec := range []int8{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(codecName(codec), func(t *testing.T) {
			l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), [][]keyedSpec{
				{{recs: []kv{put("a", "1"), put("b", strings.Repeat("x", 3000)), put("c", "1"), put("d", "1")}, codec: codec, pid: -1}},
				{{recs: []kv{put("a", "2"), put("c", "2")}, codec: codec, pid: -1}},
				{spec(put("z", "1"))},
			})
			compactNow(t, l, segTs(9), anyRatio())
			recs := readRecords(t, l)
			wantRecords(t, l, "1:b="+strings.Repeat("x", 3000)+" 3:d=1 4:a=2 5:c=2 6:z=1")
			h := recs[0].batch
			if h.Compression() != codec || h.NumRecords != 2 || h.BaseOffset != 0 || h.LastOffset() != 3 {
				t.Fatalf("cleaned batch: codec %d, %d records, offsets %d-%d", h.Compression(), h.NumRecords, h.BaseOffset, h.LastOffset())
			}
			data := readAll(t, l, 0, math.MaxInt64)
			b := data[:h.Size()]
			if err := checkCRC(h, b); err != nil {
				t.Fatal(err)
			}
			full, err := DecodeRecords(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(full[0].Headers) != 1 || string(full[0].Headers[0].Value) != "b" || len(full[1].Headers) != 1 {
				t.Fatalf("headers lost: %+v", full)
			}
		})
	}
}

// An idempotent producer's last batch is kept empty when all its records
// go, so its sequence state survives a restart (Kafka keeps it too); an
// earlier batch of the same producer is dropped.
func TestCompactKeepsLastBatchOfProducer(t *testing.T) {
	l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), [][]keyedSpec{
		{{recs: []kv{put("a", "1")}, pid: 7}, {recs: []kv{put("b", "1")}, pid: 7}, spec(put("c", "1"))},
		{spec(put("a", "2"), put("b", "2"), put("c", "2"))},
		{spec(put("z", "1"))},
	})
	compactNow(t, l, segTs(9), anyRatio())
	var hs []BatchHeader
	if err := l.ScanBatchHeaders(0, func(h BatchHeader) error { hs = append(hs, h); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(hs) != 3 || hs[0].BaseOffset != 1 || hs[0].NumRecords != 0 || hs[0].ProducerID != 7 || hs[0].LastOffsetDelta != 0 {
		t.Fatalf("headers %+v", hs)
	}
	wantRecords(t, l, "3:a=2 4:b=2 5:c=2 6:z=1")
	// Once the producer wrote again in the compacted part, its empty
	// batch goes.
	mustAppend(t, l, keyedBatch(t, keyedSpec{recs: []kv{put("q", "1")}, ts: segTs(3), pid: 7}), 0)
	mustAppend(t, l, keyedBatch(t, keyedSpec{recs: []kv{put("r", "1")}, ts: segTs(4), pid: -1}), 0)
	compactNow(t, l, segTs(9), anyRatio())
	hs = hs[:0]
	if err := l.ScanBatchHeaders(0, func(h BatchHeader) error { hs = append(hs, h); return nil }); err != nil {
		t.Fatal(err)
	}
	if hs[0].BaseOffset != 3 {
		t.Fatalf("first batch at %d, want 3: the empty batch of producer 7 is still there", hs[0].BaseOffset)
	}
}

// Records without a key (written before the topic became compacted) are
// dropped by the cleaner, as Kafka's does.
func TestCompactDropsKeylessRecords(t *testing.T) {
	l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), [][]keyedSpec{
		{spec(kv{value: []byte("v"), noKey: true}, put("a", "1"))},
		{spec(put("z", "1"))},
	})
	res := compactNow(t, l, segTs(9), anyRatio())
	if res.KeylessRemoved != 1 || res.RecordsRemoved != 1 {
		t.Fatalf("result %+v", res)
	}
	wantRecords(t, l, "1:a=1 2:z=1")
}

// A sealed segment left empty is deleted, except the first one, which
// keeps the log start where it is; reads skip the gaps.
func TestCompactRemovesEmptiedSegments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c-0")
	l := compactLog(t, dir, [][]keyedSpec{
		{spec(put("a", "1"))},
		{spec(put("b", "1"))},
		{spec(put("c", "1"))},
		{spec(put("a", "2"), put("b", "2"))},
		{spec(put("z", "1"))},
	})
	res := compactNow(t, l, segTs(9), anyRatio())
	if res.SegmentsRemoved != 1 || res.SegmentsRewritten != 1 {
		t.Fatalf("result %+v", res)
	}
	if got := segmentBases(t, dir); !slices.Equal(got, []int64{0, 2, 3, 5}) {
		t.Fatalf("segments %v", got)
	}
	wantRecords(t, l, "2:c=1 3:a=2 4:b=2 5:z=1")
	for _, off := range []int64{0, 1} {
		res, err := l.Read(off, 1<<20, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := res.Bytes()
		if h, _ := ParseBatchHeader(b); h.BaseOffset != 2 {
			t.Fatalf("Read(%d) starts at batch %d, want the next batch, 2", off, h.BaseOffset)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantRecords(t, openLog(t, l.cfg), "2:c=1 3:a=2 4:b=2 5:z=1")
}

// With a key map budget too small for the dirty section, a pass maps whole
// segments up to the budget (at least one) and the checkpoint advances
// only that far; later passes finish the job with the same result.
func TestCompactOffsetMapBudget(t *testing.T) {
	groups := [][]keyedSpec{
		{spec(put("a", "1"), put("b", "1"))},
		{spec(put("a", "2"), put("c", "1"))},
		{spec(put("b", "2"), put("c", "2"))},
		{spec(put("z", "1"))},
	}
	l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), groups)
	cfg := anyRatio()
	cfg.OffsetMapBytes = 1 // one segment per pass
	var ends []int64
	for range 4 {
		if res := compactNow(t, l, segTs(9), cfg); res.Cleaned {
			ends = append(ends, res.CleanedUpTo)
		}
	}
	if !slices.Equal(ends, []int64{2, 4, 6}) {
		t.Fatalf("checkpoints %v", ends)
	}
	ref := compactLog(t, filepath.Join(t.TempDir(), "c-0"), groups)
	compactNow(t, ref, segTs(9), anyRatio())
	if got, want := recordStrings(readRecords(t, l)), recordStrings(readRecords(t, ref)); got != want {
		t.Fatalf("budgeted passes: %s\none pass: %s", got, want)
	}
}

// A ReadResult taken before a swap fails with ErrTruncated instead of
// reading the replaced file; a Read after the swap sees the new segment.
func TestReadAcrossCompactionSwap(t *testing.T) {
	l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), [][]keyedSpec{
		{spec(put("a", "1"), put("b", "1"))},
		{spec(put("a", "2"))},
		{spec(put("z", "1"))},
	})
	before, err := l.Read(0, 1<<20, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	active, err := l.Read(3, 1<<20, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	compactNow(t, l, segTs(9), anyRatio())
	if _, err := before.Bytes(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Bytes of a replaced segment: %v, want ErrTruncated", err)
	}
	if b, err := active.Bytes(); err != nil || len(b) == 0 {
		t.Fatalf("Bytes of the active segment: %d bytes, %v", len(b), err)
	}
	wantRecords(t, l, "1:b=1 2:a=2 3:z=1")
}

// Appends and reads run beside a compaction pass (run with -race): the
// pass holds no lock they need except for the swap, readers never see
// anything but whole valid batches, and the appends all land.
func TestCompactBesideAppendsAndReads(t *testing.T) {
	var groups [][]keyedSpec
	for k := range 20 {
		var g []keyedSpec
		for j := range 5 {
			g = append(g, spec(put(fmt.Sprint("k", (k*5+j)%17), fmt.Sprint(k, "-", j))))
		}
		groups = append(groups, g)
	}
	l := compactLog(t, filepath.Join(t.TempDir(), "c-0"), groups)
	leo := l.LogEndOffset()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mustAppend(t, l, keyedBatch(t, keyedSpec{recs: []kv{put("new", fmt.Sprint(i))}, ts: segTs(19), pid: -1}), 0)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := l.Read(0, 1<<20, math.MaxInt64)
			if err != nil {
				t.Error(err)
				return
			}
			b, err := res.Bytes()
			if errors.Is(err, ErrTruncated) {
				continue
			}
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := walkBatches(b, true); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	res := compactNow(t, l, segTs(99), anyRatio())
	close(stop)
	wg.Wait()
	if !res.Cleaned {
		t.Fatalf("result %+v", res)
	}
	latest := map[string]int64{}
	for _, r := range readRecords(t, l) {
		if r.offset < leo {
			if _, dup := latest[r.key]; dup && r.offset < res.CleanedUpTo {
				t.Fatalf("key %s appears twice below the cleaned offset", r.key)
			}
			latest[r.key] = r.offset
		}
	}
	if len(latest) != 17 {
		t.Fatalf("%d keys survived, want 17", len(latest))
	}
}

// TruncateTo lowers a cleaner checkpoint above the cut before it cuts, so
// re-appended offsets are never taken for clean.
func TestTruncateLowersCleanerCheckpoint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c-0")
	l := compactLog(t, dir, [][]keyedSpec{
		{spec(put("a", "1"))},
		{spec(put("a", "2"))},
		{spec(put("a", "3"))},
		{spec(put("z", "1"))},
	})
	compactNow(t, l, segTs(9), anyRatio())
	if l.cleanedTo != 3 {
		t.Fatalf("checkpoint %d", l.cleanedTo)
	}
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if l.cleanedTo != 2 || checkpointFile(t, dir, cleanerCheckpointFile) != "0\n2\n" {
		t.Fatalf("checkpoint %d after truncating to 2", l.cleanedTo)
	}
}

// TruncateFullyAndStartAt empties the log and restarts it at an offset past
// or before its end: start = end = the offset, epoch cache and cleaner
// checkpoint cleared, appends continue there, and all of it survives a
// reopen (Kafka's truncateFullyAndStartAt).
func TestTruncateFullyAndStartAt(t *testing.T) {
	for _, offset := range []int64{50, 3, 0} {
		t.Run(fmt.Sprint(offset), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "c-0")
			l := compactLog(t, dir, [][]keyedSpec{
				{spec(put("a", "1"), put("b", "1"))},
				{spec(put("a", "2"))},
				{spec(put("z", "1"))},
			})
			compactNow(t, l, segTs(9), anyRatio())
			if err := l.AssignLeaderEpoch(4); err != nil {
				t.Fatal(err)
			}
			stale, err := l.Read(0, 1<<20, math.MaxInt64)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.TruncateFullyAndStartAt(offset); err != nil {
				t.Fatal(err)
			}
			if _, err := stale.Bytes(); !errors.Is(err, ErrTruncated) {
				t.Fatalf("stale read: %v", err)
			}
			check := func(l *Log, end int64) {
				t.Helper()
				if l.LogStartOffset() != offset || l.LogEndOffset() != end || l.DurableOffset() != end {
					t.Fatalf("start %d end %d durable %d, want %d, %d, %d", l.LogStartOffset(), l.LogEndOffset(), l.DurableOffset(), offset, end, end)
				}
				if got := segmentBases(t, dir); !slices.Equal(got, []int64{offset}) {
					t.Fatalf("segments %v", got)
				}
			}
			check(l, offset)
			if l.LatestEpoch() != -1 || l.cleanedTo != -1 {
				t.Fatalf("epoch %d cleaner checkpoint %d", l.LatestEpoch(), l.cleanedTo)
			}
			if _, err := os.Stat(filepath.Join(dir, cleanerCheckpointFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("cleaner checkpoint left: %v", err)
			}
			mustAppend(t, l, keyedBatch(t, keyedSpec{recs: []kv{put("n", "1")}, ts: segTs(9), pid: -1}), 2)
			wantRecords(t, l, fmt.Sprintf("%d:n=1", offset))
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := openLog(t, l.cfg)
			check(l2, offset+1)
			wantRecords(t, l2, fmt.Sprintf("%d:n=1", offset))
			if e, end := l2.EndOffsetForEpoch(2); e != 2 || end != offset+1 {
				t.Fatalf("epoch 2 ends at %d (%d)", end, e)
			}
		})
	}
}

// A crash after the log start checkpoint and the new segment were written
// but before the old segments are gone reopens as the new empty log.
func TestTruncateFullyCrashReopensEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c-0")
	l := compactLog(t, dir, [][]keyedSpec{{spec(put("a", "1"))}, {spec(put("z", "1"))}})
	img := filepath.Join(t.TempDir(), "c-0")
	copyDir(t, dir, img)
	if err := os.WriteFile(filepath.Join(img, logStartCheckpointFile), encodeLogStartCheckpoint(40), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segFile(img, 40, logSuffix), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, testConfig(t, img))
	if l2.LogStartOffset() != 40 || l2.LogEndOffset() != 40 || !slices.Equal(segmentBases(t, img), []int64{40}) {
		t.Fatalf("start %d end %d segments %v", l2.LogStartOffset(), l2.LogEndOffset(), segmentBases(t, img))
	}
	_ = l
}

// CheckRecordKeys refuses a keyless record in any batch, compressed or not,
// with ErrNoKey (INVALID_RECORD), and passes keyed ones.
func TestCheckRecordKeys(t *testing.T) {
	good := append(keyedBatch(t, keyedSpec{recs: []kv{put("a", "1"), tombstone("b")}, pid: -1}),
		keyedBatch(t, keyedSpec{recs: []kv{put("c", "1")}, codec: CodecLZ4, pid: -1})...)
	if err := CheckRecordKeys(good); err != nil {
		t.Fatal(err)
	}
	bad := append(good, keyedBatch(t, keyedSpec{recs: []kv{put("c", "1"), {value: []byte("x"), noKey: true}}, codec: CodecZstd, pid: -1})...)
	if err := CheckRecordKeys(bad); !errors.Is(err, ErrNoKey) {
		t.Fatalf("keyless record: %v", err)
	}
	if err := CheckRecordKeys(good[:len(good)-3]); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("short batch: %v", err)
	}
}

// compress and DecodeRecords round-trip every codec, including snappy's
// xerial framing across several blocks.
func TestCompressRoundTrip(t *testing.T) {
	raw := bytes.Repeat([]byte("samsa compaction "), 5000)
	for _, codec := range []int8{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		c, err := compress(codec, raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decompress(codec, c)
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("%s: %d bytes back, %v", codecName(codec), len(got), err)
		}
	}
	if x := xerialSnappy(raw); !bytes.HasPrefix(x, xerialMagic) || binary.BigEndian.Uint32(x[8:]) != 1 {
		t.Fatal("not xerial framed")
	}
}

// Whatever batch a client or a disk hands it, CheckRecordKeys never panics
// and answers nil, ErrNoKey or a corrupt-batch class; and compaction's
// re-encoding of any decodable batch is a valid batch with the same offset
// range and producer fields, holding a subset of the records, unchanged.
func FuzzCompactBatch(f *testing.F) {
	f.Add(keyedBatch(f, keyedSpec{recs: []kv{put("a", "1"), tombstone("b"), put("a", "2")}, pid: -1}), int64(0))
	f.Add(keyedBatch(f, keyedSpec{recs: []kv{put("a", "1"), {value: []byte("x"), noKey: true}}, codec: CodecLZ4, pid: 4}), int64(1<<40))
	f.Add(keyedBatch(f, keyedSpec{recs: []kv{tombstone("t")}, codec: CodecZstd, ts: 5, pid: -1}), int64(10))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, b []byte, now int64) {
		if err := CheckRecordKeys(b); err != nil && !errors.Is(err, ErrNoKey) && !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrUnsupportedMagic) {
			t.Fatalf("CheckRecordKeys: unexpected error class: %v", err)
		}
		h, err := validateStored(b)
		if err != nil || h.Size() != int64(len(b)) {
			return
		}
		recs, err := DecodeRecords(b)
		if err != nil {
			return
		}
		in := map[int64]Record{}
		keys := newOffsetMap()
		for i, r := range recs {
			in[r.Offset] = r
			if i%2 == 0 && r.Key != nil {
				keys.put(r.Key, r.Offset+1) // supersede every other record
			}
		}
		v, err := filterBatch(b, h, &retainRules{keys: keys, nowMs: now, deleteRetentionMs: 10}, true)
		if err != nil || v.out == nil {
			t.Fatalf("filterBatch: %v (out %d bytes)", err, len(v.out))
		}
		oh, err := validateStored(v.out)
		if err != nil || oh.Size() != int64(len(v.out)) {
			t.Fatalf("cleaned batch invalid: %v", err)
		}
		if oh.BaseOffset != h.BaseOffset || oh.LastOffsetDelta != h.LastOffsetDelta || oh.ProducerID != h.ProducerID ||
			oh.BaseSequence != h.BaseSequence || oh.PartitionLeaderEpoch != h.PartitionLeaderEpoch {
			t.Fatalf("cleaned header %+v, original %+v", oh, h)
		}
		out, err := DecodeRecords(v.out)
		if err != nil {
			t.Fatalf("cleaned batch does not decode: %v", err)
		}
		if len(out)+v.removed != len(recs) {
			t.Fatalf("%d records kept + %d removed != %d", len(out), v.removed, len(recs))
		}
		for _, r := range out {
			o, ok := in[r.Offset]
			if !ok || !bytes.Equal(o.Key, r.Key) || !bytes.Equal(o.Value, r.Value) || (o.Value == nil) != (r.Value == nil) ||
				(h.TimestampType() == TimestampCreateTime && o.Timestamp != r.Timestamp) || len(o.Headers) != len(r.Headers) {
				t.Fatalf("record at %d changed: %+v -> %+v", r.Offset, o, r)
			}
		}
	})
}
