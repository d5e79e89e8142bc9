package metadata

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// applyOK applies a batch and fails the test on error.
func applyOK(t *testing.T, img *Image, offset uint64, recs ...Record) (*Image, *Delta) {
	t.Helper()
	next, d, err := img.Apply(recs, offset)
	if err != nil {
		t.Fatalf("Apply at %d: %v", offset, err)
	}
	if next.Offset() != offset || d.Offset != offset {
		t.Fatalf("offset: image %d, delta %d, want %d", next.Offset(), d.Offset, offset)
	}
	return next, d
}

func topicRecords(id [16]byte, name string, partitions int, replicas ...int32) []Record {
	recs := []Record{&TopicRecord{ID: id, Name: name}}
	for p := 0; p < partitions; p++ {
		recs = append(recs, &PartitionRecord{TopicID: id, Partition: int32(p), Replicas: replicas, ISR: replicas, Leader: replicas[0]})
	}
	return recs
}

// baseImage is a bootstrapped cluster with two brokers and topic "a".
func baseImage(t *testing.T) *Image {
	img, _ := applyOK(t, Empty(), 1,
		&BootstrapRecord{ClusterID: "cluster-1", MetadataVersion: CurrentMetadataVersion},
		&RegisterBrokerRecord{NodeID: 1, BrokerEpoch: -1, Listeners: []Listener{{Name: "PLAINTEXT", Host: "h", Port: 1}}},
		&RegisterBrokerRecord{NodeID: 2, BrokerEpoch: -1},
	)
	img, _ = applyOK(t, img, 2, topicRecords(topicA, "a", 3, 1, 2)...)
	return img
}

func TestApplyBootstrapAndBrokers(t *testing.T) {
	img := baseImage(t)
	if img.ClusterID() != "cluster-1" || img.MetadataVersion() != CurrentMetadataVersion {
		t.Fatalf("cluster id %q, metadata version %d", img.ClusterID(), img.MetadataVersion())
	}
	bs := img.Brokers()
	if len(bs) != 2 || bs[0].ID != 1 || bs[1].ID != 2 {
		t.Fatalf("brokers = %+v", bs)
	}
	// A negative epoch in RegisterBroker resolves to the batch offset.
	if bs[0].Epoch != 1 {
		t.Fatalf("broker epoch = %d, want the registration offset 1", bs[0].Epoch)
	}
	if _, _, err := img.Apply([]Record{&BootstrapRecord{ClusterID: "other"}}, 3); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("second bootstrap with another cluster id: %v", err)
	}
	img2, d := applyOK(t, img, 3, &FenceBrokerRecord{NodeID: 2, BrokerEpoch: 1})
	if b, _ := img2.Broker(2); !b.Fenced || !slices.Equal(d.ChangedBrokers, []int32{2}) {
		t.Fatalf("fence: broker %+v, delta %+v", b, d.ChangedBrokers)
	}
	if got := img2.UnfencedBrokers(); !slices.Equal(got, []int32{1}) {
		t.Fatalf("unfenced = %v", got)
	}
	if _, _, err := img2.Apply([]Record{&UnfenceBrokerRecord{NodeID: 2, BrokerEpoch: 7}}, 4); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("unfence with a stale epoch: %v", err)
	}
}

func TestApplyCreatesTopicWithPartitions(t *testing.T) {
	img := baseImage(t)
	img, d := applyOK(t, img, 3, topicRecords(topicB, "b", 2, 2, 1)...)
	tb, ok := img.TopicByName("b")
	if !ok || tb.ID != topicB || len(tb.Partitions) != 2 || tb.Partitions[1].Leader != 2 {
		t.Fatalf("topic b = %+v", tb)
	}
	if byID, _ := img.TopicByID(topicB); byID != tb {
		t.Fatal("TopicByID and TopicByName disagree")
	}
	if len(d.CreatedTopics) != 1 || d.CreatedTopics[0] != tb || len(d.ChangedTopics) != 0 {
		t.Fatalf("delta = %+v", d)
	}
	names := []string{}
	for _, tp := range img.Topics() {
		names = append(names, tp.Name)
	}
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("Topics() = %v", names)
	}
}

