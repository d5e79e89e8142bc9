package controller

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
)

func createReq(name string, partitions int32, rf int16, configs map[string]string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for _, k := range sortedKeys(configs) {
		v := configs[k]
		rt.Configs = append(rt.Configs, kmsg.CreateTopicsRequestTopicConfig{Name: k, Value: &v})
	}
	return rt
}

func createTopics(t *testing.T, c *Controller, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsResponse {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	req.ValidateOnly = validateOnly
	req.Topics = topics
	resp, err := c.CreateTopics(ctx(t), req)
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	if len(resp.Topics) != len(topics) {
		t.Fatalf("%d results for %d topics", len(resp.Topics), len(topics))
	}
	return resp
}

// createTopic creates one topic and fails the test if that fails.
func createTopic(t *testing.T, c *Controller, name string, partitions int32, rf int16, configs map[string]string) kmsg.CreateTopicsResponseTopic {
	t.Helper()
	rt := createTopics(t, c, false, createReq(name, partitions, rf, configs)).Topics[0]
	if rt.ErrorCode != 0 {
		t.Fatalf("create %s: code %d: %v", name, rt.ErrorCode, deref(rt.ErrorMessage))
	}
	return rt
}

func allocate(t *testing.T, c *Controller, broker int32, epoch int64) int64 {
	t.Helper()
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = broker, epoch
	resp, err := c.AllocateProducerIDs(ctx(t), req)
	if err != nil || resp.ErrorCode != 0 || resp.ProducerIDLen != ProducerIDBlockSize {
		t.Fatalf("allocate: %v, %+v", err, resp)
	}
	return resp.ProducerIDStart
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func expectCode(t *testing.T, what string, code int16, msg *string, want *kerr.Error, fragment string) {
	t.Helper()
	if code != want.Code || !strings.Contains(deref(msg), fragment) {
		t.Errorf("%s: code %d message %q; want %s containing %q", what, code, deref(msg), want.Message, fragment)
	}
}

// TestBrokerRegistration checks that the broker epoch is the offset of the
// registration entry, that a retry of the same registration keeps it, and
// that a restart (new incarnation) gets a new one.
func TestBrokerRegistration(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	epochs := register(t, c, 1)
	b, ok := c.Image().Broker(1)
	if !ok || b.Epoch != epochs[0] || uint64(b.Epoch) != c.Image().Offset() || b.Fenced {
		t.Fatalf("broker %+v, epoch %d, offset %d", b, epochs[0], c.Image().Offset())
	}
	if l, ok := b.Listener("PLAINTEXT"); !ok || l.Port != 9001 {
		t.Fatalf("listener %+v", b.Listeners)
	}
	offset := c.Image().Offset()
	if again := register(t, c, 1); again[0] != epochs[0] || c.Image().Offset() != offset {
		t.Fatalf("retry: epoch %d (was %d), offset %d (was %d)", again[0], epochs[0], c.Image().Offset(), offset)
	}
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID, req.IncarnationID = 1, c.ClusterID(), [16]byte{0xee}
	resp, _ := c.BrokerRegistration(ctx(t), req)
	if resp.ErrorCode != 0 || resp.BrokerEpoch <= epochs[0] {
		t.Fatalf("re-registration with a new incarnation: %+v", resp)
	}
	req.ClusterID = "another"
	resp, _ = c.BrokerRegistration(ctx(t), req)
	if resp.ErrorCode != kerr.InconsistentClusterID.Code {
		t.Fatalf("wrong cluster id: code %d", resp.ErrorCode)
	}
}

// TestCreateTopicsPlacesReplicasRoundRobin checks the assignment rule:
// partition i is on broker (start+i) mod n, so leaders spread over the
// brokers, the leader is the only replica and the ISR, and epochs start at
// 0. (Replica j of partition i goes to (start+i+j) mod n, which
// TestPlaceReplicas checks for factors above 1.)
func TestCreateTopicsPlacesReplicasRoundRobin(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	register(t, c, 3)
	rt := createTopic(t, c, "orders", 6, 1, map[string]string{"retention.ms": "1000"})
	topic, ok := c.Image().TopicByName("orders")
	if !ok || topic.ID != rt.TopicID || rt.TopicID == ([16]byte{}) {
		t.Fatalf("topic %+v, response id %x", topic, rt.TopicID)
	}
	if rt.NumPartitions != 6 || rt.ReplicationFactor != 1 || len(topic.Partitions) != 6 {
		t.Fatalf("response partitions %d rf %d; image %d partitions", rt.NumPartitions, rt.ReplicationFactor, len(topic.Partitions))
	}
	brokers := []int32{1, 2, 3}
	start := slices.Index(brokers, topic.Partitions[0].Replicas[0])
	for i, p := range topic.Partitions {
		if want := brokers[(start+i)%3]; !slices.Equal(p.Replicas, []int32{want}) {
			t.Fatalf("partition %d on brokers %v, want [%d]", i, p.Replicas, want)
		}
		if p.Leader != p.Replicas[0] || !slices.Equal(p.ISR, p.Replicas) || p.LeaderEpoch != 0 || p.PartitionEpoch != 0 {
			t.Fatalf("partition %+v", p)
		}
	}
	if topic.Configs["retention.ms"] != "1000" {
		t.Fatalf("configs %v", topic.Configs)
	}
	sources := map[string]int8{}
	for _, cfg := range rt.Configs {
		sources[cfg.Name] = cfg.Source
	}
	if sources["retention.ms"] != int8(kmsg.ConfigSourceDynamicTopicConfig) || sources["segment.ms"] != int8(kmsg.ConfigSourceDefaultConfig) {
		t.Fatalf("config sources %v", sources)
	}
}

func TestCreateTopicsRefusals(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.DefaultNumPartitions = 3
	c := start(t, cfg)
	register(t, c, 2)
	createTopic(t, c, "exists", 1, 1, nil)
	createTopic(t, c, "a.b", 1, 1, nil)

	manual := createReq("manual", -1, -1, nil)
	manual.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 1, Replicas: []int32{2}}, {Partition: 0, Replicas: []int32{1}}}
	badManual := createReq("bad-manual", -1, -1, nil)
	badManual.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{7}}}
	replicatedManual := createReq("replicated-manual", -1, -1, nil)
	replicatedManual.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1, 2}}}
	resp := createTopics(t, c, false,
		createReq("exists", 1, 1, nil),
		createReq("bad name", 1, 1, nil),
		createReq("a_b", 1, 1, nil),
		createReq("zero", 0, 1, nil),
		createReq("rf3", 1, 3, nil),
		createReq("rf0", 1, 0, nil),
		createReq("badcfg", 1, 1, map[string]string{"retention.ms": "soon"}),
		createReq("archive", 1, 1, map[string]string{"cleanup.policy": "archive"}),
		createReq("prealloc", 1, 1, map[string]string{"preallocate": "true"}),
		createReq("unknowncfg", 1, 1, map[string]string{"no.such": "1"}),
		createReq("twice", 1, 1, nil),
		createReq("twice", 1, 1, nil),
		createReq("huge", 1<<30, 1, nil),
		createReq("defaults", -1, -1, nil),
		manual,
		badManual,
		createReq("rf2", 1, 2, nil),
		replicatedManual,
	)
	r := resp.Topics
	expectCode(t, "existing", r[0].ErrorCode, r[0].ErrorMessage, kerr.TopicAlreadyExists, "already exists")
	expectCode(t, "bad name", r[1].ErrorCode, r[1].ErrorMessage, kerr.InvalidTopicException, "illegal character")
	expectCode(t, "collision", r[2].ErrorCode, r[2].ErrorMessage, kerr.InvalidTopicException, "collides")
	expectCode(t, "0 partitions", r[3].ErrorCode, r[3].ErrorMessage, kerr.InvalidPartitions, "at least 1")
	expectCode(t, "rf 3", r[4].ErrorCode, r[4].ErrorMessage, kerr.InvalidReplicationFactor, "larger than the 2 available")
	expectCode(t, "rf 0", r[5].ErrorCode, r[5].ErrorMessage, kerr.InvalidReplicationFactor, "at least 1")
	expectCode(t, "bad config", r[6].ErrorCode, r[6].ErrorMessage, kerr.InvalidConfig, "retention.ms")
	expectCode(t, "unknown cleanup policy", r[7].ErrorCode, r[7].ErrorMessage, kerr.InvalidConfig, `must be a list of "delete" and "compact"`)
	expectCode(t, "preallocate", r[8].ErrorCode, r[8].ErrorMessage, kerr.InvalidConfig, "not supported yet")
	expectCode(t, "unknown config", r[9].ErrorCode, r[9].ErrorMessage, kerr.InvalidConfig, "unknown topic config")
	expectCode(t, "duplicate 1", r[10].ErrorCode, r[10].ErrorMessage, kerr.InvalidRequest, "more than once")
	expectCode(t, "duplicate 2", r[11].ErrorCode, r[11].ErrorMessage, kerr.InvalidRequest, "more than once")
	expectCode(t, "huge", r[12].ErrorCode, r[12].ErrorMessage, kerr.InvalidPartitions, "at most")
	expectCode(t, "bad manual", r[15].ErrorCode, r[15].ErrorMessage, kerr.InvalidReplicaAssignment, "not registered")
	if r[16].ErrorCode != 0 || r[16].ReplicationFactor != 2 {
		t.Errorf("rf 2 on two brokers: %+v", r[16])
	}
	if r[17].ErrorCode != 0 || r[17].ReplicationFactor != 2 {
		t.Errorf("manual rf 2 on two brokers: %+v", r[17])
	}
	for _, i := range []int{0, 1, 3, 6} {
		if r[i].NumPartitions != -1 || r[i].ReplicationFactor != -1 {
			t.Errorf("failed topic %s reports %d partitions rf %d", r[i].Topic, r[i].NumPartitions, r[i].ReplicationFactor)
		}
	}
	if r[13].ErrorCode != 0 || r[13].NumPartitions != 3 || r[13].ReplicationFactor != 1 {
		t.Errorf("defaults: %+v", r[13])
	}
	if m, ok := c.Image().TopicByName("manual"); r[14].ErrorCode != 0 || !ok ||
		!slices.Equal(m.Partitions[0].Replicas, []int32{1}) || !slices.Equal(m.Partitions[1].Replicas, []int32{2}) {
		t.Errorf("manual assignment: %+v, %+v", r[14], m)
	}
	for _, name := range []string{"bad name", "a_b", "zero", "rf3", "badcfg", "twice", "huge", "bad-manual"} {
		if _, ok := c.Image().TopicByName(name); ok {
			t.Errorf("refused topic %q exists", name)
		}
	}
}

