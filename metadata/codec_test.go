package metadata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func ptr[T any](v T) *T { return &v }

var (
	topicA = [16]byte{0xa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	topicB = [16]byte{0xb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
)

// oneOfEach returns a record of every type, with every field set to a
// non-zero value, so a codec that drops a field fails the round trip.
func oneOfEach() []Record {
	return []Record{
		&BootstrapRecord{ClusterID: "Q2x1c3Rlcg", MetadataVersion: CurrentMetadataVersion},
		&RegisterBrokerRecord{
			NodeID: 7, IncarnationID: [16]byte{1, 2, 3}, BrokerEpoch: -1,
			Listeners: []Listener{{Name: "PLAINTEXT", Host: "h1", Port: 9092}, {Name: "SSL", Host: "h1", Port: 65535, SecurityProtocol: 1}},
			Rack:      "rack-a", Fenced: true,
		},
		&FenceBrokerRecord{NodeID: 7, BrokerEpoch: 1 << 40},
		&UnfenceBrokerRecord{NodeID: 7, BrokerEpoch: 1 << 40},
		&TopicRecord{ID: topicA, Name: "orders"},
		&PartitionRecord{TopicID: topicA, Partition: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: -5},
		&PartitionChangeRecord{TopicID: topicA, Partition: 3, Leader: ptr(int32(-1)), ISR: []int32{}, Replicas: []int32{2, 3, 4}},
		&PartitionChangeRecord{TopicID: topicA, Partition: 2, ISR: []int32{2}},
		// version 1: a reassignment's adding and removing replicas
		&PartitionRecord{TopicID: topicA, Partition: 4, Replicas: []int32{4, 1, 2}, ISR: []int32{1, 2}, Leader: 1,
			AddingReplicas: []int32{4}, RemovingReplicas: []int32{2}},
		&PartitionChangeRecord{TopicID: topicA, Partition: 4, Replicas: []int32{4, 1}, AddingReplicas: []int32{}, RemovingReplicas: []int32{}},
		&PartitionChangeRecord{TopicID: topicA, Partition: 5, AddingReplicas: []int32{3}},
		&RemoveTopicRecord{ID: topicB},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "orders", Name: "retention.ms", Value: ptr("1000")},
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Name: "x", Value: ptr("")},
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "7", Name: "y"},
		&ProducerIDsRecord{NextProducerID: 1 << 50, BrokerID: 7, BrokerEpoch: 99},
		&FeatureLevelRecord{Name: "transaction.version", Level: -2},
	}
}

func TestBatchRoundTripEveryRecordType(t *testing.T) {
	recs := oneOfEach()
	seen := map[RecordType]bool{}
	for _, r := range recs {
		seen[r.Type()] = true
	}
	for typ := TypeBootstrap; typ <= TypeFeatureLevel; typ++ {
		if !seen[typ] {
			t.Fatalf("oneOfEach lacks a %s record", typ)
		}
	}
	enc := EncodeBatch(recs)
	got, err := DecodeBatch(enc)
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, recs)
	}
	if again := EncodeBatch(got); !bytes.Equal(again, enc) {
		t.Fatal("re-encoding a decoded batch gives different bytes: the codec is not deterministic")
	}
}

func TestBatchRoundTripEmpty(t *testing.T) {
	got, err := DecodeBatch(EncodeBatch(nil))
	if err != nil || len(got) != 0 {
		t.Fatalf("empty batch: got %v, %v", got, err)
	}
}

// TestDecodeBatchTruncatedNeverPanics decodes every proper prefix of a
// valid batch: each must fail with ErrCorrupt.
func TestDecodeBatchTruncatedNeverPanics(t *testing.T) {
	enc := EncodeBatch(oneOfEach())
	for n := 0; n < len(enc); n++ {
		_, err := DecodeBatch(enc[:n])
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrCorrupt", n, len(enc), err)
		}
	}
}

// TestDecodeBatchHostileInput feeds framing that lies about lengths and
// values; each must fail cleanly, without allocating by the lie.
func TestDecodeBatchHostileInput(t *testing.T) {
	u := func(vs ...uint64) []byte {
		b := []byte{batchFormat}
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	cases := map[string][]byte{
		"empty":                 {},
		"unknown format":        {9, 0},
		"huge count":            u(1 << 62),
		"count 0xFFFFFFFF":      u(0xFFFFFFFF),
		"overlong varint":       append([]byte{batchFormat}, bytes.Repeat([]byte{0xff}, 11)...),
		"unknown type":          u(1, 999, 0, 0),
		"type beyond uint16":    u(1, 1<<20, 0, 0),
		"future version":        u(1, uint64(TypeTopic), 1, 0),
		"payload length lies":   u(1, uint64(TypeTopic), 0, 1<<40),
		"empty payload":         u(1, uint64(TypeTopic), 0, 0),
		"trailing after batch":  append(EncodeBatch(nil), 0),
		"string length lies":    append(u(1, uint64(TypeBootstrap), 0, 3), 0xff, 0xff, 0x7f),
		"int32s count lies":     append(u(1, uint64(TypePartition), 0, 18), append(make([]byte, 16), 0, 0xff)...),
		"trailing payload byte": append(u(1, uint64(TypeRemoveTopic), 0, 17), make([]byte, 17)...),
	}
	// "int32 out of range": a partition number beyond int32.
	pr := u(1, uint64(TypePartition), 0)
	payload := append(make([]byte, 16), binary.AppendVarint(nil, 1<<40)...)
	cases["int32 out of range"] = append(binary.AppendUvarint(pr, uint64(len(payload))), payload...)
	// "bad bool": a PartitionChange whose leader-present flag is 2.
	pc := u(1, uint64(TypePartitionChange), 0)
	payload = append(make([]byte, 16), 0, 2)
	cases["bad bool"] = append(binary.AppendUvarint(pc, uint64(len(payload))), payload...)

	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			recs, err := DecodeBatch(in)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, %v; want an ErrCorrupt error", recs, err)
			}
		})
	}
	if _, err := DecodeBatch(u(1, 999, 0, 0)); !errors.Is(err, ErrUnknownRecordType) {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := DecodeBatch(u(1, uint64(TypeTopic), 1, 0)); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("future version: %v", err)
	}
}

// FuzzDecodeBatch checks that DecodeBatch never panics and that whatever it
// accepts re-encodes to a batch that decodes to the same records.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{batchFormat, 0})
	f.Add([]byte{batchFormat, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(EncodeBatch(oneOfEach()[:1]))
	f.Add(EncodeBatch(oneOfEach()))
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, err := DecodeBatch(in)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		again, err := DecodeBatch(EncodeBatch(recs))
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(recs)) {
			t.Fatalf("re-encoded batch differs:\n%#v\n%#v", again, recs)
		}
		// Applying hostile batches must not panic either.
		_, _, _ = Empty().Apply(recs, 1)
	})
}

// normalize maps empty non-nullable slices to nil: the codec does not
// distinguish them.
func normalize(recs []Record) []Record {
	for _, r := range recs {
		switch r := r.(type) {
		case *PartitionRecord:
			if len(r.Replicas) == 0 {
				r.Replicas = nil
			}
			if len(r.ISR) == 0 {
				r.ISR = nil
			}
		case *RegisterBrokerRecord:
			if len(r.Listeners) == 0 {
				r.Listeners = nil
			}
		}
	}
	return recs
}