// TestPartitionChangeBumpsEpochs checks Kafka's epoch rules (KIP-631,
// PartitionChangeRecord): a new leader bumps the leader epoch; any change of
// leader, ISR or replicas bumps the partition epoch; no change, no bump.
func TestPartitionChangeBumpsEpochs(t *testing.T) {
	img := baseImage(t)
	part := func(img *Image) Partition {
		tp, _ := img.TopicByName("a")
		return tp.Partitions[1]
	}
	steps := []struct {
		rec                      *PartitionChangeRecord
		leader, leaderEpoch, pEp int32
		isr                      []int32
		changed                  bool
	}{
		{&PartitionChangeRecord{ISR: []int32{1}}, 1, 0, 1, []int32{1}, true},
		{&PartitionChangeRecord{Leader: ptr(int32(2)), ISR: []int32{2}}, 2, 1, 2, []int32{2}, true},
		{&PartitionChangeRecord{Leader: ptr(int32(2))}, 2, 1, 2, []int32{2}, false},
		{&PartitionChangeRecord{Replicas: []int32{2, 1, 3}}, 2, 1, 3, []int32{2}, true},
		{&PartitionChangeRecord{Leader: ptr(NoLeader), ISR: []int32{}}, NoLeader, 2, 4, []int32{}, true},
	}
	off := uint64(2)
	for i, s := range steps {
		off++
		s.rec.TopicID, s.rec.Partition = topicA, 1
		var d *Delta
		img, d = applyOK(t, img, off, s.rec)
		p := part(img)
		if p.Leader != s.leader || p.LeaderEpoch != s.leaderEpoch || p.PartitionEpoch != s.pEp || !slices.Equal(p.ISR, s.isr) {
			t.Fatalf("step %d: partition = %+v, want leader %d epoch %d partition epoch %d isr %v",
				i, p, s.leader, s.leaderEpoch, s.pEp, s.isr)
		}
		changed := len(d.ChangedTopics) == 1 && slices.Equal(d.ChangedTopics[0].ChangedPartitions, []int32{1})
		if changed != s.changed || (!s.changed && !d.Empty()) {
			t.Fatalf("step %d: delta %+v, want changed=%v", i, d, s.changed)
		}
	}
	if _, _, err := img.Apply([]Record{&PartitionChangeRecord{TopicID: topicA, Partition: 3, ISR: []int32{1}}}, off+1); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("change of a missing partition: %v", err)
	}
}

func TestApplyRemoveTopic(t *testing.T) {
	img := baseImage(t)
	v := "1000"
	img, _ = applyOK(t, img, 3, &ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: ConfigRetentionMs, Value: &v})
	old, _ := img.TopicByName("a")
	img, d := applyOK(t, img, 4, &RemoveTopicRecord{ID: topicA})
	if _, ok := img.TopicByName("a"); ok {
		t.Fatal("topic still there by name")
	}
	if _, ok := img.TopicByID(topicA); ok || img.NumTopics() != 0 || len(img.Topics()) != 0 {
		t.Fatal("topic still there by id")
	}
	if len(d.DeletedTopics) != 1 || d.DeletedTopics[0] != old {
		t.Fatalf("delta = %+v", d)
	}
	// The name is free again, and the old configs do not come back.
	img, _ = applyOK(t, img, 5, topicRecords(topicB, "a", 1, 1)...)
	if tp, _ := img.TopicByName("a"); tp.ID != topicB || tp.Configs != nil {
		t.Fatalf("re-created topic = %+v", tp)
	}
	if _, _, err := img.Apply([]Record{&RemoveTopicRecord{ID: topicA}}, 6); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("removing a missing topic: %v", err)
	}
}