func TestCreateTopicsValidateOnly(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	register(t, c, 1)
	offset := c.Image().Offset()
	resp := createTopics(t, c, true, createReq("v", 2, 1, map[string]string{"segment.ms": "1000"}), createReq("bad", 2, 1, map[string]string{"segment.ms": "0"}))
	ok, bad := resp.Topics[0], resp.Topics[1]
	if ok.ErrorCode != 0 || ok.NumPartitions != 2 || ok.TopicID != ([16]byte{}) || len(ok.Configs) == 0 {
		t.Fatalf("validate-only success: %+v", ok)
	}
	expectCode(t, "validate-only failure", bad.ErrorCode, bad.ErrorMessage, kerr.InvalidConfig, "segment.ms")
	if _, exists := c.Image().TopicByName("v"); exists || c.Image().Offset() != offset {
		t.Fatal("validate-only created something")
	}
}

func TestDeleteTopics(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	register(t, c, 1)
	createTopic(t, c, "a", 1, 1, nil)
	b := createTopic(t, c, "b", 1, 1, nil)

	v5 := kmsg.NewPtrDeleteTopicsRequest()
	v5.Version = 5
	v5.TopicNames = []string{"a", "missing"}
	resp, _ := c.DeleteTopics(ctx(t), v5)
	if resp.Topics[0].ErrorCode != 0 || resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("v5 delete: %+v", resp.Topics)
	}
	v6 := kmsg.NewPtrDeleteTopicsRequest()
	v6.Version = 6
	v6.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: b.TopicID}, {TopicID: [16]byte{9}}, {Topic: kmsg.StringPtr("x"), TopicID: [16]byte{9}}}
	resp, _ = c.DeleteTopics(ctx(t), v6)
	r := resp.Topics
	if r[0].ErrorCode != 0 || deref(r[0].Topic) != "b" || r[0].TopicID != b.TopicID {
		t.Fatalf("delete by id: %+v", r[0])
	}
	expectCode(t, "unknown id", r[1].ErrorCode, r[1].ErrorMessage, kerr.UnknownTopicID, "no topic")
	expectCode(t, "name and id", r[2].ErrorCode, r[2].ErrorMessage, kerr.InvalidRequest, "not both")
	if c.Image().NumTopics() != 0 {
		t.Fatalf("%d topics left", c.Image().NumTopics())
	}
	createTopic(t, c, "a", 1, 1, nil) // the name is free again
}

