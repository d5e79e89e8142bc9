package metadata

import (
	"reflect"
	"testing"
)

func TestUnregisterBrokerRecordRoundTrip(t *testing.T) {
	recs := []Record{&UnregisterBrokerRecord{NodeID: 7, BrokerEpoch: 1 << 40}}
	got, err := DecodeBatch(EncodeBatch(recs))
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, recs)
	}
	if s := TypeUnregisterBroker.String(); s != "UnregisterBroker" {
		t.Fatalf("String() = %q", s)
	}
}

func TestApplyUnregisterBroker(t *testing.T) {
	img, _, err := Empty().Apply([]Record{
		&BootstrapRecord{ClusterID: "c", MetadataVersion: CurrentMetadataVersion},
		&RegisterBrokerRecord{NodeID: 1, BrokerEpoch: 5},
		&RegisterBrokerRecord{NodeID: 2, BrokerEpoch: 6},
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := img.Apply([]Record{&UnregisterBrokerRecord{NodeID: 1, BrokerEpoch: 4}}, 2); err == nil {
		t.Fatal("unregistering with a stale epoch applied")
	}
	if _, _, err := img.Apply([]Record{&UnregisterBrokerRecord{NodeID: 3, BrokerEpoch: 5}}, 2); err == nil {
		t.Fatal("unregistering an unknown broker applied")
	}
	next, delta, err := img.Apply([]Record{&UnregisterBrokerRecord{NodeID: 1, BrokerEpoch: 5}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := next.Broker(1); ok {
		t.Fatal("broker 1 still registered")
	}
	if bs := next.Brokers(); len(bs) != 1 || bs[0].ID != 2 {
		t.Fatalf("brokers = %+v", bs)
	}
	if _, ok := img.Broker(1); !ok {
		t.Fatal("the base image was modified")
	}
	if !reflect.DeepEqual(delta.ChangedBrokers, []int32{1}) {
		t.Fatalf("ChangedBrokers = %v", delta.ChangedBrokers)
	}
	// A snapshot of the image no longer carries the broker.
	for _, r := range next.Records() {
		if rb, ok := r.(*RegisterBrokerRecord); ok && rb.NodeID == 1 {
			t.Fatal("snapshot still registers broker 1")
		}
	}
}

// FuzzDecodeBatch's seeds come from oneOfEach; this adds the new type.
func FuzzDecodeUnregisterBroker(f *testing.F) {
	f.Add(EncodeBatch([]Record{&UnregisterBrokerRecord{NodeID: 7, BrokerEpoch: 3}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, err := DecodeBatch(in)
		if err != nil {
			return
		}
		if _, err := DecodeBatch(EncodeBatch(recs)); err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		_, _, _ = Empty().Apply(recs, 1)
	})
}
