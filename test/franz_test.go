package test

// Compatibility with franz-go (kgo, kadm): the record shapes, codecs, acks
// levels, offsets lookups, config and topic admin, auto-creation,
// idempotence (KIP-98) and long-polling consumers. Hand-built kmsg requests
// are in rawprotocol_test.go.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/test/harness"
)

// The record shapes a client can produce survive a round trip byte for byte:
// keys, a null key apart from an empty one, headers (repeated keys, empty and
// null values, in order), an explicit CreateTime timestamp, an empty value
// and a null value (protocol guide, "Record").
func TestFranzRecordShapesRoundTrip(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "franz-shapes"
	createTopic(t, adm, topic, 1, nil)

	ts := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	want := []*kgo.Record{
		{Key: []byte("k1"), Value: []byte("v1")},
		{Key: nil, Value: []byte("null key")},
		{Key: []byte{}, Value: []byte("empty key")},
		{Key: []byte("hdrs"), Value: []byte("with headers"), Headers: []kgo.RecordHeader{
			{Key: "a", Value: []byte("1")}, {Key: "empty", Value: []byte{}},
			{Key: "null", Value: nil}, {Key: "a", Value: []byte("repeated key")},
		}},
		{Key: []byte("ts"), Value: []byte("explicit timestamp"), Timestamp: ts},
		{Key: []byte("empty-value"), Value: []byte{}},
		{Key: []byte("null-value"), Value: nil},
		{Key: []byte("utf8 ключ"), Value: []byte("значение \x00 with a NUL")},
	}
	cl := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic))
	if err := cl.ProduceSync(testCtx(t), want...).FirstErr(); err != nil {
		t.Fatalf("producing %d records: %v", len(want), err)
	}
	for i, r := range want {
		if r.Offset != int64(i) {
			t.Errorf("record %d acknowledged at offset %d, want %d", i, r.Offset, i)
		}
	}
	got := consumeAll(t, n.Bootstrap(), topic)
	if len(got) != len(want) {
		t.Fatalf("read back %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if err := sameRecord(want[i], got[i]); err != nil {
			t.Errorf("record %d (offset %d): %v", i, got[i].Offset, err)
		}
	}
	if got[4].Timestamp.UnixMilli() != ts.UnixMilli() {
		t.Errorf("explicit timestamp: got %d, want %d", got[4].Timestamp.UnixMilli(), ts.UnixMilli())
	}
}

// A ~1 MiB value round trips on a topic whose max.message.bytes allows it,
// and is refused with MESSAGE_TOO_LARGE by a topic left at Kafka's default
// max.message.bytes (1048588).
func TestFranzOneMebibyteValue(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	createTopic(t, adm, "franz-big", 1, map[string]*string{"max.message.bytes": strp("2097152")})
	createTopic(t, adm, "franz-big-default", 1, nil)

	value := make([]byte, 1<<20+1000)
	rand.Read(value)
	cl := newKgo(t, n.Bootstrap(), kgo.ProducerBatchMaxBytes(2<<20), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordRetries(2))
	want := &kgo.Record{Topic: "franz-big", Key: []byte("big"), Value: value}
	if err := cl.ProduceSync(testCtx(t), want).FirstErr(); err != nil {
		t.Fatalf("producing a %d-byte value to a topic with max.message.bytes=2097152: %v", len(value), err)
	}
	got := consumeAll(t, n.Bootstrap(), "franz-big")
	if len(got) != 1 {
		t.Fatalf("read back %d records, want 1", len(got))
	}
	if err := sameRecord(want, got[0]); err != nil {
		t.Fatal(err)
	}

	err := cl.ProduceSync(testCtx(t), &kgo.Record{Topic: "franz-big-default", Value: value}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("producing a %d-byte value to a topic with the default max.message.bytes: got %v, want MESSAGE_TOO_LARGE", len(value), err)
	}
	if end := endOffsets(t, adm, "franz-big-default")[0]; end != 0 {
		t.Fatalf("refused batch was appended: end offset %d", end)
	}
}

