package test

// The produce and fetch paths spoken to byte for byte with hand-built kmsg
// requests: batch validation (protocol guide, "Record Batch"), idempotent
// sequences (KIP-98), delayed fetches and the encoding of empty answers.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/test/harness"
)

// The produce path validates what it appends (protocol guide, "Record
// Batch"; KIP-98 sequences): a bad CRC gives CORRUPT_MESSAGE, magic 1 gives
// UNSUPPORTED_FOR_MESSAGE_FORMAT, a batch over max.message.bytes gives
// MESSAGE_TOO_LARGE, and none of them appends anything; a retried idempotent
// batch is answered with its original offset and stored once; a sequence gap
// gives OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestProduceValidatesBatches(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "raw-produce"
	createTopic(t, adm, topic, 1, nil)
	rc := dialRaw(t, n.Bootstrap())
	const v = 11

	if p := produceRaw(t, rc, v, topic, 0, plainBatch("one", "two")); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("valid batch: %s at base offset %d, want success at 0", errName(p.ErrorCode), p.BaseOffset)
	}
	end := func() int64 { t.Helper(); return endOffsets(t, adm, topic)[0] }
	if e := end(); e != 2 {
		t.Fatalf("end offset %d after a 2-record batch, want 2", e)
	}

	t.Run("corrupt CRC", func(t *testing.T) {
		b := plainBatch("three", "four")
		b[len(b)-2] ^= 0xFF // a byte of the last record's value, under the CRC
		p := produceRaw(t, rc, v, topic, 0, b)
		if p.ErrorCode != kerr.CorruptMessage.Code {
			t.Errorf("got %s, want CORRUPT_MESSAGE", errName(p.ErrorCode))
		}
		if e := end(); e != 2 {
			t.Errorf("end offset %d after a refused batch, want 2", e)
		}
	})
	t.Run("magic 1", func(t *testing.T) {
		p := produceRaw(t, rc, v, topic, 0, legacyMessageV1([]byte("k"), []byte("old format")))
		if p.ErrorCode != kerr.UnsupportedForMessageFormat.Code && p.ErrorCode != kerr.CorruptMessage.Code {
			t.Errorf("got %s, want UNSUPPORTED_FOR_MESSAGE_FORMAT or CORRUPT_MESSAGE", errName(p.ErrorCode))
		}
		if e := end(); e != 2 {
			t.Errorf("end offset %d after a refused batch, want 2", e)
		}
	})
	t.Run("over max.message.bytes", func(t *testing.T) {
		p := produceRaw(t, rc, v, topic, 0, plainBatch(strings.Repeat("y", 1048588)))
		if p.ErrorCode != kerr.MessageTooLarge.Code {
			t.Errorf("got %s, want MESSAGE_TOO_LARGE", errName(p.ErrorCode))
		}
		if e := end(); e != 2 {
			t.Errorf("end offset %d after a refused batch, want 2", e)
		}
	})
	t.Run("invalid acks", func(t *testing.T) {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(v)
		req.Acks = 2
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = plainBatch("acks two")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := rc.roundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidRequiredAcks.Code {
			t.Errorf("acks=2: got %s, want INVALID_REQUIRED_ACKS", errName(code))
		}
	})

	ipr := kmsg.NewPtrInitProducerIDRequest()
	ipr.SetVersion(4)
	ipr.TransactionTimeoutMillis = 60000
	ipr.ProducerID, ipr.ProducerEpoch = -1, -1
	resp, err := rc.roundTrip(ipr)
	if err != nil {
		t.Fatal(err)
	}
	init := resp.(*kmsg.InitProducerIDResponse)
	if init.ErrorCode != 0 || init.ProducerID < 0 {
		t.Fatalf("InitProducerId: %s, producer id %d", errName(init.ErrorCode), init.ProducerID)
	}
	idem := func(seq int32, values ...string) []byte {
		recs := make([]rawRecord, len(values))
		for i, val := range values {
			recs[i] = rawRecord{value: []byte(val)}
		}
		return encodeBatch(batchSpec{producerID: init.ProducerID, producerEpoch: init.ProducerEpoch,
			baseSequence: seq, firstTs: time.Now().UnixMilli()}, recs)
	}

	t.Run("idempotent duplicate", func(t *testing.T) {
		b := idem(0, "i0", "i1", "i2")
		first := produceRaw(t, rc, v, topic, 0, b)
		if first.ErrorCode != 0 {
			t.Fatalf("first send: %s", errName(first.ErrorCode))
		}
		second := produceRaw(t, rc, v, topic, 0, b)
		if second.ErrorCode != 0 && second.ErrorCode != kerr.DuplicateSequenceNumber.Code {
			t.Errorf("retry of the same batch: %s, want no error", errName(second.ErrorCode))
		}
		if second.ErrorCode != 0 {
			t.Logf("retry answered DUPLICATE_SEQUENCE_NUMBER (Kafka answers NONE since 2.x)")
		}
		if second.BaseOffset != first.BaseOffset {
			t.Errorf("retry answered base offset %d, want the original %d", second.BaseOffset, first.BaseOffset)
		}
		if e := end(); e != first.BaseOffset+3 {
			t.Errorf("end offset %d, want %d: the retry was appended again", e, first.BaseOffset+3)
		}
		var values []string
		for _, b := range fetchBatches(t, rc, topic, 0, 0) {
			values = append(values, fmt.Sprintf("%d@%d", b.NumRecords, b.FirstOffset))
		}
		if len(values) != 2 {
			t.Errorf("stored batches %v, want the first plain batch and one copy of the idempotent one", values)
		}
	})
	t.Run("sequence gap", func(t *testing.T) {
		before := end()
		p := produceRaw(t, rc, v, topic, 0, idem(10, "gap"))
		if p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
			t.Errorf("sequence 10 after 0-2: %s, want OUT_OF_ORDER_SEQUENCE_NUMBER", errName(p.ErrorCode))
		}
		if e := end(); e != before {
			t.Errorf("end offset %d after a refused batch, want %d", e, before)
		}
		if p := produceRaw(t, rc, v, topic, 0, idem(3, "next")); p.ErrorCode != 0 || p.BaseOffset != before {
			t.Errorf("the in-order sequence 3 after the gap: %s at %d, want success at %d", errName(p.ErrorCode), p.BaseOffset, before)
		}
	})
}