func TestApplyRejectsInconsistentBatchAtomically(t *testing.T) {
	img := baseImage(t)
	bad := [][]Record{
		{&TopicRecord{ID: topicB, Name: "a"}}, // duplicate name
		{&TopicRecord{ID: topicA, Name: "z"}}, // duplicate id
		{&TopicRecord{ID: topicB, Name: "b"}, &PartitionRecord{TopicID: topicB, Partition: 1, Replicas: []int32{1}}}, // gap
		{&PartitionRecord{TopicID: topicB, Partition: 0, Replicas: []int32{1}}},                                      // unknown topic
		{&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "nope", Name: "k", Value: ptr("v")}},
		{&ProducerIDsRecord{NextProducerID: 0}},
		{&FenceBrokerRecord{NodeID: 9}},
	}
	before := img.EncodeSnapshot()
	for i, batch := range bad {
		next, d, err := img.Apply(batch, 3)
		if !errors.Is(err, ErrInconsistent) || next != nil || d != nil {
			t.Fatalf("batch %d: got %v, %v, %v; want ErrInconsistent", i, next, d, err)
		}
	}
	if !bytes.Equal(before, img.EncodeSnapshot()) {
		t.Fatal("a rejected batch changed the image")
	}
	if _, _, err := img.Apply([]Record{&TopicRecord{ID: topicB, Name: "b"}}, 2); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("batch at a non-increasing offset: %v", err)
	}
}

// TestApplyCopyOnWriteKeepsOldImages checks that later batches never change
// an image already handed out, and that untouched topics are shared.
func TestApplyCopyOnWriteKeepsOldImages(t *testing.T) {
	img := baseImage(t)
	img, _ = applyOK(t, img, 3, topicRecords(topicB, "b", 2, 1)...)
	oldA, _ := img.TopicByName("a")
	oldB, _ := img.TopicByName("b")
	snap := img.EncodeSnapshot()

	v := "5"
	next, _ := applyOK(t, img, 4,
		&PartitionChangeRecord{TopicID: topicA, Partition: 0, Leader: ptr(int32(2)), ISR: []int32{2}},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: ConfigMinInsyncReplicas, Value: &v},
		&RegisterBrokerRecord{NodeID: 3, BrokerEpoch: -1},
		&ProducerIDsRecord{NextProducerID: 1000},
	)
	if !bytes.Equal(snap, img.EncodeSnapshot()) {
		t.Fatal("applying to an image changed it")
	}
	if oldA.Partitions[0].Leader != 1 || oldA.Configs != nil {
		t.Fatalf("old topic a changed: %+v", oldA)
	}
	if nb, _ := next.TopicByName("b"); nb != oldB {
		t.Fatal("untouched topic b was copied instead of shared")
	}
	if na, _ := next.TopicByName("a"); na == oldA || na.Partitions[0].Leader != 2 || na.Configs[ConfigMinInsyncReplicas] != "5" {
		t.Fatalf("new topic a = %+v", na)
	}
	if len(img.Brokers()) != 2 || len(next.Brokers()) != 3 || img.NextProducerID() != 0 || next.NextProducerID() != 1000 {
		t.Fatal("brokers or producer ids leaked between images")
	}
}

func TestApplyManyTopicsSharesShards(t *testing.T) {
	img := Empty()
	const n = 2000
	recs := []Record{}
	for i := 0; i < n; i++ {
		id := [16]byte{byte(i), byte(i >> 8), 1}
		recs = append(recs, topicRecords(id, fmt.Sprintf("t%04d", i), 1, 1)...)
	}
	img, _ = applyOK(t, img, 1, recs...)
	next, d := applyOK(t, img, 2, &RemoveTopicRecord{ID: [16]byte{5, 0, 1}})
	if next.NumTopics() != n-1 || img.NumTopics() != n || len(d.DeletedTopics) != 1 || d.DeletedTopics[0].Name != "t0005" {
		t.Fatalf("topics: new %d old %d delta %+v", next.NumTopics(), img.NumTopics(), d)
	}
	shared := 0
	for s := range img.topics.shards {
		if img.topics.shards[s] != nil && reflect.ValueOf(img.topics.shards[s]).Pointer() == reflect.ValueOf(next.topics.shards[s]).Pointer() {
			shared++
		}
	}
	if shared < shardCount-2 {
		t.Fatalf("only %d of %d shards shared after a one-topic change", shared, shardCount)
	}
}