// Every codec of the protocol guide (none, gzip, snappy, lz4, zstd) is
// accepted, stored as the producer compressed it (the attributes of the
// stored batch name the codec) and decompressed by the consumer.
func TestFranzCompressionCodecsRoundTrip(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "franz-codecs"
	createTopic(t, adm, topic, 1, nil)

	codecs := []struct {
		name  string
		id    int16
		codec kgo.CompressionCodec
	}{
		{"none", 0, kgo.NoCompression()},
		{"gzip", 1, kgo.GzipCompression()},
		{"snappy", 2, kgo.SnappyCompression()},
		{"lz4", 3, kgo.Lz4Compression()},
		{"zstd", 4, kgo.ZstdCompression()},
	}
	var want []*kgo.Record
	firstOffset := map[int64]string{}
	codecOf := map[string]int16{}
	for _, c := range codecs {
		codecOf[c.name] = c.id
		cl := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(c.codec),
			kgo.ManualFlushing())
		var batch []*kgo.Record
		for i := 0; i < 20; i++ {
			batch = append(batch, &kgo.Record{
				Key:     []byte(fmt.Sprintf("%s-%d", c.name, i)),
				Value:   bytes.Repeat([]byte(c.name+" compressible payload "), 20),
				Headers: []kgo.RecordHeader{{Key: "codec", Value: []byte(c.name)}},
			})
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(batch))
		for _, r := range batch {
			wg.Add(1)
			cl.Produce(testCtx(t), r, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					errs <- err
				}
			})
		}
		if err := cl.Flush(testCtx(t)); err != nil {
			t.Fatalf("%s: flush: %v", c.name, err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: produce: %v", c.name, err)
		}
		firstOffset[batch[0].Offset] = c.name
		want = append(want, batch...)
		cl.Close()
	}

	rc := dialRaw(t, n.Bootstrap())
	batches := fetchBatches(t, rc, topic, 0, 0)
	if len(batches) != len(codecs) {
		t.Errorf("stored %d batches, want one per codec (%d)", len(batches), len(codecs))
	}
	for _, b := range batches {
		name, ok := firstOffset[b.FirstOffset]
		if !ok {
			t.Errorf("batch at offset %d does not start a producer's batch", b.FirstOffset)
			continue
		}
		if got := b.Attributes & 0x07; got != codecOf[name] {
			t.Errorf("%s batch at offset %d stored with codec %d, want %d (the broker must keep the producer's compression)",
				name, b.FirstOffset, got, codecOf[name])
		}
	}

	got := consumeAll(t, n.Bootstrap(), topic)
	if len(got) != len(want) {
		t.Fatalf("read back %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if err := sameRecord(want[i], got[i]); err != nil {
			t.Errorf("record %d (offset %d): %v", i, got[i].Offset, err)
		}
	}
}

// acks=0, acks=1 and acks=all each deliver every record exactly once
// (protocol guide, Produce "acks"); acks=0 gets no answer, so the test waits
// for the high watermark instead.
func TestFranzAcksLevels(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic, perLevel = "franz-acks", 50
	createTopic(t, adm, topic, 1, nil)

	levels := []struct {
		name string
		opts []kgo.Opt
	}{
		{"acks0", []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}},
		{"acks1", []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
		{"acksall", []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}},
	}
	want := map[string]bool{}
	for _, l := range levels {
		cl := newKgo(t, n.Bootstrap(), append(l.opts, kgo.DefaultProduceTopic(topic))...)
		var rs []*kgo.Record
		for i := 0; i < perLevel; i++ {
			v := fmt.Sprintf("%s-%d", l.name, i)
			want[v] = true
			rs = append(rs, kgo.StringRecord(v))
		}
		if err := cl.ProduceSync(testCtx(t), rs...).FirstErr(); err != nil {
			t.Fatalf("%s: %v", l.name, err)
		}
		cl.Close()
	}
	eventually(t, opTimeout, "every record to be committed", func() error {
		if end := endOffsets(t, adm, topic)[0]; end != int64(len(want)) {
			return fmt.Errorf("end offset %d, want %d", end, len(want))
		}
		return nil
	})
	got := consumeAll(t, n.Bootstrap(), topic)
	seen := map[string]bool{}
	for _, r := range got {
		v := string(r.Value)
		if !want[v] {
			t.Errorf("unexpected record %q at offset %d", v, r.Offset)
		}
		if seen[v] {
			t.Errorf("record %q read twice", v)
		}
		seen[v] = true
	}
	if len(seen) != len(want) {
		t.Errorf("read %d distinct records, want %d", len(seen), len(want))
	}
}

