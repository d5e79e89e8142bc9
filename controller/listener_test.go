package controller

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestListenerServesOverTCP drives the controller listener with a real
// franz-go client: ApiVersions advertises the controller APIs, and a
// registration, a CreateTopics and an AllocateProducerIds round-trip.
func TestListenerServesOverTCP(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seed := cl.SeedBrokers()[0]

	av, err := seed.Request(ctx(t), kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	keys := map[int16]bool{}
	for _, k := range av.(*kmsg.ApiVersionsResponse).ApiKeys {
		keys[k.ApiKey] = true
	}
	for _, k := range []kmsg.Key{kmsg.CreateTopics, kmsg.DeleteTopics, kmsg.CreatePartitions, kmsg.AlterConfigs,
		kmsg.IncrementalAlterConfigs, kmsg.BrokerRegistration, kmsg.AllocateProducerIDs, kmsg.ApiVersions} {
		if !keys[k.Int16()] {
			t.Errorf("ApiVersions does not advertise %s", kmsg.NameForKey(k.Int16()))
		}
	}

	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID, reg.ClusterID, reg.IncarnationID = 1, c.ClusterID(), [16]byte{1}
	reg.Listeners = []kmsg.BrokerRegistrationRequestListener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}}
	r, err := seed.Request(ctx(t), reg)
	if err != nil || r.(*kmsg.BrokerRegistrationResponse).ErrorCode != 0 {
		t.Fatalf("BrokerRegistration: %v, %+v", err, r)
	}
	epoch := r.(*kmsg.BrokerRegistrationResponse).BrokerEpoch

	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Topics = []kmsg.CreateTopicsRequestTopic{createReq("over-tcp", 3, 1, nil), createReq("bad/name", 1, 1, nil)}
	r, err = seed.Request(ctx(t), ct)
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	topics := r.(*kmsg.CreateTopicsResponse).Topics
	if topics[0].ErrorCode != 0 || topics[0].NumPartitions != 3 || topics[0].TopicID == ([16]byte{}) {
		t.Fatalf("CreateTopics result %+v", topics[0])
	}
	if topics[1].ErrorCode != kerr.InvalidTopicException.Code || topics[1].ErrorMessage == nil {
		t.Fatalf("bad name result %+v", topics[1])
	}
	if _, ok := c.Image().TopicByName("over-tcp"); !ok {
		t.Fatal("topic not in the image")
	}

	ap := kmsg.NewPtrAllocateProducerIDsRequest()
	ap.BrokerID, ap.BrokerEpoch = 1, epoch
	r, err = seed.Request(ctx(t), ap)
	if err != nil || r.(*kmsg.AllocateProducerIDsResponse).ProducerIDLen != ProducerIDBlockSize {
		t.Fatalf("AllocateProducerIds: %v, %+v", err, r)
	}
}