func TestConfigsAndFeatures(t *testing.T) {
	img := baseImage(t)
	img, d := applyOK(t, img, 3,
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "1", Name: "k", Value: ptr("v")},
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Name: "d", Value: ptr("w")},
		&FeatureLevelRecord{Name: "transaction.version", Level: 2},
	)
	if img.BrokerConfigs(1)["k"] != "v" || img.ClusterBrokerConfigs()["d"] != "w" || img.FeatureLevel("transaction.version") != 2 {
		t.Fatal("broker configs or features not applied")
	}
	if !slices.Equal(d.ChangedBrokerConfigs, []string{"", "1"}) || !d.FeaturesChanged {
		t.Fatalf("delta = %+v", d)
	}
	img, _ = applyOK(t, img, 4,
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "1", Name: "k"},
		&FeatureLevelRecord{Name: "transaction.version", Level: 0},
	)
	if img.BrokerConfigs(1) != nil || img.FeatureLevel("transaction.version") != 0 {
		t.Fatal("delete of broker config or feature not applied")
	}
	if _, _, err := img.Apply([]Record{&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "x", Name: "k"}}, 5); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("broker config for a non-numeric resource: %v", err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	img := baseImage(t)
	img, _ = applyOK(t, img, 10,
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: ConfigRetentionMs, Value: ptr("1")},
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "2", Name: "k", Value: ptr("v")},
		&PartitionChangeRecord{TopicID: topicA, Partition: 2, Leader: ptr(int32(2)), ISR: []int32{2}},
		&FenceBrokerRecord{NodeID: 1, BrokerEpoch: 1},
		&ProducerIDsRecord{NextProducerID: 2000, BrokerID: 2, BrokerEpoch: 1},
		&FeatureLevelRecord{Name: "group.version", Level: 1},
	)
	img, _ = applyOK(t, img, 11, topicRecords(topicB, "b", 1, 2)...)
	enc := img.EncodeSnapshot()
	got, err := DecodeSnapshot(enc)
	if err != nil {
		t.Fatalf("DecodeSnapshot: %v", err)
	}
	if got.Offset() != 11 {
		t.Fatalf("offset = %d", got.Offset())
	}
	if !reflect.DeepEqual(got.Records(), img.Records()) {
		t.Fatalf("records differ:\n%#v\n%#v", got.Records(), img.Records())
	}
	if !bytes.Equal(got.EncodeSnapshot(), enc) {
		t.Fatal("snapshot of the restored image differs")
	}
	if d := Diff(img, got); !d.Empty() {
		t.Fatalf("Diff between equal images = %+v", d)
	}
	d := Diff(Empty(), got)
	if len(d.CreatedTopics) != 2 || !slices.Equal(d.ChangedBrokers, []int32{1, 2}) || !d.ClusterIDChanged || !d.ProducerIDsChanged {
		t.Fatalf("Diff from empty = %+v", d)
	}
	if e, err := DecodeSnapshot(Empty().EncodeSnapshot()); err != nil || e.Offset() != 0 || e.NumTopics() != 0 {
		t.Fatalf("empty snapshot: %v, %v", e, err)
	}
	for n := 0; n < len(enc); n++ {
		if _, err := DecodeSnapshot(enc[:n]); err == nil {
			t.Fatalf("truncated snapshot of %d bytes decoded", n)
		}
	}
}
