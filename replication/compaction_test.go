package replication

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/storage"
)

// keyedBatch encodes an uncompressed batch of records key=value ("key="
// alone is a tombstone, "=value" a record without a key), all at ts.
func keyedBatch(ts int64, kvs ...string) []byte {
	var recs []byte
	for i, s := range kvs {
		k, v, _ := strings.Cut(s, "=")
		r := kmsg.Record{OffsetDelta: int32(i)}
		if k != "" {
			r.Key = []byte(k)
		}
		if v != "" {
			r.Value = []byte(v)
		}
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(kvs) - 1),
		FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(kvs)), Records: recs,
		Length: int32(storage.BatchHeaderSize - 12 + len(recs)),
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

func produceKeyed(t *testing.T, p *Partition, ts int64, kvs ...string) AppendResult {
	t.Helper()
	res, err := p.Append(keyedBatch(ts, kvs...), 1)
	if err != nil {
		t.Fatalf("append %v: %v", kvs, err)
	}
	if err := p.WaitAcked(context.Background(), res, 1); err != nil {
		t.Fatal(err)
	}
	return res
}

// readKeyed reads the partition from its start to the high watermark as
// "offset:key=value" strings.
func readKeyed(t *testing.T, p *Partition) string {
	t.Helper()
	var out []string
	for off := p.LogStartOffset(); off < p.HighWatermark(); {
		res, err := p.Read(off, 1<<20, noEpoch)
		if err != nil {
			t.Fatal(err)
		}
		hs := headers(t, res.Records)
		if len(hs) == 0 {
			break
		}
		pos := 0
		for _, h := range hs {
			recs, err := storage.DecodeRecords(res.Records[pos : pos+int(h.Size())])
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				out = append(out, strconv.FormatInt(r.Offset, 10)+":"+string(r.Key)+"="+string(r.Value))
			}
			pos += int(h.Size())
			off = h.NextOffset()
		}
	}
	return strings.Join(out, " ")
}

// compactedSpec is a compacted topic whose every batch gets its own segment.
func compactedSpec(topic string, id byte, policyDelete bool) PartitionSpec {
	spec := leaderSpec(topic, id, 0)
	spec.Storage.SegmentBytes = 100
	spec.Config.Compact, spec.Config.Delete = true, policyDelete
	spec.Config.Compaction.MinCleanableDirtyRatio = 0
	return spec
}

// A compacted topic refuses a record without a key with INVALID_RECORD,
// as Kafka's LogValidator does, and nothing of the payload is written; a
// topic with cleanup.policy=delete takes it.
func TestCompactedTopicRefusesRecordsWithoutKey(t *testing.T) {
	_, p := openLeader(t, compactedSpec("c", 1, false))
	now := time.Now().UnixMilli()
	_, err := p.Append(keyedBatch(now, "a=1", "=v"), 1)
	wantErr(t, err, kerr.InvalidRecord)
	if p.LogEndOffset() != 0 {
		t.Fatalf("log end %d after a refused append", p.LogEndOffset())
	}
	produceKeyed(t, p, now, "a=1", "b=")
	_, q := openLeader(t, leaderSpec("d", 2, 0))
	if _, err := q.Append(keyedBatch(now, "=v"), 1); err != nil {
		t.Fatalf("delete policy refused a keyless record: %v", err)
	}
}

