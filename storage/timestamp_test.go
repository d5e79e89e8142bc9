package storage

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const t0 = 1_700_000_000_000

// outOfOrderBatch is five records whose timestamps are not in offset order,
// the largest at offset delta 2: t0, t0+1s, t0+3s, t0+2s, t0+0.5s.
func outOfOrderBatch(t testing.TB, c testCodec) []byte {
	return testBatch{firstTs: t0, logAppendTime: -1, codec: c, recs: []kmsg.Record{
		rec(0, 0, nil, []byte("a")),
		rec(1, 1000, nil, []byte("b")),
		rec(2, 3000, nil, []byte("c")),
		rec(3, 2000, nil, []byte("d")),
		rec(4, 500, nil, []byte("e")),
	}}.build(t)
}

type tsProbe struct {
	target      int64
	off, ts     int64
	found       bool
	description string
}

func checkProbes(t *testing.T, l *Log, probes []tsProbe) {
	t.Helper()
	for _, p := range probes {
		off, ts, found, err := l.OffsetForTimestamp(p.target)
		if err != nil || off != p.off || ts != p.ts || found != p.found {
			t.Fatalf("OffsetForTimestamp(t0%+d) (%s) = (%d, t0%+d, %v, %v), want (%d, t0%+d, %v)",
				p.target-t0, p.description, off, ts-t0, found, err, p.off, p.ts-t0, p.found)
		}
	}
}

func checkMax(t *testing.T, l *Log, wantTs, wantOff int64) {
	t.Helper()
	if ts, off := l.MaxTimestamp(); ts != wantTs || off != wantOff {
		t.Fatalf("MaxTimestamp = (t0%+d, %d), want (t0%+d, %d)", ts-t0, off, wantTs-t0, wantOff)
	}
}

// ListOffsets by timestamp answers with the first record, in offset order,
// whose timestamp is >= the target, and MAX_TIMESTAMP (KIP-734) with the
// first record carrying the largest timestamp, as Kafka's
// LogSegment.findOffsetByTimestamp and RecordBatch.offsetOfMaxTimestamp do:
// per record, not per batch, with every codec, before and after reopen.
func TestTimestampLookupsArePerRecord(t *testing.T) {
	for _, c := range testCodecs {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			l := openLog(t, cfg)
			mustAppend(t, l, makeBatch(batchOpts{records: 3, firstTs: t0 - 5000, tsStep: 1}), 0) // offsets 0-2
			info := mustAppend(t, l, outOfOrderBatch(t, c), 0)                                   // offsets 3-7
			wantInfoOff := int64(5)                                                              // exact when uncompressed
			if c.codec != CodecNone {
				wantInfoOff = 3 // the batch base offset: no decompression on the append path
			}
			if info.MaxTimestamp != t0+3000 || info.OffsetOfMaxTimestamp != wantInfoOff {
				t.Fatalf("append info %+v, want max timestamp t0+3000 at offset %d", info, wantInfoOff)
			}
			mustAppend(t, l, testBatch{firstTs: t0 + 100, logAppendTime: -1, codec: c, // offsets 8-9
				recs: []kmsg.Record{rec(0, 0, nil, nil), rec(1, 2400, nil, nil)}}.build(t), 0)
			probes := []tsProbe{
				{t0 - 5000, 0, t0 - 5000, true, "the first record"},
				{t0 - 1, 3, t0, true, "the batch's first record"},
				{t0 + 1, 4, t0 + 1000, true, "the second record"},
				{t0 + 1500, 5, t0 + 3000, true, "the max record, not the batch base"},
				{t0 + 2200, 5, t0 + 3000, true, "first in offset order, not closest in time"},
				{t0 + 3000, 5, t0 + 3000, true, "exactly the max"},
				{t0 + 3001, -1, -1, false, "past every record"},
			}
			checkProbes(t, l, probes)
			checkMax(t, l, t0+3000, 5)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, cfg)
			checkProbes(t, l, probes)
			checkMax(t, l, t0+3000, 5)
		})
	}
}

