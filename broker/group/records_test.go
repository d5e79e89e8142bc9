package group

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/storage"
)

// kafkaString is a Kafka protocol STRING: int16 length, bytes.
func kafkaString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// The offset commit record is Kafka's, byte for byte: key version 1
// (OffsetCommitKey: group, topic, partition) and value version 3
// (OffsetCommitValue: offset, leader epoch, metadata, commit timestamp), so
// a Kafka broker reads what Samsa wrote and the other way round.
func TestOffsetCommitRecordIsKafkasFormat(t *testing.T) {
	r := offsetRecord("grp", topicPartition{"orders", 7}, offsetEntry{
		offset: 1234, leaderEpoch: 5, metadata: "meta", commitTimestamp: 1700000000000, expireTimestamp: -1})
	key := binary.BigEndian.AppendUint16(nil, 1)
	key = kafkaString(key, "grp")
	key = kafkaString(key, "orders")
	key = binary.BigEndian.AppendUint32(key, 7)
	if !bytes.Equal(r.key, key) {
		t.Fatalf("key\n got %x\nwant %x", r.key, key)
	}
	val := binary.BigEndian.AppendUint16(nil, 3)
	val = binary.BigEndian.AppendUint64(val, 1234)
	val = binary.BigEndian.AppendUint32(val, 5)
	val = kafkaString(val, "meta")
	val = binary.BigEndian.AppendUint64(val, 1700000000000)
	if !bytes.Equal(r.value, val) {
		t.Fatalf("value\n got %x\nwant %x", r.value, val)
	}
	if !bytes.Equal(groupTombstone("grp").key, kafkaString(binary.BigEndian.AppendUint16(nil, 2), "grp")) {
		t.Fatal("group metadata key is not version 2 + group")
	}
}

// Older and foreign records load: offset key version 0 with a version 1
// value (expire timestamp), group metadata value version 0 (no rebalance
// timeout: the session timeout stands in), and share and streams group
// record types (key version 9 and up), which are skipped.
func TestDecodeOlderAndForeignRecords(t *testing.T) {
	key := binary.BigEndian.AppendUint16(nil, 0)
	key = kafkaString(key, "g")
	key = kafkaString(key, "t")
	key = binary.BigEndian.AppendUint32(key, 2)
	val := binary.BigEndian.AppendUint16(nil, 1)
	val = binary.BigEndian.AppendUint64(val, 99)
	val = kafkaString(val, "")
	val = binary.BigEndian.AppendUint64(val, 1000)
	val = binary.BigEndian.AppendUint64(val, 5000)
	d, err := decodeRecord(key, val)
	if err != nil || !d.isOffset || d.offset.offset != 99 || d.offset.expireTimestamp != 5000 || d.offset.leaderEpoch != -1 {
		t.Fatalf("v0 key / v1 value: %+v %+v %v", d, d.offset, err)
	}

	gv := kmsg.NewGroupMetadataValue()
	gv.Version, gv.ProtocolType, gv.Generation = 0, "consumer", 4
	proto, leader := "range", "m1"
	gv.Protocol, gv.Leader = &proto, &leader
	m := kmsg.NewGroupMetadataValueMember()
	m.MemberID, m.SessionTimeoutMillis, m.Subscription, m.Assignment = "m1", 10000, consumerMeta("t"), []byte("a")
	gv.Members = append(gv.Members, m)
	l := newLoader()
	if err := l.apply(groupKey("g"), gv.AppendTo(nil)); err != nil {
		t.Fatal(err)
	}
	if err := l.apply(binary.BigEndian.AppendUint16(nil, 9), []byte{0, 0}); err != nil || l.skipped != 1 {
		t.Fatalf("share group record: %v, skipped %d", err, l.skipped)
	}
	s := newState(coreConfig{}, nopLogger(), func() string { return "x" })
	s.install(l, 1)
	g := s.groups["g"]
	if g == nil || g.state != stateStable || g.members["m1"].rebalanceTimeout != 10000 || g.stateTimestamp != -1 {
		t.Fatalf("loaded v0 group: %+v", g)
	}
	for _, bad := range [][]byte{nil, {0}, {0xFF, 0xFF}, {0, 1, 0, 9, 'x'}} {
		if _, err := decodeRecord(bad, []byte{0}); err == nil {
			t.Errorf("key %x decoded without error", bad)
		}
	}
}

// A coordinator write is one valid RecordBatch v2 (CRC-32C, no producer)
// whose records decode back to the keys and values, tombstones included.
func TestEncodeBatchRoundTrip(t *testing.T) {
	recs := []record{offsetTombstone("g", topicPartition{"t", 1}), groupTombstone("g"),
		offsetRecord("g", topicPartition{"t", 0}, offsetEntry{offset: 1, expireTimestamp: -1})}
	b := encodeBatch(recs, 1700000000000)
	if _, err := storage.ValidateBatches(b, 1<<20); err != nil {
		t.Fatalf("ValidateBatches: %v", err)
	}
	out, err := storage.DecodeRecords(b)
	if err != nil || len(out) != len(recs) {
		t.Fatalf("DecodeRecords: %d records, %v", len(out), err)
	}
	for i, r := range out {
		if !bytes.Equal(r.Key, recs[i].key) || !bytes.Equal(r.Value, recs[i].value) || (r.Value == nil) != (recs[i].value == nil) {
			t.Errorf("record %d: key %x value %x, want %x %x", i, r.Key, r.Value, recs[i].key, recs[i].value)
		}
	}
}

// decodeRecord never panics, whatever the bytes on disk.
func FuzzDecodeRecord(f *testing.F) {
	ok := offsetRecord("g", topicPartition{"t", 0}, offsetEntry{offset: 1, expireTimestamp: -1})
	f.Add(ok.key, ok.value)
	f.Add(groupKey("g"), []byte{})
	f.Add([]byte{}, []byte(nil))
	f.Add([]byte{0, 2, 0xFF, 0xFF}, []byte{0, 3, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		decodeRecord(key, value)
		newLoader().apply(key, value)
	})
}

// A flexible (v4) value with a huge tagged-field count is refused at once
// rather than handed to kmsg, which would loop over the count.
func TestHostileTagCountIsRefusedQuickly(t *testing.T) {
	val := []byte{0, 4, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}
	if _, err := decodeRecord(groupKey("g"), val); err == nil {
		t.Fatal("decoded a group value with a hostile tag count")
	}
	// Well-formed v4 values still decode.
	gv := kmsg.NewGroupMetadataValue()
	gv.Version, gv.ProtocolType = 4, "consumer"
	gv.Members = append(gv.Members, kmsg.NewGroupMetadataValueMember())
	if _, err := decodeRecord(groupKey("g"), gv.AppendTo(nil)); err != nil {
		t.Fatalf("v4 group value: %v", err)
	}
	ov := kmsg.NewOffsetCommitValue()
	ov.Version, ov.TopicID = 4, [16]byte{1}
	if d, err := decodeRecord(offsetKey("g", "t", 0), ov.AppendTo(nil)); err != nil || d.offset == nil {
		t.Fatalf("v4 offset value: %v", err)
	}
}
