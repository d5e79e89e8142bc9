package group

// Coordinator records on __consumer_offsets, in Kafka's formats so that the
// data on disk is what a Kafka broker would write and read.
//
// Every record has a key and, except for a tombstone, a value; both start
// with an int16 version. The key version says what the record is:
//
//	key v0, v1  OffsetCommitKey   group, topic, partition
//	            value OffsetCommitValue v0-v4 (Samsa writes v3, or v1 when the
//	            commit carries an expire timestamp from OffsetCommit v2-v4)
//	key v2      GroupMetadataKey  group
//	            value GroupMetadataValue v0-v4 (Samsa writes v3)
//	key v3-v8   KIP-848 consumer group records (consumer_records.go)
//	key v9+     share and streams group records: skipped when loading
//
// A null value is a tombstone: the offset, or the group's metadata, is
// deleted. Records of one write go in one uncompressed RecordBatch v2, so a
// write lands whole or not at all.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Key versions (the record type).
const (
	keyOffsetCommitV0  = 0
	keyOffsetCommitV1  = 1
	keyGroupMetadataV2 = 2
)

// Value versions Samsa writes.
const (
	offsetValueVersion         = 3
	offsetValueVersionExpiring = 1
	groupValueVersion          = 3
)

// record is one coordinator record; value nil is a tombstone.
type record struct {
	key, value []byte
}

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: keyOffsetCommitV1, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetRecord(group string, tp topicPartition, o offsetEntry) record {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	if o.expireTimestamp >= 0 {
		v.Version = offsetValueVersionExpiring
	}
	v.Offset, v.LeaderEpoch, v.Metadata = o.offset, o.leaderEpoch, o.metadata
	v.CommitTimestamp, v.ExpireTimestamp = o.commitTimestamp, o.expireTimestamp
	return record{key: offsetKey(group, tp.topic, tp.partition), value: v.AppendTo(nil)}
}

func offsetTombstone(group string, tp topicPartition) record {
	return record{key: offsetKey(group, tp.topic, tp.partition)}
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: keyGroupMetadataV2, Group: group}
	return k.AppendTo(nil)
}

func groupTombstone(group string) record { return record{key: groupKey(group)} }

// groupRecord encodes g's metadata with the given assignment per member (nil
// for an empty group, whose members list is empty anyway).
func groupRecord(g *group, assignment map[string][]byte) record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocolName != "" {
		name := g.protocolName
		v.Protocol = &name
	}
	if g.leader != "" {
		leader := g.leader
		v.Leader = &leader
	}
	v.CurrentStateTimestamp = g.stateTimestamp
	for _, id := range g.memberOrder {
		m := g.members[id]
		gm := kmsg.NewGroupMetadataValueMember()
		gm.MemberID, gm.InstanceID = m.id, m.instanceID
		gm.ClientID, gm.ClientHost = m.clientID, m.clientHost
		gm.RebalanceTimeoutMillis, gm.SessionTimeoutMillis = m.rebalanceTimeout, m.sessionTimeout
		gm.Subscription = m.metadataFor(g.protocolName)
		gm.Assignment = assignment[id]
		if gm.Assignment == nil {
			gm.Assignment = []byte{}
		}
		v.Members = append(v.Members, gm)
	}
	return record{key: groupKey(g.id), value: v.AppendTo(nil)}
}

// errBadRecord marks a coordinator record that does not decode.
var errBadRecord = errors.New("group: malformed coordinator record")

// decoded is one loaded record: exactly one of offset or group is set,
// unless the record is of a type Samsa skips.
type decoded struct {
	groupID string
	// offset record
	isOffset bool
	tp       topicPartition
	offset   *offsetEntry // nil: tombstone
	// group record
	isGroup bool
	meta    *kmsg.GroupMetadataValue // nil: tombstone
	// KIP-848 consumer group record
	consumer *cgDecoded
}

// decodeRecord parses a coordinator record's key and value. A key version
// above 8 (share and streams groups) yields a zero decoded and no error.
func decodeRecord(key, value []byte) (decoded, error) {
	if len(key) < 2 {
		return decoded{}, fmt.Errorf("%w: key of %d bytes", errBadRecord, len(key))
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case keyOffsetCommitV0, keyOffsetCommitV1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return decoded{}, fmt.Errorf("%w: offset commit key: %v", errBadRecord, err)
		}
		d := decoded{groupID: k.Group, isOffset: true, tp: topicPartition{k.Topic, k.Partition}}
		if value == nil {
			return d, nil
		}
		if err := checkFlexible(value, flexibleOffsetValue); err != nil {
			return decoded{}, err
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil || v.Version < 0 || v.Version > 4 {
			return decoded{}, fmt.Errorf("%w: offset commit value (version %d): %v", errBadRecord, v.Version, err)
		}
		o := offsetEntry{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata,
			commitTimestamp: v.CommitTimestamp, expireTimestamp: -1}
		if v.Version >= 3 {
			o.leaderEpoch = v.LeaderEpoch
		}
		if v.Version == 1 {
			o.expireTimestamp = v.ExpireTimestamp
		}
		d.offset = &o
		return d, nil
	case keyGroupMetadataV2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return decoded{}, fmt.Errorf("%w: group metadata key: %v", errBadRecord, err)
		}
		d := decoded{groupID: k.Group, isGroup: true}
		if value == nil {
			return d, nil
		}
		if err := checkFlexible(value, flexibleGroupValue); err != nil {
			return decoded{}, err
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(value); err != nil || v.Version < 0 || v.Version > 4 {
			return decoded{}, fmt.Errorf("%w: group metadata value (version %d): %v", errBadRecord, v.Version, err)
		}
		d.meta = &v
		return d, nil
	case keyConsumerGroupMetadata, keyConsumerPartitionMeta, keyConsumerMemberMetadata,
		keyConsumerTargetMetadata, keyConsumerTargetMember, keyConsumerCurrentAssigment:
		cd, err := decodeConsumerRecord(version, key, value)
		if err != nil {
			return decoded{}, err
		}
		return decoded{groupID: cd.groupID, consumer: &cd}, nil
	default:
		if version < 0 {
			return decoded{}, fmt.Errorf("%w: key version %d", errBadRecord, version)
		}
		return decoded{}, nil
	}
}