// KIP-734: when several records carry the largest timestamp, MAX_TIMESTAMP
// answers with the first of them.
func TestMaxTimestampTieGivesFirstRecord(t *testing.T) {
	for _, c := range testCodecs {
		t.Run(c.name, func(t *testing.T) {
			l := openLog(t, testConfig(t, t.TempDir()))
			mustAppend(t, l, testBatch{firstTs: t0, logAppendTime: -1, codec: c, recs: []kmsg.Record{
				rec(0, 0, nil, nil), rec(1, 3000, nil, nil), rec(2, 1000, nil, nil), rec(3, 3000, nil, nil),
			}}.build(t), 0)
			mustAppend(t, l, testBatch{firstTs: t0 + 3000, logAppendTime: -1, codec: c, recs: []kmsg.Record{rec(0, 0, nil, nil)}}.build(t), 0)
			checkMax(t, l, t0+3000, 1)
		})
	}
}

// KIP-32: in a LogAppendTime batch every record carries the append time, so
// both lookups answer with the batch's first record and the append time,
// whatever the producer's create times were.
func TestTimestampLookupsLogAppendTime(t *testing.T) {
	const appendTime = t0 + 60_000
	for _, c := range testCodecs {
		t.Run(c.name, func(t *testing.T) {
			l := openLog(t, testConfig(t, t.TempDir()))
			mustAppend(t, l, makeBatch(batchOpts{records: 2, firstTs: t0 - 5000}), 0) // offsets 0-1
			info, err := l.Append(outOfOrderBatch(t, c), 0, appendTime)               // offsets 2-6
			if err != nil {
				t.Fatal(err)
			}
			if info.MaxTimestamp != appendTime || info.OffsetOfMaxTimestamp != 2 {
				t.Fatalf("append info %+v", info)
			}
			checkProbes(t, l, []tsProbe{
				{t0 + 1500, 2, appendTime, true, "a create time inside the batch"},
				{appendTime, 2, appendTime, true, "the append time"},
				{appendTime + 1, -1, -1, false, "past the append time"},
			})
			checkMax(t, l, appendTime, 2)
		})
	}
}

// A follower copies the leader's stamped batches; the lookups on its log
// give the same per-record answers.
func TestTimestampLookupsOnFollower(t *testing.T) {
	c := testCodecs[len(testCodecs)-1]
	b := outOfOrderBatch(t, c)
	StampBatch(b, 0, 3, -1)
	l := openLog(t, testConfig(t, t.TempDir()))
	if _, err := l.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	checkProbes(t, l, []tsProbe{{t0 + 1500, 2, t0 + 3000, true, "the max record"}})
	checkMax(t, l, t0+3000, 2)
}

// Kafka skips records below the log start offset: after DeleteRecords
// inside a batch, the lookup answers with the first qualifying record at or
// after the new start.
func TestOffsetForTimestampSkipsRecordsBelowLogStart(t *testing.T) {
	for _, c := range testCodecs {
		t.Run(c.name, func(t *testing.T) {
			l := openLog(t, testConfig(t, t.TempDir()))
			mustAppend(t, l, outOfOrderBatch(t, c), 0) // offsets 0-4
			if _, err := l.DeleteRecordsBefore(3); err != nil {
				t.Fatal(err)
			}
			checkProbes(t, l, []tsProbe{
				{t0 + 1500, 3, t0 + 2000, true, "the max record is below the start"},
				{t0, 3, t0 + 2000, true, "the first record at the start"},
				{t0 + 2001, -1, -1, false, "only records below the start qualify"},
			})
		})
	}
}

// A batch whose records cannot be decoded (framing and CRC valid, records
// garbage) still gets an answer, at batch granularity, rather than failing
// ListOffsets for the whole partition.
func TestTimestampLookupsFallBackOnUndecodableBatch(t *testing.T) {
	b := outOfOrderBatch(t, testCodecs[1]) // gzip
	copy(b[BatchHeaderSize:], bytes.Repeat([]byte{0xa5}, 8))
	be.PutUint32(b[offCRC:], batchCRC(b))
	l := openLog(t, testConfig(t, t.TempDir()))
	if _, err := ValidateBatches(b, 0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, b, 0)
	checkProbes(t, l, []tsProbe{{t0 + 1500, 0, t0 + 3000, true, "the batch base and max timestamp"}})
	checkMax(t, l, t0+3000, 0)
}
