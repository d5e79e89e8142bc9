package test

// Durability across a graceful restart of an in-process node: the metadata
// log (topics, ids, partition counts, configs) and the partition logs are
// both recovered from the data directory.

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/test/harness"
)

// After a graceful restart on the same data directory every topic keeps its
// id, partition count and config overrides (those set at create time, by
// IncrementalAlterConfigs and by CreatePartitions), every record reads back
// intact, and new records continue at the old end offsets.
func TestRestartKeepsTopicsConfigsAndRecords(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	createTopic(t, adm, "restart-a", 3, map[string]*string{
		"retention.ms": strp("86400000"), "max.message.bytes": strp("2097152"),
	})
	createTopic(t, adm, "restart-b", 1, nil)
	if rs, err := adm.AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("104857600")},
	}, "restart-b"); err != nil || rs[0].Err != nil {
		t.Fatalf("IncrementalAlterConfigs: %v %+v", err, rs)
	}
	if cps, err := adm.UpdatePartitions(testCtx(t), 2, "restart-b"); err != nil || cps["restart-b"].Err != nil {
		t.Fatalf("CreatePartitions: %v %+v", err, cps)
	}
	waitTopicReady(t, adm, "restart-b", 2)

	cl := newKgo(t, n.Bootstrap())
	var want []*kgo.Record
	for i := 0; i < 300; i++ {
		want = append(want, &kgo.Record{Topic: "restart-a", Key: []byte(fmt.Sprintf("k%d", i%10)), Value: []byte(fmt.Sprintf("a-%d", i)),
			Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(fmt.Sprint(i))}}})
	}
	for i := 0; i < 50; i++ {
		want = append(want, &kgo.Record{Topic: "restart-b", Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("b-%d", i))})
	}
	if err := cl.ProduceSync(testCtx(t), want...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	type snapshot struct {
		ids     map[string]kadm.TopicID
		parts   map[string]int
		configs map[string]map[string]string // dynamic overrides only
		ends    map[string]map[int32]int64
		records map[string][]*kgo.Record
	}
	take := func(bootstrap string) snapshot {
		t.Helper()
		adm := newAdmin(t, bootstrap)
		s := snapshot{ids: map[string]kadm.TopicID{}, parts: map[string]int{}, configs: map[string]map[string]string{},
			ends: map[string]map[int32]int64{}, records: map[string][]*kgo.Record{}}
		for _, topic := range []string{"restart-a", "restart-b"} {
			td := waitTopicReady(t, adm, topic, map[string]int32{"restart-a": 3, "restart-b": 2}[topic])
			s.ids[topic] = td.ID
			s.parts[topic] = len(td.Partitions)
			rcs, err := adm.DescribeTopicConfigs(testCtx(t), topic)
			if err != nil || rcs[0].Err != nil {
				t.Fatalf("DescribeConfigs %s: %v %+v", topic, err, rcs)
			}
			s.configs[topic] = map[string]string{}
			for _, c := range rcs[0].Configs {
				if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
					s.configs[topic][c.Key] = c.MaybeValue()
				}
			}
			s.ends[topic] = endOffsets(t, adm, topic)
			s.records[topic] = consumeAll(t, bootstrap, topic)
		}
		return s
	}
	before := take(n.Bootstrap())
	if got := before.configs["restart-a"]; got["retention.ms"] != "86400000" || got["max.message.bytes"] != "2097152" {
		t.Fatalf("precondition: restart-a overrides %v", got)
	}
	if len(before.records["restart-a"]) != 300 || len(before.records["restart-b"]) != 50 {
		t.Fatalf("precondition: read %d and %d records before the restart, want 300 and 50",
			len(before.records["restart-a"]), len(before.records["restart-b"]))
	}

	n.Restart()
	after := take(n.Bootstrap())

	for _, topic := range []string{"restart-a", "restart-b"} {
		if after.ids[topic] != before.ids[topic] {
			t.Errorf("%s: topic id %v after restart, was %v", topic, after.ids[topic], before.ids[topic])
		}
		if after.parts[topic] != before.parts[topic] {
			t.Errorf("%s: %d partitions after restart, was %d", topic, after.parts[topic], before.parts[topic])
		}
		if !maps.Equal(after.configs[topic], before.configs[topic]) {
			t.Errorf("%s: overrides %v after restart, were %v", topic, after.configs[topic], before.configs[topic])
		}
		if !maps.Equal(after.ends[topic], before.ends[topic]) {
			t.Errorf("%s: end offsets %v after restart, were %v", topic, after.ends[topic], before.ends[topic])
		}
		b, a := before.records[topic], after.records[topic]
		if len(a) != len(b) {
			t.Errorf("%s: %d records after restart, %d before", topic, len(a), len(b))
			continue
		}
		for i := range b {
			if a[i].Partition != b[i].Partition || a[i].Offset != b[i].Offset {
				t.Errorf("%s: record %d at %d/%d after restart, was at %d/%d", topic, i, a[i].Partition, a[i].Offset, b[i].Partition, b[i].Offset)
			}
			if err := sameRecord(b[i], a[i]); err != nil {
				t.Errorf("%s: record %d-%d: %v", topic, b[i].Partition, b[i].Offset, err)
			}
		}
	}

	// New records continue where the logs ended.
	cl = newKgo(t, n.Bootstrap(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 3; p++ {
		r := &kgo.Record{Topic: "restart-a", Partition: p, Value: []byte("after restart")}
		if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatalf("producing after the restart: %v", err)
		}
		if r.Offset != before.ends["restart-a"][p] {
			t.Errorf("restart-a-%d: new record at offset %d, want %d", p, r.Offset, before.ends["restart-a"][p])
		}
	}
}