// checkFlexible walks a version 4 (flexible) value before kmsg decodes it:
// kmsg loops over a tagged-field count before noticing that the input ran
// out, so one crafted count would stall a load for a minute. walk must
// consume the value and reject any count larger than the bytes left.
func checkFlexible(value []byte, walk func(*walker)) error {
	if len(value) < 2 || binary.BigEndian.Uint16(value) != 4 {
		return nil
	}
	w := &walker{b: value[2:]}
	walk(w)
	if w.bad || len(w.b) != 0 {
		return fmt.Errorf("%w: malformed flexible value", errBadRecord)
	}
	return nil
}

// walker skips over Kafka's flexible encodings; bad is sticky.
type walker struct {
	b   []byte
	bad bool
}

func (w *walker) skip(n uint64) {
	if w.bad || n > uint64(len(w.b)) {
		w.bad, w.b = true, nil
		return
	}
	w.b = w.b[n:]
}

func (w *walker) uvarint() uint64 {
	v, n := binary.Uvarint(w.b)
	if n <= 0 {
		w.bad, w.b = true, nil
		return 0
	}
	w.b = w.b[n:]
	return v
}

// compact skips a compact string or bytes (length+1, 0 for null) and
// returns its length.
func (w *walker) compact() uint64 {
	n := w.uvarint()
	if n > 0 {
		w.skip(n - 1)
	}
	return n
}

func (w *walker) tags() {
	n := w.uvarint()
	if n > uint64(len(w.b)) {
		w.bad, w.b = true, nil
		return
	}
	for range n {
		w.uvarint()
		w.skip(w.uvarint())
	}
}

// flexibleOffsetValue is OffsetCommitValue v4: offset, leader epoch,
// metadata, commit timestamp, tags.
func flexibleOffsetValue(w *walker) {
	w.skip(12)
	w.compact()
	w.skip(8)
	w.tags()
}

// flexibleGroupValue is GroupMetadataValue v4: protocol type, generation,
// protocol, leader, state timestamp, members, tags.
func flexibleGroupValue(w *walker) {
	w.compact()
	w.skip(4)
	w.compact()
	w.compact()
	w.skip(8)
	n := w.uvarint()
	if n > uint64(len(w.b))+1 {
		w.bad = true
		return
	}
	for i := uint64(1); i < n && !w.bad; i++ {
		w.compact() // member id
		w.compact() // instance id
		w.compact() // client id
		w.compact() // client host
		w.skip(8)   // rebalance and session timeouts
		w.compact() // subscription
		w.compact() // assignment
		w.tags()
	}
	w.tags()
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeBatch builds one uncompressed RecordBatch v2 (protocol guide,
// "Record Batch") holding recs, with CreateTime timestamps of now and no
// producer. The broker stamps the base offset and leader epoch on append.
func encodeBatch(recs []record, now int64) []byte {
	var body []byte
	for i, r := range recs {
		body = appendRecord(body, int32(i), r)
	}
	b := make([]byte, 0, 61+len(body))
	b = binary.BigEndian.AppendUint64(b, 0)                    // base offset
	b = binary.BigEndian.AppendUint32(b, uint32(49+len(body))) // batch length
	b = binary.BigEndian.AppendUint32(b, 0)                    // partition leader epoch
	b = append(b, 2)                                           // magic
	b = binary.BigEndian.AppendUint32(b, 0)                    // crc, below
	b = binary.BigEndian.AppendUint16(b, 0)                    // attributes
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)-1))  // last offset delta
	b = binary.BigEndian.AppendUint64(b, uint64(now))          // first timestamp
	b = binary.BigEndian.AppendUint64(b, uint64(now))          // max timestamp
	b = binary.BigEndian.AppendUint64(b, ^uint64(0))           // producer id -1
	b = binary.BigEndian.AppendUint16(b, ^uint16(0))           // producer epoch -1
	b = binary.BigEndian.AppendUint32(b, ^uint32(0))           // base sequence -1
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)))    // record count
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

func appendRecord(dst []byte, delta int32, r record) []byte {
	var body []byte
	body = append(body, 0)                         // attributes
	body = binary.AppendVarint(body, 0)            // timestamp delta
	body = binary.AppendVarint(body, int64(delta)) // offset delta
	body = binary.AppendVarint(body, int64(len(r.key)))
	body = append(body, r.key...)
	if r.value == nil {
		body = binary.AppendVarint(body, -1)
	} else {
		body = binary.AppendVarint(body, int64(len(r.value)))
		body = append(body, r.value...)
	}
	body = binary.AppendVarint(body, 0) // headers
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}