// ListOffsets (KIP-79 by timestamp, KIP-734 max timestamp): earliest,
// latest, the first offset at or after a timestamp, and the record with the
// largest timestamp — at record precision, both when every record is its own
// batch and when one batch holds records with out-of-order timestamps.
func TestFranzListOffsets(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	// Timestamps deliberately out of order: the maximum is at offset 2.
	deltas := []time.Duration{0, time.Second, 9 * time.Second, 2 * time.Second, 3 * time.Second}

	check := func(t *testing.T, topic string) {
		t.Helper()
		ctx := testCtx(t)
		start, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := start.Lookup(topic, 0); o.Err != nil || o.Offset != 0 {
			t.Errorf("earliest: offset %d err %v, want 0", o.Offset, o.Err)
		}
		end, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := end.Lookup(topic, 0); o.Err != nil || o.Offset != int64(len(deltas)) {
			t.Errorf("latest: offset %d err %v, want %d", o.Offset, o.Err, len(deltas))
		}
		for _, c := range []struct {
			at      time.Duration
			want    int64
			wantTs  time.Duration
			comment string
		}{
			{-time.Second, 0, 0, "before every record"},
			{0, 0, 0, "exactly the first"},
			{1500 * time.Millisecond, 2, 9 * time.Second, "first record at or after t0+1.5s is offset 2"},
			{2 * time.Second, 2, 9 * time.Second, "offset 2 (t0+9s) comes before offset 3 (t0+2s)"},
			{9 * time.Second, 2, 9 * time.Second, "exactly the maximum"},
			{10 * time.Second, int64(len(deltas)), -1, "after every record: the broker answers -1, kadm falls back to the end offset"},
		} {
			lo, err := adm.ListOffsetsAfterMilli(ctx, t0.Add(c.at).UnixMilli(), topic)
			if err != nil {
				t.Fatal(err)
			}
			o, _ := lo.Lookup(topic, 0)
			if o.Err != nil || o.Offset != c.want {
				t.Errorf("by timestamp t0%+v (%s): offset %d err %v, want %d", c.at, c.comment, o.Offset, o.Err, c.want)
			}
			if c.wantTs >= 0 && o.Timestamp != t0.Add(c.wantTs).UnixMilli() {
				t.Errorf("by timestamp t0%+v: timestamp %d, want %d", c.at, o.Timestamp, t0.Add(c.wantTs).UnixMilli())
			}
		}
		mx, err := adm.ListMaxTimestampOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := mx.Lookup(topic, 0)
		if o.Err != nil || o.Offset != 2 || o.Timestamp != t0.Add(9*time.Second).UnixMilli() {
			t.Errorf("max timestamp: offset %d timestamp %d err %v, want offset 2 timestamp %d",
				o.Offset, o.Timestamp, o.Err, t0.Add(9*time.Second).UnixMilli())
		}
	}

	t.Run("one batch per record", func(t *testing.T) {
		const topic = "franz-offsets-single"
		createTopic(t, adm, topic, 1, nil)
		cl := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic))
		for i, d := range deltas {
			r := &kgo.Record{Value: []byte(strconv.Itoa(i)), Timestamp: t0.Add(d)}
			if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		check(t, topic)
	})
	t.Run("one batch", func(t *testing.T) {
		const topic = "franz-offsets-batch"
		createTopic(t, adm, topic, 1, nil)
		cl := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic), kgo.ManualFlushing())
		for i, d := range deltas {
			cl.Produce(testCtx(t), &kgo.Record{Value: []byte(strconv.Itoa(i)), Timestamp: t0.Add(d)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := cl.Flush(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if bs := fetchBatches(t, dialRaw(t, n.Bootstrap()), topic, 0, 0); len(bs) != 1 {
			t.Fatalf("precondition: the producer wrote %d batches, want 1", len(bs))
		}
		check(t, topic)
	})
}

// DescribeConfigs shows overrides and defaults with their sources;
// IncrementalAlterConfigs (KIP-339) sets and deletes single keys;
// AlterConfigs replaces the whole override set; and a changed
// max.message.bytes takes effect on the produce path.
func TestFranzConfigsRoundTrip(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "franz-configs"
	createTopic(t, adm, topic, 1, map[string]*string{"retention.ms": strp("3600000")})

	describe := func() map[string]kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(testCtx(t), topic)
		if err != nil {
			t.Fatalf("DescribeConfigs: %v", err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("DescribeConfigs %s: %v %v %s", topic, err, rc.Err, rc.ErrMessage)
		}
		out := map[string]kadm.Config{}
		for _, c := range rc.Configs {
			out[c.Key] = c
		}
		return out
	}
	expect := func(step string, cfgs map[string]kadm.Config, key, value string, source kmsg.ConfigSource) {
		t.Helper()
		c, ok := cfgs[key]
		switch {
		case !ok:
			t.Errorf("%s: %s not described", step, key)
		case c.Value == nil || *c.Value != value:
			t.Errorf("%s: %s = %v, want %q", step, key, c.MaybeValue(), value)
		case c.Source != source:
			t.Errorf("%s: %s source %v, want %v", step, key, c.Source, source)
		}
	}

	cfgs := describe()
	expect("after create", cfgs, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	expect("after create", cfgs, "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
	expect("after create", cfgs, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

	resps, err := adm.AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("1048576")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, topic)
	if err != nil || len(resps) != 1 || resps[0].Err != nil {
		t.Fatalf("IncrementalAlterConfigs: %v %+v", err, resps)
	}
	cfgs = describe()
	expect("after incremental alter", cfgs, "retention.bytes", "1048576", kmsg.ConfigSourceDynamicTopicConfig)
	expect("after incremental alter", cfgs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	// A batch between 1 MiB and 2 MiB is refused before the alter.
	rc := dialRaw(t, n.Bootstrap())
	big := plainBatch(strings.Repeat("x", 1_500_000))
	if p := produceRaw(t, rc, 11, topic, 0, big); p.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("1.5 MB batch before raising max.message.bytes: %s, want MESSAGE_TOO_LARGE", errName(p.ErrorCode))
	}

	resps, err = adm.AlterTopicConfigsState(testCtx(t), []kadm.AlterConfig{
		{Name: "max.message.bytes", Value: strp("2097152")},
		{Name: "cleanup.policy", Value: strp("delete")},
	}, topic)
	if err != nil || len(resps) != 1 || resps[0].Err != nil {
		t.Fatalf("AlterConfigs: %v %+v", err, resps)
	}
	cfgs = describe()
	expect("after alter", cfgs, "max.message.bytes", "2097152", kmsg.ConfigSourceDynamicTopicConfig)
	expect("after alter", cfgs, "cleanup.policy", "delete", kmsg.ConfigSourceDynamicTopicConfig)
	expect("after alter (non-incremental drops other overrides)", cfgs, "retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)

	eventually(t, 10*time.Second, "max.message.bytes=2097152 to take effect on produce", func() error {
		p := produceRaw(t, rc, 11, topic, 0, big)
		if p.ErrorCode != 0 {
			return fmt.Errorf("1.5 MB batch: %s", errName(p.ErrorCode))
		}
		return nil
	})
}

// Bad topic requests get the protocol's own error codes and change nothing:
// unknown config keys, bad values and an unknown cleanup.policy
// give INVALID_CONFIG; illegal names give INVALID_TOPIC_EXCEPTION; a second
// create gives TOPIC_ALREADY_EXISTS; shrinking partitions gives
// INVALID_PARTITIONS.
func TestFranzTopicRequestErrors(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const existing = "franz-errors"
	createTopic(t, adm, existing, 2, nil)

	creates := []struct {
		topic   string
		configs map[string]*string
		want    error
	}{
		{"franz-bad-key", map[string]*string{"no.such.config": strp("1")}, kerr.InvalidConfig},
		{"franz-bad-value", map[string]*string{"retention.ms": strp("soon")}, kerr.InvalidConfig},
		{"franz-archive", map[string]*string{"cleanup.policy": strp("archive")}, kerr.InvalidConfig},
		{"bad/name", nil, kerr.InvalidTopicException},
		{"..", nil, kerr.InvalidTopicException},
		{"has space", nil, kerr.InvalidTopicException},
		{strings.Repeat("x", 250), nil, kerr.InvalidTopicException},
		{existing, nil, kerr.TopicAlreadyExists},
	}
	for _, c := range creates {
		resp, err := adm.CreateTopic(testCtx(t), 1, 1, c.configs, c.topic)
		if !errors.Is(err, c.want) {
			t.Errorf("CreateTopics %.40q configs %v: got %v (%s), want %v", c.topic, c.configs, err, resp.ErrMessage, c.want)
		}
	}
	tds, err := adm.ListTopics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if names := tds.Names(); len(names) != 1 || names[0] != existing {
		t.Errorf("after refused creates the topics are %v, want only %s", names, existing)
	}

	alters := []struct {
		cfg  kadm.AlterConfig
		want error
	}{
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "no.such.config", Value: strp("1")}, kerr.InvalidConfig},
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "cleanup.policy", Value: strp("archive")}, kerr.InvalidConfig},
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "max.message.bytes", Value: strp("-5")}, kerr.InvalidConfig},
	}
	for _, a := range alters {
		resps, err := adm.AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{a.cfg}, existing)
		if err != nil {
			t.Fatalf("IncrementalAlterConfigs %s: %v", a.cfg.Name, err)
		}
		if len(resps) != 1 || !errors.Is(resps[0].Err, a.want) {
			t.Errorf("IncrementalAlterConfigs %s=%s: got %+v, want %v", a.cfg.Name, *a.cfg.Value, resps, a.want)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(testCtx(t), existing)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rcs[0].Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("refused alters left an override %s=%v", c.Key, c.MaybeValue())
		}
	}

	cps, err := adm.UpdatePartitions(testCtx(t), 1, existing)
	if err != nil {
		t.Fatal(err)
	}
	if cp := cps[existing]; !errors.Is(cp.Err, kerr.InvalidPartitions) {
		t.Errorf("CreatePartitions 2 -> 1: got %v %s, want INVALID_PARTITIONS", cp.Err, cp.ErrMessage)
	}

	rcs, err = adm.DescribeTopicConfigs(testCtx(t), "franz-no-such-topic")
	if err == nil && len(rcs) == 1 {
		err = rcs[0].Err
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("DescribeConfigs of a missing topic: got %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}

// CreatePartitions grows a topic, and the new partition takes records at
// once.
func TestFranzCreatePartitionsThenProduceToNewPartition(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "franz-grow"
	createTopic(t, adm, topic, 1, nil)
	cps, err := adm.CreatePartitions(testCtx(t), 2, topic)
	if err != nil || cps[topic].Err != nil {
		t.Fatalf("CreatePartitions +2: %v %+v", err, cps[topic])
	}
	before := waitTopicReady(t, adm, topic, 3)

	cl := newKgo(t, n.Bootstrap(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	r := &kgo.Record{Topic: topic, Partition: 2, Value: []byte("in the new partition")}
	if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
		t.Fatalf("producing to partition 2: %v", err)
	}
	if r.Partition != 2 || r.Offset != 0 {
		t.Fatalf("acknowledged at %d/%d, want partition 2 offset 0", r.Partition, r.Offset)
	}
	got := consumeAll(t, n.Bootstrap(), topic)
	if len(got) != 1 || got[0].Partition != 2 || string(got[0].Value) != "in the new partition" {
		t.Fatalf("read back %d records (%v), want the one in partition 2", len(got), got)
	}
	after := waitTopicReady(t, adm, topic, 3)
	if before.ID != after.ID {
		t.Errorf("topic id changed from %v to %v", before.ID, after.ID)
	}
}

// DeleteTopics removes the topic from metadata and configs, and a topic
// created again under the same name has a new id and none of the old
// records.
func TestFranzDeleteTopicThenItIsGone(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "franz-doomed"
	first := createTopic(t, adm, topic, 2, nil)
	cl := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic))
	if err := cl.ProduceSync(testCtx(t), kgo.StringRecord("a"), kgo.StringRecord("b")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	dr, err := adm.DeleteTopic(testCtx(t), topic)
	if err != nil || dr.Err != nil {
		t.Fatalf("DeleteTopics: %v %v %s", err, dr.Err, dr.ErrMessage)
	}
	eventually(t, opTimeout, topic+" to leave metadata", func() error {
		tds, err := adm.ListTopics(testCtx(t))
		if err != nil {
			return err
		}
		if tds.Has(topic) {
			return errors.New("still listed")
		}
		return nil
	})
	tds, err := adm.ListTopics(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if td := tds[topic]; !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("Metadata for the deleted topic: err %v, want UNKNOWN_TOPIC_OR_PARTITION", td.Err)
	}
	dr, err = adm.DeleteTopic(testCtx(t), topic)
	if !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(dr.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("deleting it again: %v %v, want UNKNOWN_TOPIC_OR_PARTITION", err, dr.Err)
	}

	second := createTopic(t, adm, topic, 2, nil)
	if second.ID == first.ID {
		t.Errorf("recreated topic kept the old id %v", first.ID)
	}
	for p, end := range endOffsets(t, adm, topic) {
		if end != 0 {
			t.Errorf("recreated %s-%d has end offset %d, want 0 (old records came back)", topic, p, end)
		}
	}
}

// With auto.create.topics.enable on (the default), producing to an unknown
// topic creates it with num.partitions; a Metadata request that does not
// ask for creation creates nothing.
func TestFranzAutoCreateOnProduce(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	tds, err := adm.ListTopics(testCtx(t), "franz-not-asked")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(tds["franz-not-asked"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("Metadata without allow_auto_topic_creation: %v, want UNKNOWN_TOPIC_OR_PARTITION", tds["franz-not-asked"].Err)
	}

	const topic = "franz-auto"
	cl := newKgo(t, n.Bootstrap(), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic(topic))
	if err := cl.ProduceSync(testCtx(t), kgo.StringRecord("created on first use")).FirstErr(); err != nil {
		t.Fatalf("producing to a new topic with auto-create on: %v", err)
	}
	waitTopicReady(t, adm, topic, 1)
	got := consumeAll(t, n.Bootstrap(), topic)
	if len(got) != 1 || string(got[0].Value) != "created on first use" {
		t.Fatalf("read back %v", got)
	}
	tds, err = adm.ListTopics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if tds.Has("franz-not-asked") {
		t.Error("a Metadata request without allow_auto_topic_creation created its topic")
	}
}

// With auto.create.topics.enable=false, producing to an unknown topic fails
// with UNKNOWN_TOPIC_OR_PARTITION, even when the client asks for creation,
// and creates nothing.
func TestFranzAutoCreateDisabledRefusesUnknownTopic(t *testing.T) {
	n := harness.StartNode(t, harness.WithAutoCreateTopics(false))
	const topic = "franz-nope"
	cl := newKgo(t, n.Bootstrap(), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic(topic),
		kgo.UnknownTopicRetries(1), kgo.RecordDeliveryTimeout(20*time.Second))
	err := cl.ProduceSync(testCtx(t), kgo.StringRecord("x")).FirstErr()
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("producing to an unknown topic with auto-create off: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	rc := dialRaw(t, n.Bootstrap())
	if p := produceRaw(t, rc, 11, topic, 0, plainBatch("x")); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("raw Produce to an unknown topic: %s, want UNKNOWN_TOPIC_OR_PARTITION", errName(p.ErrorCode))
	}
	tds, err := newAdmin(t, n.Bootstrap()).ListTopics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if tds.Has(topic) {
		t.Error("the topic was created although auto.create.topics.enable=false")
	}
}

// An idempotent producer (KIP-98) writing 10,000 records with acks=all over
// three partitions: every record is read back exactly once, and each
// partition holds its records in the order they were produced.
func TestFranzIdempotentProducerExactlyOnceInOrder(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic, total = "franz-idem", 10000
	createTopic(t, adm, topic, 3, nil)

	cl := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for i := 0; i < total; i++ {
		wg.Add(1)
		r := &kgo.Record{Key: []byte(fmt.Sprintf("key-%d", i%97)), Value: []byte(strconv.Itoa(i))}
		cl.Produce(testCtx(t), r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d produce errors, first: %v", len(errs), errs[0])
	}

	got := consumeAll(t, n.Bootstrap(), topic)
	if len(got) != total {
		t.Errorf("read back %d records, want %d", len(got), total)
	}
	seen := make([]bool, total)
	last := map[int32]int{0: -1, 1: -1, 2: -1}
	pids := map[int64]bool{}
	for _, r := range got {
		i, err := strconv.Atoi(string(r.Value))
		if err != nil || i < 0 || i >= total {
			t.Fatalf("unexpected value %q", r.Value)
		}
		if seen[i] {
			t.Errorf("record %d read twice", i)
		}
		seen[i] = true
		if i <= last[r.Partition] {
			t.Errorf("partition %d: record %d after record %d", r.Partition, i, last[r.Partition])
		}
		last[r.Partition] = i
		pids[r.ProducerID] = true
	}
	for p, l := range last {
		if l < 0 {
			t.Errorf("partition %d got no records", p)
		}
	}
	if len(pids) != 1 || pids[-1] {
		t.Errorf("records carry producer ids %v, want one idempotent producer id", pids)
	}
}

// A consumer long-polling an empty topic (fetch.max.wait 500ms) gets a
// record produced while it waits (KIP-227 sessions and delayed fetches).
func TestFranzWaitingConsumerGetsNewRecord(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "franz-wait"
	createTopic(t, adm, topic, 1, nil)

	consumer := newKgo(t, n.Bootstrap(), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	got := make(chan *kgo.Record, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			fs := consumer.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				select {
				case got <- r:
				default:
				}
			})
		}
	}()

	p := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic))
	produced := make(chan error, 1)
	go func() { produced <- p.ProduceSync(ctx, kgo.StringRecord("wake up")).FirstErr() }()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case err := <-produced:
			if err != nil {
				t.Fatalf("produce: %v", err)
			}
			produced = nil // acknowledged; keep waiting for the consumer
		case r := <-got:
			if string(r.Value) != "wake up" {
				t.Fatalf("consumer got %q", r.Value)
			}
			return
		case <-timeout:
			t.Fatal("the waiting consumer did not get the produced record within 20s")
		}
	}
}

