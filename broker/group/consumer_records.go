package group

// KIP-848 consumer group records on __consumer_offsets, in Kafka's formats
// (group-coordinator/src/main/resources/common/message/ConsumerGroup*.json).
// The key version is the record type; keys are not flexible (int16-length
// strings); values are flexible version 0 (compact strings and arrays,
// tagged fields at the end):
//
//	key 3  ConsumerGroupMetadata             group   -> epoch; tag 0 metadata hash
//	key 4  ConsumerGroupPartitionMetadata    group   (Kafka < 4.1; read and ignored)
//	key 5  ConsumerGroupMemberMetadata       member  -> instance, rack, client id and host,
//	                                                    subscribed names and regex,
//	                                                    rebalance timeout, server assignor
//	key 6  ConsumerGroupTargetAssignmentMetadata group -> assignment epoch
//	key 7  ConsumerGroupTargetAssignmentMember member -> target partitions by topic id
//	key 8  ConsumerGroupCurrentMemberAssignment member -> member epoch, previous epoch,
//	                                                    state, assigned and pending-revocation
//	                                                    partitions by topic id
//
// A null value is a tombstone. The metadata hash (KIP-1101) is Samsa's own
// FNV-1a over the subscribed topics' names, ids and partition counts, not
// Kafka's: a Kafka coordinator reading these records would see a different
// hash and bump the group epoch once, which is harmless.

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

const (
	keyConsumerGroupMetadata    = 3
	keyConsumerPartitionMeta    = 4
	keyConsumerMemberMetadata   = 5
	keyConsumerTargetMetadata   = 6
	keyConsumerTargetMember     = 7
	keyConsumerCurrentAssigment = 8
)

func cgKey(kind int16, group string, member *string) []byte {
	b := kbin.AppendInt16(nil, kind)
	b = kbin.AppendString(b, group)
	if member != nil {
		b = kbin.AppendString(b, *member)
	}
	return b
}

// cgValueStart begins a flexible version 0 value.
func cgValueStart() []byte { return kbin.AppendInt16(nil, 0) }

// noTags ends a flexible struct without tagged fields.
func noTags(b []byte) []byte { return kbin.AppendUvarint(b, 0) }

func cgEpochRecord(group string, epoch int32, hash uint64) record {
	v := kbin.AppendInt32(cgValueStart(), epoch)
	if hash == 0 {
		v = noTags(v)
	} else {
		v = kbin.AppendUvarint(v, 1) // one tag
		v = kbin.AppendUvarint(v, 0) // tag 0: MetadataHash
		v = kbin.AppendUvarint(v, 8)
		v = kbin.AppendInt64(v, int64(hash))
	}
	return record{key: cgKey(keyConsumerGroupMetadata, group, nil), value: v}
}

func cgMemberRecord(group string, m *consumerMember) record {
	v := cgValueStart()
	v = kbin.AppendCompactNullableString(v, m.instanceID)
	v = kbin.AppendCompactNullableString(v, m.rackID)
	v = kbin.AppendCompactString(v, m.clientID)
	v = kbin.AppendCompactString(v, m.clientHost)
	v = kbin.AppendCompactArrayLen(v, len(m.subscribedNames))
	for _, n := range m.subscribedNames {
		v = kbin.AppendCompactString(v, n)
	}
	v = kbin.AppendCompactNullableString(v, m.subscribedRegex)
	v = kbin.AppendInt32(v, m.rebalanceTimeout)
	v = kbin.AppendCompactNullableString(v, m.serverAssignor)
	v = noTags(v)
	return record{key: cgKey(keyConsumerMemberMetadata, group, &m.id), value: v}
}

func cgTargetMetadataRecord(group string, epoch int32) record {
	v := noTags(kbin.AppendInt32(cgValueStart(), epoch))
	return record{key: cgKey(keyConsumerTargetMetadata, group, nil), value: v}
}

func cgTargetMemberRecord(group, member string, a assignment) record {
	v := noTags(appendAssignment(cgValueStart(), a))
	return record{key: cgKey(keyConsumerTargetMember, group, &member), value: v}
}

func cgCurrentRecord(group string, m *consumerMember) record {
	v := cgValueStart()
	v = kbin.AppendInt32(v, m.epoch)
	v = kbin.AppendInt32(v, m.previousEpoch)
	v = kbin.AppendInt8(v, int8(m.state))
	v = appendAssignment(v, m.assigned)
	v = appendAssignment(v, m.pendingRevocation)
	v = noTags(v)
	return record{key: cgKey(keyConsumerCurrentAssigment, group, &m.id), value: v}
}

// cgMemberTombstones delete every record of one member.
func cgMemberTombstones(group, member string) []record {
	return []record{
		{key: cgKey(keyConsumerCurrentAssigment, group, &member)},
		{key: cgKey(keyConsumerTargetMember, group, &member)},
		{key: cgKey(keyConsumerMemberMetadata, group, &member)},
	}
}

