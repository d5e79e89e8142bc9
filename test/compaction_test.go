package test

// Log compaction and DeleteRecords end to end, with franz-go clients
// against a real node.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/test/harness"
)

// describeRecords renders records as "offset:key=value" ("key=<nil>" for
// a tombstone), in order.
func describeRecords(rs []*kgo.Record) string {
	var parts []string
	for _, r := range rs {
		v := string(r.Value)
		if r.Value == nil {
			v = "<nil>"
		}
		parts = append(parts, fmt.Sprintf("%d:%s=%s", r.Offset, r.Key, v))
	}
	return strings.Join(parts, " ")
}

// A topic with cleanup.policy=compact keeps only the latest value of each
// key once the broker's cleaner has run (Kafka documentation, "Log
// Compaction"): the survivors keep their offsets, a tombstone stays until
// delete.retention.ms after compaction first kept it and then goes, and a
// record without a key is refused with INVALID_RECORD.
func TestCompactedTopicKeepsLatestValuePerKey(t *testing.T) {
	n := harness.StartNode(t,
		harness.WithRetentionCheckInterval(50*time.Millisecond),
		harness.WithTopicDefault("min.cleanable.dirty.ratio", "0.01"))
	adm := newAdmin(t, n.Bootstrap())
	const topic = "compacted"
	createTopic(t, adm, topic, 1, map[string]*string{
		"cleanup.policy":      strp("compact"),
		"segment.ms":          strp("1"), // every batch below rolls a segment
		"delete.retention.ms": strp("0"),
	})
	cl := newKgo(t, n.Bootstrap(), kgo.ProducerLinger(0))
	base := time.Now().Add(-time.Minute)
	produced := 0
	produce := func(key string, value []byte) *kgo.Record {
		t.Helper()
		r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value, Timestamp: base.Add(time.Duration(produced) * 10 * time.Millisecond)}
		produced++
		if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", key, err)
		}
		return r
	}
	latest := map[string]*kgo.Record{}
	for i := range 30 {
		k := fmt.Sprintf("k%d", i%5)
		latest[k] = produce(k, []byte(fmt.Sprintf("v%d", i)))
	}
	latest["k3"] = produce("k3", nil) // tombstone
	latest["end"] = produce("end", []byte("1"))

	keyless := &kgo.Record{Topic: topic, Value: []byte("no key"), Timestamp: base}
	if err := cl.ProduceSync(testCtx(t), keyless).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record in a compacted topic: %v, want INVALID_RECORD", err)
	}

	want := func(keys ...string) string {
		var rs []*kgo.Record
		for _, k := range keys {
			rs = append(rs, latest[k])
		}
		slices.SortFunc(rs, func(a, b *kgo.Record) int { return int(a.Offset - b.Offset) })
		return describeRecords(rs)
	}
	expect := want("k0", "k1", "k2", "k3", "k4", "end")
	eventually(t, opTimeout, "compaction to keep the latest value per key", func() error {
		if got := describeRecords(consumeAll(t, n.Bootstrap(), topic)); got != expect {
			return fmt.Errorf("records %s, want %s", got, expect)
		}
		return nil
	})

	// Something new makes "end"'s segment dirty: the next pass drops the
	// tombstone, whose delete horizon (delete.retention.ms 0) has passed.
	latest["end2"] = produce("end2", []byte("2"))
	expect = want("k0", "k1", "k2", "k4", "end", "end2")
	eventually(t, opTimeout, "the tombstone to go", func() error {
		if got := describeRecords(consumeAll(t, n.Bootstrap(), topic)); got != expect {
			return fmt.Errorf("records %s, want %s", got, expect)
		}
		return nil
	})
}

// DeleteRecords (KIP-107) through kadm moves the partition's low watermark:
// ListOffsets earliest answers it, a fetch below it gets
// OFFSET_OUT_OF_RANGE, and an offset above the high watermark is refused
// with OFFSET_OUT_OF_RANGE.
func TestDeleteRecordsMovesLowWatermark(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "delete-records"
	createTopic(t, adm, topic, 1, nil)
	cl := newKgo(t, n.Bootstrap())
	for i := range 10 {
		if err := cl.ProduceSync(testCtx(t), &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	resp, err := adm.DeleteRecords(testCtx(t), kadm.Offsets{topic: {0: {At: 6}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := resp.Lookup(topic, 0); !ok || r.Err != nil || r.LowWatermark != 6 {
		t.Fatalf("DeleteRecords before 6: %+v", r)
	}
	starts, err := adm.ListStartOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup(topic, 0); o.Err != nil || o.Offset != 6 {
		t.Fatalf("earliest offset %+v, want 6", o)
	}
	if code := fetchError(t, dialRaw(t, n.Bootstrap()), topic, 3); code != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch below the low watermark: %s, want OFFSET_OUT_OF_RANGE", errName(code))
	}
	if got := consumeAll(t, n.Bootstrap(), topic); len(got) != 4 || got[0].Offset != 6 {
		t.Fatalf("read back %d records from %d, want 4 from 6", len(got), got[0].Offset)
	}

	resp, err = adm.DeleteRecords(testCtx(t), kadm.Offsets{topic: {0: {At: 11}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resp.Lookup(topic, 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("DeleteRecords above the high watermark: %+v", r)
	}
	resp, err = adm.DeleteRecords(testCtx(t), kadm.Offsets{topic: {0: {At: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resp.Lookup(topic, 0); r.Err != nil || r.LowWatermark != 10 {
		t.Fatalf("DeleteRecords up to the high watermark: %+v", r)
	}
}

// fetchError fetches topic partition 0 at offset with a Fetch v12 (topic
// names) and returns the partition's error code.
func fetchError(t *testing.T, c *rawConn, topic string, offset int64) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
	rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.LogStartOffset = -1, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := c.roundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch answer for %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}
