package metadata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"slices"
	"testing"
)

// TestPartitionRecordsWriteVersion1OnlyForReassignments checks the
// versioning rule of the package doc for the reassignment fields (KIP-455
// AddingReplicas / RemovingReplicas): a record without them is written at
// version 0, byte for byte as before they existed, so that a node that
// reads only version 0 keeps following a log without reassignments; one
// with them is written at version 1 and round-trips.
func TestPartitionRecordsWriteVersion1OnlyForReassignments(t *testing.T) {
	cases := []struct {
		rec     Record
		version uint16
	}{
		{&PartitionRecord{TopicID: topicA, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}, 0},
		{&PartitionRecord{TopicID: topicA, Replicas: []int32{3, 1, 2}, AddingReplicas: []int32{3}}, 1},
		{&PartitionRecord{TopicID: topicA, Replicas: []int32{1, 2}, RemovingReplicas: []int32{2}}, 1},
		{&PartitionChangeRecord{TopicID: topicA, ISR: []int32{1}}, 0},
		{&PartitionChangeRecord{TopicID: topicA, AddingReplicas: []int32{}}, 1},
		{&PartitionChangeRecord{TopicID: topicA, RemovingReplicas: []int32{2}}, 1},
	}
	for i, c := range cases {
		enc := EncodeBatch([]Record{c.rec})
		// format, count, type, then the version uvarint.
		if got := enc[3]; uint16(got) != c.version {
			t.Errorf("case %d: written at version %d, want %d", i, got, c.version)
		}
		got, err := DecodeBatch(enc)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !reflect.DeepEqual(got[0], c.rec) {
			t.Errorf("case %d: round trip %#v, want %#v", i, got[0], c.rec)
		}
	}
}

// TestPartitionRecordVersion0StillDecodes decodes version-0 bytes written
// before the reassignment fields existed (kept verbatim here): they decode
// with no reassignment, and a version this binary does not know (2) is
// refused rather than half read.
func TestPartitionRecordVersion0StillDecodes(t *testing.T) {
	// PartitionRecord v0 {topicA, partition 0, replicas [1 2 3], ISR [1 2 3], leader 1, epochs 0}.
	v0 := []byte("\x00\x01\x06\x00\x1c\n\x01\x02\x03\x04\x05\x06\a\b\t\n\v\f\r\x0e\x0f\x00\x03\x02\x04\x06\x03\x02\x04\x06\x02\x00\x00")
	recs, err := DecodeBatch(v0)
	if err != nil {
		t.Fatal(err)
	}
	want := &PartitionRecord{TopicID: topicA, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}
	if !reflect.DeepEqual(recs[0], want) {
		t.Fatalf("decoded %#v, want %#v", recs[0], want)
	}
	if again := EncodeBatch(recs); !bytes.Equal(again, v0) {
		t.Fatalf("re-encoded as %q, want the version-0 bytes", again)
	}
	// PartitionChangeRecord v0 {topicA, partition 0, no leader, ISR [1], replicas null}.
	pc := append([]byte{batchFormat, 1, byte(TypePartitionChange), 0, 21}, topicA[:]...)
	pc = append(pc, 0, 0, 2, 2, 0)
	recs, err = DecodeBatch(pc)
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0].(*PartitionChangeRecord); got.AddingReplicas != nil || got.RemovingReplicas != nil || !slices.Equal(got.ISR, []int32{1}) {
		t.Fatalf("decoded %#v", got)
	}
	future := append([]byte{batchFormat, 1, byte(TypePartition), 2}, binary.AppendUvarint(nil, uint64(len(v0)-5))...)
	future = append(future, v0[5:]...)
	if _, err := DecodeBatch(future); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("PartitionRecord v2: %v, want ErrUnsupportedVersion", err)
	}
}

// TestApplyReassignmentState follows a reassignment through the image: the
// start (replicas = union, adding and removing set), completion (replicas =
// target, both cleared), each bumping the partition epoch; a snapshot
// carries the state; and a record that names an adding or removing replica
// outside the replicas is refused.
func TestApplyReassignmentState(t *testing.T) {
	img := baseImage(t) // partitions of "a" on [1 2]
	img, d := applyOK(t, img, 3, &PartitionChangeRecord{TopicID: topicA, Partition: 0,
		Replicas: []int32{3, 1, 2}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{2}})
	tp, _ := img.TopicByName("a")
	p := tp.Partitions[0]
	if !p.Reassigning() || !slices.Equal(p.Replicas, []int32{3, 1, 2}) || !slices.Equal(p.AddingReplicas, []int32{3}) ||
		!slices.Equal(p.RemovingReplicas, []int32{2}) || p.PartitionEpoch != 1 {
		t.Fatalf("after the start: %+v", p)
	}
	if !slices.Equal(p.TargetReplicas(), []int32{3, 1}) || !slices.Equal(p.OriginalReplicas(), []int32{1, 2}) {
		t.Fatalf("target %v, original %v", p.TargetReplicas(), p.OriginalReplicas())
	}
	if len(d.ChangedTopics) != 1 || !slices.Equal(d.ChangedTopics[0].ChangedPartitions, []int32{0}) {
		t.Fatalf("delta %+v", d)
	}

	snap, err := DecodeSnapshot(img.EncodeSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := snap.TopicByName("a"); !st.Partitions[0].equal(&p) {
		t.Fatalf("snapshot partition %+v, want %+v", st.Partitions[0], p)
	}

	// A change of the ISR alone keeps the reassignment.
	img, _ = applyOK(t, img, 4, &PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: []int32{1, 2, 3}})
	tp, _ = img.TopicByName("a")
	if p := tp.Partitions[0]; !p.Reassigning() || p.PartitionEpoch != 2 {
		t.Fatalf("after an ISR change: %+v", p)
	}
	img, _ = applyOK(t, img, 5, &PartitionChangeRecord{TopicID: topicA, Partition: 0,
		Replicas: []int32{3, 1}, ISR: []int32{1, 3}, AddingReplicas: []int32{}, RemovingReplicas: []int32{}})
	tp, _ = img.TopicByName("a")
	if p := tp.Partitions[0]; p.Reassigning() || p.AddingReplicas != nil || p.RemovingReplicas != nil ||
		!slices.Equal(p.Replicas, []int32{3, 1}) || p.PartitionEpoch != 3 {
		t.Fatalf("after completion: %+v", p)
	}

	bad := []*PartitionChangeRecord{
		{AddingReplicas: []int32{4}},                                                        // not a replica
		{Replicas: []int32{1, 2}, RemovingReplicas: []int32{3}},                             // not a replica
		{Replicas: []int32{1, 2}, AddingReplicas: []int32{2}, RemovingReplicas: []int32{2}}, // both
	}
	for i, r := range bad {
		r.TopicID, r.Partition = topicA, 1
		if _, _, err := img.Apply([]Record{r}, 6); !errors.Is(err, ErrInconsistent) {
			t.Errorf("bad change %d: %v, want ErrInconsistent", i, err)
		}
	}
	if _, _, err := img.Apply([]Record{&PartitionRecord{TopicID: topicA, Partition: 1, Replicas: []int32{1},
		AddingReplicas: []int32{2}}}, 6); !errors.Is(err, ErrInconsistent) {
		t.Errorf("partition record adding a non-replica: %v", err)
	}
}