// cgGroupTombstones delete a consumer group's group-level records.
func cgGroupTombstones(group string) []record {
	return []record{
		{key: cgKey(keyConsumerTargetMetadata, group, nil)},
		{key: cgKey(keyConsumerGroupMetadata, group, nil)},
	}
}

// appendAssignment writes a []TopicPartitions (topic id, partitions), each
// with its empty tag section, topics in id order.
func appendAssignment(b []byte, a assignment) []byte {
	ids := a.topicIDs()
	b = kbin.AppendCompactArrayLen(b, len(ids))
	for _, id := range ids {
		b = kbin.AppendUuid(b, id)
		ps := a[id]
		b = kbin.AppendCompactArrayLen(b, len(ps))
		for _, p := range ps {
			b = kbin.AppendInt32(b, p)
		}
		b = noTags(b)
	}
	return b
}

// cgDecoded is one consumer group record.
type cgDecoded struct {
	kind              int16
	groupID, memberID string
	tombstone         bool
	epoch             int32  // 3: group epoch; 6: assignment epoch
	hash              uint64 // 3
	member            *consumerMember
	target            assignment
}

// decodeConsumerRecord parses a record of types 3-8; key holds the version.
func decodeConsumerRecord(kind int16, key, value []byte) (cgDecoded, error) {
	d := cgDecoded{kind: kind, tombstone: value == nil}
	k := kbin.Reader{Src: key[2:]}
	d.groupID = k.String()
	switch kind {
	case keyConsumerMemberMetadata, keyConsumerTargetMember, keyConsumerCurrentAssigment:
		d.memberID = k.String()
	}
	if err := k.Complete(); err != nil {
		return cgDecoded{}, fmt.Errorf("%w: consumer group key (type %d): %v", errBadRecord, kind, err)
	}
	if value == nil || kind == keyConsumerPartitionMeta {
		return d, nil
	}
	v := kbin.Reader{Src: value}
	if version := v.Int16(); version != 0 {
		return cgDecoded{}, fmt.Errorf("%w: consumer group value (type %d) version %d", errBadRecord, kind, version)
	}
	switch kind {
	case keyConsumerGroupMetadata:
		d.epoch = v.Int32()
		readTags(&v, func(tag uint32, data []byte) {
			if tag == 0 && len(data) == 8 {
				d.hash = binary.BigEndian.Uint64(data)
			}
		})
	case keyConsumerMemberMetadata:
		d.member = readMemberMetadata(&v, d.memberID)
	case keyConsumerTargetMetadata:
		d.epoch = v.Int32()
		readTags(&v, nil)
	case keyConsumerTargetMember:
		d.target = readAssignment(&v)
		readTags(&v, nil)
	case keyConsumerCurrentAssigment:
		m := &consumerMember{id: d.memberID}
		m.epoch, m.previousEpoch = v.Int32(), v.Int32()
		m.state = memberState(v.Int8())
		m.assigned, m.pendingRevocation = readAssignment(&v), readAssignment(&v)
		readTags(&v, nil)
		d.member = m
	}
	if err := v.Complete(); err != nil {
		return cgDecoded{}, fmt.Errorf("%w: consumer group value (type %d): %v", errBadRecord, kind, err)
	}
	return d, nil
}

func readMemberMetadata(v *kbin.Reader, id string) *consumerMember {
	m := &consumerMember{id: id}
	m.instanceID = v.CompactNullableString()
	m.rackID = v.CompactNullableString()
	m.clientID = v.CompactString()
	m.clientHost = v.CompactString()
	n := v.CompactArrayLen()
	for i := int32(0); i < n && v.Ok(); i++ {
		m.subscribedNames = append(m.subscribedNames, v.CompactString())
	}
	m.subscribedRegex = v.CompactNullableString()
	m.rebalanceTimeout = v.Int32()
	m.serverAssignor = v.CompactNullableString()
	readTags(v, nil) // tag 0, ClassicMemberMetadata, is for classic members of consumer groups
	return m
}

func readAssignment(v *kbin.Reader) assignment {
	a := assignment{}
	n := v.CompactArrayLen()
	for i := int32(0); i < n && v.Ok(); i++ {
		id := v.Uuid()
		np := v.CompactArrayLen()
		var ps []int32
		for j := int32(0); j < np && v.Ok(); j++ {
			ps = append(ps, v.Int32())
		}
		readTags(v, nil)
		if len(ps) > 0 {
			a[id] = normalize(ps)
		}
	}
	return a
}

// readTags walks a tagged-field section, handing each field to fn (may be
// nil). A count or size larger than what is left marks the reader bad, so
// hostile input cannot make it loop.
func readTags(v *kbin.Reader, fn func(tag uint32, data []byte)) {
	n := v.Uvarint()
	if int(n) > len(v.Src) {
		v.Span(len(v.Src) + 1) // marks the reader bad
		return
	}
	for i := uint32(0); i < n && v.Ok(); i++ {
		tag := v.Uvarint()
		size := v.Uvarint()
		if int(size) > len(v.Src) {
			v.Span(len(v.Src) + 1)
			return
		}
		data := v.Span(int(size))
		if fn != nil && v.Ok() {
			fn(tag, data)
		}
	}
}