func TestCreatePartitions(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	register(t, c, 3)
	createTopic(t, c, "t", 2, 1, nil)
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Topics = []kmsg.CreatePartitionsRequestTopic{
		{Topic: "t", Count: 5},
		{Topic: "missing", Count: 5},
	}
	resp, _ := c.CreatePartitions(ctx(t), req)
	if resp.Topics[0].ErrorCode != 0 || resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("create partitions: %+v", resp.Topics)
	}
	topic, _ := c.Image().TopicByName("t")
	if len(topic.Partitions) != 5 {
		t.Fatalf("%d partitions", len(topic.Partitions))
	}
	for i, p := range topic.Partitions {
		if len(p.Replicas) != 1 || p.Leader != p.Replicas[0] {
			t.Fatalf("partition %+v", p)
		}
		// New partitions go round-robin: each on the broker after the
		// previous new one's.
		if prev := topic.Partitions[max(i-1, 0)].Replicas[0]; i > 2 && p.Replicas[0] != prev%3+1 {
			t.Fatalf("partition %d on broker %d after partition %d on broker %d", i, p.Replicas[0], i-1, prev)
		}
	}
	req.Topics = []kmsg.CreatePartitionsRequestTopic{
		{Topic: "t", Count: 4},
		{Topic: "t2", Count: 5},
	}
	createTopic(t, c, "t2", 1, 1, nil)
	req.Topics[1].Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{1, 2}}}
	resp, _ = c.CreatePartitions(ctx(t), req)
	expectCode(t, "shrink", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.InvalidPartitions, "cannot be removed")
	expectCode(t, "bad assignment", resp.Topics[1].ErrorCode, resp.Topics[1].ErrorMessage, kerr.InvalidReplicaAssignment, "4 are being added")

	req.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "t2", Count: 2,
		Assignment: []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{1, 2}}}}}
	resp, _ = c.CreatePartitions(ctx(t), req)
	expectCode(t, "assignment of another replication factor", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.InvalidReplicaAssignment, "the other partitions have 1")

	req.ValidateOnly = true
	req.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "t", Count: 9}}
	resp, _ = c.CreatePartitions(ctx(t), req)
	if topic, _ := c.Image().TopicByName("t"); resp.Topics[0].ErrorCode != 0 || len(topic.Partitions) != 5 {
		t.Fatalf("validate only: %+v, %d partitions", resp.Topics[0], len(topic.Partitions))
	}
}