// The idempotent-producer state is rebuilt from the log on restart (KIP-98):
// a producer's retry of a batch written before the restart is recognised as
// a duplicate and answered with the original offset, a gap is still refused,
// and the next sequence is accepted.
func TestRestartKeepsIdempotentProducerState(t *testing.T) {
	n := harness.StartNode(t)
	const topic = "restart-idem"
	createTopic(t, newAdmin(t, n.Bootstrap()), topic, 1, nil)
	rc := dialRaw(t, n.Bootstrap())
	ipr := kmsg.NewPtrInitProducerIDRequest()
	ipr.SetVersion(4)
	ipr.TransactionTimeoutMillis = 60000
	ipr.ProducerID, ipr.ProducerEpoch = -1, -1
	resp, err := rc.roundTrip(ipr)
	if err != nil {
		t.Fatal(err)
	}
	init := resp.(*kmsg.InitProducerIDResponse)
	if init.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %s", errName(init.ErrorCode))
	}
	batch := func(seq int32, values ...string) []byte {
		recs := make([]rawRecord, len(values))
		for i, v := range values {
			recs[i] = rawRecord{value: []byte(v)}
		}
		return encodeBatch(batchSpec{producerID: init.ProducerID, producerEpoch: init.ProducerEpoch,
			baseSequence: seq, firstTs: time.Now().UnixMilli()}, recs)
	}
	first := batch(0, "a", "b")
	second := batch(2, "c")
	for _, b := range [][]byte{first, second} {
		if p := produceRaw(t, rc, 11, topic, 0, b); p.ErrorCode != 0 {
			t.Fatalf("before restart: %s", errName(p.ErrorCode))
		}
	}

	n.Restart()
	adm := newAdmin(t, n.Bootstrap())
	waitTopicReady(t, adm, topic, 1)
	rc = dialRaw(t, n.Bootstrap())
	if p := produceRaw(t, rc, 11, topic, 0, second); p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Errorf("retry of the last batch after restart: %s at %d, want no error at the original offset 2", errName(p.ErrorCode), p.BaseOffset)
	}
	if p := produceRaw(t, rc, 11, topic, 0, batch(7, "gap")); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Errorf("sequence gap after restart: %s, want OUT_OF_ORDER_SEQUENCE_NUMBER", errName(p.ErrorCode))
	}
	if p := produceRaw(t, rc, 11, topic, 0, batch(3, "d")); p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Errorf("next sequence after restart: %s at %d, want success at 3", errName(p.ErrorCode), p.BaseOffset)
	}
	if end := endOffsets(t, adm, topic)[0]; end != 4 {
		t.Errorf("end offset %d, want 4 (a retry was appended twice?)", end)
	}
}