// The Manager's loop compacts partitions whose cleanup.policy has compact,
// and applies retention by time only to those that also have delete.
func TestManagerCompactsAndRetains(t *testing.T) {
	m := newTestManager(t, t.TempDir())
	compactOnly, err := m.Apply(compactedSpec("c", 1, false))
	if err != nil {
		t.Fatal(err)
	}
	both, err := m.Apply(compactedSpec("cd", 2, true))
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).UnixMilli()
	for _, p := range []*Partition{compactOnly, both} {
		p.mu.Lock()
		p.mu.cfg.RetentionMs = 60_000
		p.mu.cfg.Compaction.MinCompactionLagMs = 1000
		p.mu.cfg.Compaction.DeleteRetentionMs = 0
		p.mu.cfg.Compaction.MaxCompactionLagMs = 1 << 62
		p.mu.cfg.Compaction.MinCleanableDirtyRatio = 0
		p.mu.Unlock()
		produceKeyed(t, p, old, "a=1", "b=1")
		produceKeyed(t, p, old, "a=2")
		produceKeyed(t, p, old, "b=")
		produceKeyed(t, p, time.Now().UnixMilli(), "z=1")
	}
	if n := m.Compact(time.Now()); n != 2 {
		t.Fatalf("%d partitions compacted, want 2", n)
	}
	if got := readKeyed(t, compactOnly); got != "2:a=2 3:b= 4:z=1" {
		t.Fatalf("compacted: %s", got)
	}
	// The second pass drops the tombstone (delete.retention.ms 0) once
	// something new is dirty: z's segment, once past min.compaction.lag.ms.
	produceKeyed(t, compactOnly, old, "y=1")
	if n := m.Compact(time.Now()); n != 0 {
		t.Fatalf("z's segment is younger than min.compaction.lag.ms, yet %d partitions were compacted", n)
	}
	m.Compact(time.Now().Add(2 * time.Second))
	if got := readKeyed(t, compactOnly); got != "2:a=2 4:z=1 5:y=1" {
		t.Fatalf("after the second pass: %s", got)
	}
	// Two minutes on, every sealed segment is past retention.ms: by its
	// timestamps, or, for the first one that compaction left empty, by its
	// file's modification time.
	if n := m.ApplyRetention(time.Now().Add(2 * time.Minute)); n != 3 {
		t.Fatalf("retention deleted %d segments, want the 3 old sealed ones of compact,delete", n)
	}
	if compactOnly.LogStartOffset() != 0 || both.LogStartOffset() != 4 {
		t.Fatalf("log starts %d and %d, want 0 (compact) and 4 (compact,delete)", compactOnly.LogStartOffset(), both.LogStartOffset())
	}
}

// DeleteRecords (KIP-107): the leader moves the log start offset up to the
// requested offset (-1: the high watermark) and answers the new low
// watermark; reads below it are OFFSET_OUT_OF_RANGE. Offsets above the high
// watermark or other negative ones are OFFSET_OUT_OF_RANGE, a follower
// answers NOT_LEADER_OR_FOLLOWER, and a compact-only topic
// POLICY_VIOLATION.
func TestDeleteRecords(t *testing.T) {
	m, p := openLeader(t, leaderSpec("t", 1, 0))
	now := time.Now().UnixMilli()
	for range 4 {
		produce(t, p, plain(2, now), 1) // offsets 0-7
	}
	if low, err := p.DeleteRecords(3); err != nil || low != 3 {
		t.Fatalf("DeleteRecords(3) = %d, %v", low, err)
	}
	_, err := p.Read(2, 1<<20, noEpoch)
	wantErr(t, err, kerr.OffsetOutOfRange)
	if off, _, _, _, err := p.ListOffset(ListEarliest, noEpoch); err != nil || off != 3 {
		t.Fatalf("earliest %d, %v", off, err)
	}
	if low, err := p.DeleteRecords(1); err != nil || low != 3 {
		t.Fatalf("DeleteRecords below the start = %d, %v; want 3", low, err)
	}
	for _, off := range []int64{9, -2} {
		_, err := p.DeleteRecords(off)
		wantErr(t, err, kerr.OffsetOutOfRange)
	}
	if low, err := p.DeleteRecords(-1); err != nil || low != 8 {
		t.Fatalf("DeleteRecords(-1) = %d, %v; want the high watermark 8", low, err)
	}
	if res, err := p.Read(8, 1<<20, noEpoch); err != nil || len(res.Records) != 0 {
		t.Fatalf("read at the start: %d bytes, %v", len(res.Records), err)
	}

	follower := leaderSpec("t", 1, 1)
	follower.State.Leader = testNode + 1
	if _, err := m.Apply(follower); err != nil {
		t.Fatal(err)
	}
	_, err = p.DeleteRecords(8)
	wantErr(t, err, kerr.NotLeaderForPartition)

	_, c := openLeader(t, compactedSpec("c", 2, false))
	_, err = c.DeleteRecords(0)
	wantErr(t, err, kerr.PolicyViolation)
	_, cd := openLeader(t, compactedSpec("cd", 3, true))
	if low, err := cd.DeleteRecords(0); err != nil || low != 0 {
		t.Fatalf("compact,delete: %d, %v", low, err)
	}
}