func incOp(name string, op kmsg.IncrementalAlterConfigOp, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	return kmsg.IncrementalAlterConfigsRequestResourceConfig{Name: name, Op: op, Value: value}
}

func TestIncrementalAlterConfigs(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	register(t, c, 1)
	createTopic(t, c, "t", 1, 1, map[string]string{"retention.ms": "1000", "segment.ms": "5000"})
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t", Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			incOp("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("2000")),
			incOp("segment.ms", kmsg.IncrementalAlterConfigOpDelete, nil),
			incOp("cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("delete")),
		}},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "missing"},
	}
	resp, _ := c.IncrementalAlterConfigs(ctx(t), req)
	r := resp.Resources
	if r[0].ErrorCode != 0 {
		t.Fatalf("alter: %+v", r[0])
	}
	expectCode(t, "broker resource", r[1].ErrorCode, r[1].ErrorMessage, kerr.InvalidRequest, "dynamic broker configs are not supported yet")
	expectCode(t, "missing topic", r[2].ErrorCode, r[2].ErrorMessage, kerr.UnknownTopicOrPartition, "does not exist")
	topic, _ := c.Image().TopicByName("t")
	want := map[string]string{"retention.ms": "2000", "cleanup.policy": "delete"}
	if !mapsEqual(topic.Configs, want) {
		t.Fatalf("configs %v, want %v", topic.Configs, want)
	}

	bad := []kmsg.IncrementalAlterConfigsRequestResourceConfig{
		incOp("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("x")),
	}
	appendBad := []kmsg.IncrementalAlterConfigsRequestResourceConfig{
		incOp("retention.ms", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("1")),
	}
	compact := []kmsg.IncrementalAlterConfigsRequestResourceConfig{
		incOp("cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("archive")),
	}
	req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t", Configs: bad},
	}
	resp, _ = c.IncrementalAlterConfigs(ctx(t), req)
	expectCode(t, "bad value", resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage, kerr.InvalidConfig, "retention.ms")
	req.Resources[0].Configs = appendBad
	resp, _ = c.IncrementalAlterConfigs(ctx(t), req)
	expectCode(t, "append to a non-list", resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage, kerr.InvalidConfig, "list")
	req.Resources[0].Configs = compact
	resp, _ = c.IncrementalAlterConfigs(ctx(t), req)
	expectCode(t, "append an unknown policy", resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage, kerr.InvalidConfig, `must be a list of "delete" and "compact"`)
	if topic2, _ := c.Image().TopicByName("t"); topic2 != topic {
		t.Fatal("refused alterations changed the topic")
	}
}