// A group-less consumer of three partitions reads every record exactly once
// and in order across many polls while the producer keeps writing; kgo uses
// incremental fetch sessions (KIP-227) for every fetch after the first.
func TestFranzConsumesThreePartitionsAcrossPolls(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic, rounds, perPartition = "franz-sessions", 6, 10
	createTopic(t, adm, topic, 3, nil)

	consumer := newKgo(t, n.Bootstrap(), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {
			0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart(),
		}}))
	producer := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	next := map[int32]int64{}
	polls := 0
	for round := 0; round < rounds; round++ {
		var rs []*kgo.Record
		for p := int32(0); p < 3; p++ {
			for i := 0; i < perPartition; i++ {
				rs = append(rs, &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("r%d-p%d-%d", round, p, i))})
			}
		}
		if err := producer.ProduceSync(testCtx(t), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want := int64((round + 1) * perPartition)
		ctx := testCtx(t)
		for next[0] < want || next[1] < want || next[2] < want {
			fs := consumer.PollFetches(ctx)
			polls++
			if ctx.Err() != nil {
				t.Fatalf("round %d: consumer at %v, want %d per partition", round, next, want)
			}
			for _, fe := range fs.Errors() {
				t.Fatalf("round %d: fetch error %s-%d: %v", round, fe.Topic, fe.Partition, fe.Err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != next[r.Partition] {
					t.Errorf("partition %d: got offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
				}
				wantValue := fmt.Sprintf("r%d-p%d-%d", r.Offset/perPartition, r.Partition, r.Offset%perPartition)
				if string(r.Value) != wantValue {
					t.Errorf("partition %d offset %d: %q, want %q", r.Partition, r.Offset, r.Value, wantValue)
				}
				next[r.Partition] = r.Offset + 1
			})
		}
	}
	if polls < rounds {
		t.Errorf("only %d polls for %d rounds", polls, rounds)
	}
}