// legacyMessageV1 encodes a one-message v1 message set (magic 1, pre-0.11).
func legacyMessageV1(key, value []byte) []byte {
	var msg []byte
	msg = append(msg, 1, 0) // magic, attributes
	msg = binary.BigEndian.AppendUint64(msg, uint64(time.Now().UnixMilli()))
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(key)))
	msg = append(msg, key...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(value)))
	msg = append(msg, value...)
	var b []byte
	b = binary.BigEndian.AppendUint64(b, 0)                       // offset
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(msg)))      // message size
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(msg)) // crc
	return append(b, msg...)
}

// A delayed fetch (min.bytes 1, max.wait 60s) on an empty partition is
// answered with the new record once it is produced, long before max.wait.
func TestDelayedFetchIsWokenByProduce(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "raw-longpoll"
	createTopic(t, adm, topic, 1, nil)
	rc := dialRaw(t, n.Bootstrap())

	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxWaitMillis = 60000
	req.MinBytes = 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.LogStartOffset = -1, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	corr, err := rc.send(req)
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	var fr *kmsg.FetchResponse
	go func() {
		resp, err := rc.readResponse(req, corr)
		if err == nil {
			fr = resp.(*kmsg.FetchResponse)
		}
		answered <- err
	}()

	p := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic))
	if err := p.ProduceSync(testCtx(t), kgo.StringRecord("long-poll")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a delayed fetch with max.wait 60s was not answered 30s after a produce to its partition: not woken by the high watermark")
	}
	if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 || len(fr.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("delayed fetch answered without the record: %+v", fr)
	}
}

// A fetch of a partition with nothing to return answers an empty record
// set, never a null one, at every Fetch version: Kafka always writes
// MemoryRecords.EMPTY there, and librdkafka (kcat, confluent-kafka) treats
// a null record set (size -1) as a protocol parse failure ("invalid
// MessageSetSize -1") and backs off instead of reporting the partition's
// end.
func TestFetchOfEmptyPartitionAnswersEmptyRecordsNotNull(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "raw-empty-fetch"
	id := createTopic(t, adm, topic, 1, nil).ID
	rc := dialRaw(t, n.Bootstrap())
	for v := int16(4); v <= 17; v++ {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(v)
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.LogStartOffset = -1, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		corr, err := rc.send(req)
		if err != nil {
			t.Fatal(err)
		}
		frame, err := rc.readFrame(10 * time.Second)
		if err != nil {
			t.Fatalf("Fetch v%d: %v", v, err)
		}
		resp := kmsg.NewPtrFetchResponse()
		resp.SetVersion(v)
		if err := decodeResponse(frame, corr, resp, fmt.Sprintf("Fetch v%d", v)); err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("Fetch v%d: unexpected answer %+v", v, resp)
		}
		// The record set is the last field of the only partition of the
		// only topic: a 4-byte size before v12; from v12 a compact size
		// followed by the partition's, topic's and response's empty tag
		// sections.
		var null bool
		if v < 12 {
			null = binary.BigEndian.Uint32(frame[len(frame)-4:]) == 0xFFFFFFFF
		} else {
			null = frame[len(frame)-4] == 0
		}
		if null {
			t.Errorf("Fetch v%d of an empty partition: the record set is null, want empty", v)
		}
	}
}