func TestAlterConfigsReplacesOverrides(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	register(t, c, 1)
	createTopic(t, c, "t", 1, 1, map[string]string{"retention.ms": "1000", "segment.ms": "5000"})
	req := kmsg.NewPtrAlterConfigsRequest()
	req.Resources = []kmsg.AlterConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t", Configs: []kmsg.AlterConfigsRequestResourceConfig{
			{Name: "max.message.bytes", Value: kmsg.StringPtr("2048")},
		}},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: ""},
	}
	resp, _ := c.AlterConfigs(ctx(t), req)
	if resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("alter: %+v", resp.Resources[0])
	}
	expectCode(t, "broker", resp.Resources[1].ErrorCode, resp.Resources[1].ErrorMessage, kerr.InvalidRequest, "not supported yet")
	topic, _ := c.Image().TopicByName("t")
	if !mapsEqual(topic.Configs, map[string]string{"max.message.bytes": "2048"}) {
		t.Fatalf("configs %v", topic.Configs)
	}
	req.Resources = req.Resources[:1]
	req.Resources[0].Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: "preallocate", Value: kmsg.StringPtr("true")}}
	resp, _ = c.AlterConfigs(ctx(t), req)
	expectCode(t, "unimplemented", resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage, kerr.InvalidConfig, "not supported yet")
}

func TestAllocateProducerIDs(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	epochs := register(t, c, 2)
	if a, b := allocate(t, c, 1, epochs[0]), allocate(t, c, 2, epochs[1]); a != 0 || b != ProducerIDBlockSize {
		t.Fatalf("blocks start at %d and %d", a, b)
	}
	if c.Image().NextProducerID() != 2*ProducerIDBlockSize {
		t.Fatalf("watermark %d", c.Image().NextProducerID())
	}
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = 1, epochs[0]+100
	if resp, _ := c.AllocateProducerIDs(ctx(t), req); resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("stale epoch: %+v", resp)
	}
	req.BrokerID = 9
	if resp, _ := c.AllocateProducerIDs(ctx(t), req); resp.ErrorCode != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("unregistered broker: %+v", resp)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestPlaceReplicas checks the placement rule for any replication factor:
// replica j of partition i is on broker
// (start+i+j) mod n, so leaders spread evenly and no partition has a
// broker twice; partitions added later continue the rotation.
func TestPlaceReplicas(t *testing.T) {
	brokers := []int32{1, 2, 5}
	got := placeReplicas(brokers, 1, 0, 4, 2)
	want := [][]int32{{2, 5}, {5, 1}, {1, 2}, {2, 5}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("placeReplicas = %v, want %v", got, want)
	}
	if more := placeReplicas(brokers, 1, 4, 2, 1); !reflect.DeepEqual(more, [][]int32{{5}, {1}}) {
		t.Fatalf("continued placement = %v", more)
	}
}

// TestRackAlternatedPlacement checks rack-aware placement: brokers are
// ordered so that neighbours are on different racks, so round-robin puts
// every partition's replicas on distinct racks when racks are balanced,
// and brokers without racks keep their order.
func TestRackAlternatedPlacement(t *testing.T) {
	var recs []metadata.Record
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	for id := int32(1); id <= 6; id++ {
		recs = append(recs, &metadata.RegisterBrokerRecord{NodeID: id, BrokerEpoch: int64(id), Rack: racks[id], IncarnationID: [16]byte{byte(id)}})
	}
	img, _, err := metadata.Empty().Apply(recs, 1)
	if err != nil {
		t.Fatal(err)
	}
	order := rackAlternated(img, []int32{1, 2, 3, 4, 5, 6})
	if want := []int32{1, 3, 5, 2, 4, 6}; !slices.Equal(order, want) {
		t.Fatalf("rack-alternated order %v, want %v", order, want)
	}
	for start := range 6 {
		for i, replicas := range placeReplicas(order, start, 0, 12, 3) {
			seen := map[string]bool{}
			for _, id := range replicas {
				seen[racks[id]] = true
			}
			if len(seen) != 3 {
				t.Fatalf("start %d partition %d: replicas %v on racks %v, want three racks", start, i, replicas, seen)
			}
		}
	}
	plain, _, err := metadata.Empty().Apply([]metadata.Record{
		&metadata.RegisterBrokerRecord{NodeID: 1, BrokerEpoch: 1}, &metadata.RegisterBrokerRecord{NodeID: 2, BrokerEpoch: 2},
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := rackAlternated(plain, []int32{1, 2}); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("without racks: %v", got)
	}
}

// TestCreatePartitionsRefusesInternalTopics checks that __consumer_offsets
// keeps its partition count: groups hash to a partition by that count, so
// adding partitions would separate them from their stored offsets.
func TestCreatePartitionsRefusesInternalTopics(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	register(t, c, 1)
	createTopic(t, c, "__consumer_offsets", 3, 1, nil)
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "__consumer_offsets", Count: 6}}
	resp, _ := c.CreatePartitions(ctx(t), req)
	expectCode(t, "internal topic", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.InvalidRequest, "internal topic")
	if topic, _ := c.Image().TopicByName("__consumer_offsets"); len(topic.Partitions) != 3 {
		t.Fatalf("__consumer_offsets has %d partitions, want 3", len(topic.Partitions))
	}
}
