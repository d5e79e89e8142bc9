package controller

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
)

// electionImage has brokers 1 and 2 unfenced, 3 fenced, and topic "t":
//
//	p0: replicas [1,2,3], leader 1, ISR [1,2,3]   preferred leads
//	p1: replicas [1,2],   leader 2, ISR [2,1]     preferred can lead
//	p2: replicas [3,1],   leader 1, ISR [1,3]     preferred fenced
//	p3: replicas [2,1],   leader 1, ISR [1]       preferred not in ISR
//	p4: replicas [3,2],   leader -, ISR [3]       ISR all fenced
//	p5: replicas [3],     leader -, ISR [3]       no replica unfenced
func electionImage(t *testing.T) (*metadata.Image, [16]byte) {
	topic := [16]byte{7}
	part := func(id int32, replicas, isr []int32, leader int32) *metadata.PartitionRecord {
		return &metadata.PartitionRecord{TopicID: topic, Partition: id, Replicas: replicas, ISR: isr, Leader: leader}
	}
	img := imageOf(t,
		[]metadata.Record{registration(1, 1, false), registration(2, 2, false), registration(3, 3, true)},
		[]metadata.Record{
			&metadata.TopicRecord{ID: topic, Name: "t"},
			part(0, []int32{1, 2, 3}, []int32{1, 2, 3}, 1),
			part(1, []int32{1, 2}, []int32{2, 1}, 2),
			part(2, []int32{3, 1}, []int32{1, 3}, 1),
			part(3, []int32{2, 1}, []int32{1}, 1),
			part(4, []int32{3, 2}, []int32{3}, metadata.NoLeader),
			part(5, []int32{3}, []int32{3}, metadata.NoLeader),
		},
	)
	return img, topic
}

// TestElectionRules checks the election decisions as pure functions
// (KIP-183 preferred, KIP-460 unclean): which partition gets which leader
// and ISR, and which error each refusal carries.
func TestElectionRules(t *testing.T) {
	img, topic := electionImage(t)
	tp, _ := img.TopicByID(topic)
	fenced := fencedIn(img)
	type want struct {
		leader int32
		isr    []int32 // nil: unchanged
		err    *kerr.Error
	}
	check := func(kind string, p int32, rec *metadata.PartitionChangeRecord, err error, w want) {
		t.Helper()
		switch {
		case w.err != nil:
			if !errors.Is(err, w.err) || rec != nil {
				t.Errorf("%s p%d: %v, %+v; want %s", kind, p, err, rec, w.err.Message)
			}
		case err != nil || rec == nil || rec.Leader == nil || *rec.Leader != w.leader || !slices.Equal(rec.ISR, w.isr):
			t.Errorf("%s p%d: %v, %+v; want leader %d ISR %v", kind, p, err, rec, w.leader, w.isr)
		}
	}
	preferred := map[int32]want{
		0: {err: kerr.ElectionNotNeeded},
		1: {leader: 1},
		2: {err: kerr.PreferredLeaderNotAvailable},
		3: {err: kerr.PreferredLeaderNotAvailable},
		4: {err: kerr.PreferredLeaderNotAvailable},
		5: {err: kerr.PreferredLeaderNotAvailable},
	}
	unclean := map[int32]want{
		0: {err: kerr.ElectionNotNeeded},
		1: {err: kerr.ElectionNotNeeded},
		4: {leader: 2, isr: []int32{2}},
		5: {err: kerr.EligibleLeadersNotAvailable},
	}
	for _, p := range tp.Partitions {
		rec, err := electPreferred(topic, p, fenced)
		check("preferred", p.ID, rec, err, preferred[p.ID])
		if w, ok := unclean[p.ID]; ok {
			rec, err := electUnclean(topic, p, fenced)
			check("unclean", p.ID, rec, err, w)
		}
	}

	// The liveness pass elects outside the ISR only for a topic that
	// allows it, and converges.
	members := map[int32]MemberState{
		1: {Alive: true, Incarnation: [16]byte{1}, BrokerEpoch: 10},
		2: {Alive: true, Incarnation: [16]byte{2}, BrokerEpoch: 20},
		3: {Alive: false, Incarnation: [16]byte{3}},
	}
	never := func(*metadata.Topic) bool { return false }
	always := func(*metadata.Topic) bool { return true }
	recs, _, _ := livenessRecords(img, members, true, never)
	for _, r := range recs {
		if rec, ok := r.(*metadata.PartitionChangeRecord); ok && rec.Partition == 4 {
			t.Fatalf("unclean election without the topic config: %+v", rec)
		}
	}
	recs, _, _ = livenessRecords(img, members, true, always)
	var p4 *metadata.PartitionChangeRecord
	for _, r := range recs {
		if rec, ok := r.(*metadata.PartitionChangeRecord); ok && rec.Partition == 4 {
			p4 = rec
		}
	}
	if p4 == nil || *p4.Leader != 2 || !slices.Equal(p4.ISR, []int32{2}) {
		t.Fatalf("unclean liveness election of p4: %+v, want leader 2 with ISR [2]", p4)
	}
	next, _, err := img.Apply(recs, img.Offset()+1)
	if err != nil {
		t.Fatal(err)
	}
	if again, _, _ := livenessRecords(next, members, true, always); len(again) != 0 {
		t.Fatalf("not converged: %d more records", len(again))
	}
}

// TestImbalancedLeaderRecords checks the periodic balance
// (auto.leader.rebalance.enable, leader.imbalance.per.broker.percentage):
// a broker's misplaced share must be above the percentage, and only
// partitions whose preferred replica can lead move.
func TestImbalancedLeaderRecords(t *testing.T) {
	topic := [16]byte{8}
	recs := []metadata.Record{&metadata.TopicRecord{ID: topic, Name: "b"}}
	// Broker 1 is preferred for 10 partitions and leads 8: 20% misplaced.
	// Broker 2 is preferred for 4 and leads 3, and its fourth cannot move
	// (not in the ISR): 25% misplaced, nothing to elect.
	for i := range int32(14) {
		r := &metadata.PartitionRecord{TopicID: topic, Partition: i, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}
		switch {
		case i < 2:
			r.Leader = 2
		case i >= 10:
			r.Replicas, r.Leader = []int32{2, 1}, 2
			if i == 13 {
				r.ISR, r.Leader = []int32{1}, 1
			}
		}
		recs = append(recs, r)
	}
	img := imageOf(t, []metadata.Record{registration(1, 1, false), registration(2, 2, false)}, recs)
	moved := func(percent int) []int32 {
		var out []int32
		for _, r := range imbalancedLeaderRecords(img, percent) {
			rec := r.(*metadata.PartitionChangeRecord)
			if want := img.Topics()[0].Partitions[rec.Partition].Replicas[0]; *rec.Leader != want || rec.ISR != nil {
				t.Fatalf("partition %d: %+v, want leader %d and the ISR unchanged", rec.Partition, rec, want)
			}
			out = append(out, rec.Partition)
		}
		return out
	}
	for _, c := range []struct {
		percent int
		want    []int32
	}{{0, []int32{0, 1}}, {10, []int32{0, 1}}, {19, []int32{0, 1}}, {20, nil}, {100, nil}} {
		if got := moved(c.percent); !slices.Equal(got, c.want) {
			t.Errorf("percentage %d: moved %v, want %v", c.percent, got, c.want)
		}
	}
}

// TestUncleanElectionConfigInheritance: a topic override wins over the
// cluster default, which wins over Kafka's default (false).
func TestUncleanElectionConfigInheritance(t *testing.T) {
	const key = metadata.ConfigUncleanLeaderElectionEnable
	c := &Controller{}
	on, off := &metadata.Topic{Configs: map[string]string{key: "true"}}, &metadata.Topic{Configs: map[string]string{key: "false"}}
	plain := &metadata.Topic{}
	if c.uncleanElection(plain) || !c.uncleanElection(on) {
		t.Fatal("without a cluster default")
	}
	c.cfg.TopicConfigDefaults = map[string]string{key: "true"}
	if !c.uncleanElection(plain) || c.uncleanElection(off) {
		t.Fatal("with the cluster default true")
	}
}

// electionCluster is a real controller with three registered brokers
// unfenced by a fake gossip table.
type electionCluster struct {
	c      *Controller
	live   *fakeLiveness
	epochs []int64
}

func startElectionCluster(t *testing.T, mod func(*Config)) *electionCluster {
	t.Helper()
	live := newFakeLiveness()
	cfg := testConfig(t, t.TempDir())
	cfg.Liveness = live
	cfg.AutoLeaderRebalance = false
	if mod != nil {
		mod(&cfg)
	}
	ec := &electionCluster{c: start(t, cfg), live: live}
	ec.epochs = register(t, ec.c, 3)
	for id := int32(1); id <= 3; id++ {
		ec.setAlive(id, true)
	}
	waitFor(t, 10*time.Second, func() error {
		if n := len(ec.c.Image().UnfencedBrokers()); n != 3 {
			return fmt.Errorf("%d brokers unfenced", n)
		}
		return nil
	})
	return ec
}

func (ec *electionCluster) setAlive(id int32, alive bool) {
	ec.live.set(id, MemberState{Alive: alive, Incarnation: [16]byte{byte(id)}, BrokerEpoch: ec.epochs[id-1]})
}

func (ec *electionCluster) partition(t *testing.T, topic string, p int32) metadata.Partition {
	t.Helper()
	tp, ok := ec.c.Image().TopicByName(topic)
	if !ok {
		t.Fatalf("no topic %s", topic)
	}
	return tp.Partitions[p]
}

// waitPartition waits until cond holds for the partition.
func (ec *electionCluster) waitPartition(t *testing.T, topic string, p int32, cond func(metadata.Partition) bool) metadata.Partition {
	t.Helper()
	var got metadata.Partition
	waitFor(t, 10*time.Second, func() error {
		if got = ec.partition(t, topic, p); !cond(got) {
			return fmt.Errorf("%s-%d is %+v", topic, p, got)
		}
		return nil
	})
	return got
}

// setISR commits isr for partition 0 of topic through its leader.
func (ec *electionCluster) setISR(t *testing.T, topic string, isr ...int32) {
	t.Helper()
	tp, _ := ec.c.Image().TopicByName(topic)
	p := tp.Partitions[0]
	got := alterISR(t, ec.c, p.Leader, ec.epochs[p.Leader-1], tp.ID, p.LeaderEpoch, p.PartitionEpoch, isr...)
	if got.ErrorCode != 0 {
		t.Fatalf("AlterPartition %s ISR %v: code %d", topic, isr, got.ErrorCode)
	}
}

// elect sends ElectLeaders v2 and returns each partition's error code by
// "topic-partition"; no partitions means all (null topics).
func elect(t *testing.T, c *Controller, typ int8, topic string, partitions ...int32) map[string]int16 {
	t.Helper()
	req := kmsg.NewPtrElectLeadersRequest()
	req.SetVersion(2)
	req.ElectionType = typ
	if topic != "" {
		req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: topic, Partitions: partitions}}
	}
	resp, err := c.ElectLeaders(ctx(t), req)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ElectLeaders: %v, code %d", err, resp.ErrorCode)
	}
	out := map[string]int16{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out[fmt.Sprintf("%s-%d", rt.Topic, rp.Partition)] = rp.ErrorCode
		}
	}
	return out
}

// TestElectLeadersPreferred runs ElectLeaders PREFERRED on a real
// controller: nothing to do while preferred replicas lead; a fenced
// preferred replica, then one outside the ISR, cannot lead; back in the
// ISR it leads again with a new leader epoch; null topics answer only the
// partitions that needed an election; unknown ones are named.
func TestElectLeadersPreferred(t *testing.T) {
	ec := startElectionCluster(t, nil)
	c := ec.c
	createTopic(t, c, "e", 1, 3, nil)
	if got := elect(t, c, electionPreferred, "e", 0); got["e-0"] != kerr.ElectionNotNeeded.Code {
		t.Fatalf("preferred leader already leads: %v", got)
	}
	if got := elect(t, c, electionPreferred, ""); len(got) != 0 {
		t.Fatalf("null topics with every preferred replica leading: %v, want no results", got)
	}
	p := ec.partition(t, "e", 0)
	pref := p.Replicas[0]
	ec.setAlive(pref, false)
	p = ec.waitPartition(t, "e", 0, func(p metadata.Partition) bool { return p.Leader != pref && !slices.Contains(p.ISR, pref) })
	if got := elect(t, c, electionPreferred, "e", 0); got["e-0"] != kerr.PreferredLeaderNotAvailable.Code {
		t.Fatalf("fenced preferred replica: %v", got)
	}
	ec.setAlive(pref, true)
	waitFor(t, 10*time.Second, func() error {
		if b, _ := c.Image().Broker(pref); b.Fenced {
			return fmt.Errorf("broker %d still fenced", pref)
		}
		return nil
	})
	if got := elect(t, c, electionPreferred, "e", 0); got["e-0"] != kerr.PreferredLeaderNotAvailable.Code {
		t.Fatalf("preferred replica outside the ISR: %v", got)
	}
	ec.setISR(t, "e", 1, 2, 3)
	before := ec.partition(t, "e", 0)
	got := elect(t, c, electionPreferred, "")
	if len(got) != 1 || got["e-0"] != 0 {
		t.Fatalf("null topics: %v, want only e-0 elected", got)
	}
	after := ec.partition(t, "e", 0)
	if after.Leader != pref || after.LeaderEpoch != before.LeaderEpoch+1 || !slices.Equal(after.ISR, before.ISR) {
		t.Fatalf("after the election: %+v (before %+v), want leader %d at the next leader epoch, ISR unchanged", after, before, pref)
	}
	got = elect(t, c, electionPreferred, "nope", 0)
	if got["nope-0"] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %v", got)
	}
	if got = elect(t, c, electionPreferred, "e", 7, 7); len(got) != 1 || got["e-7"] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown partition named twice: %v, want one UNKNOWN_TOPIC_OR_PARTITION", got)
	}

	req := kmsg.NewPtrElectLeadersRequest()
	req.SetVersion(1)
	req.ElectionType = 5
	if resp, _ := c.ElectLeaders(ctx(t), req); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("election type 5: code %d, want INVALID_REQUEST", resp.ErrorCode)
	}
}

// isolateReplica makes topic's partition 0 leaderless with only its
// preferred replica in the ISR: the ISR shrinks to it, then it is fenced.
func (ec *electionCluster) isolateReplica(t *testing.T, topic string) (gone, other int32) {
	t.Helper()
	p := ec.partition(t, topic, 0)
	gone, other = p.Replicas[0], p.Replicas[1]
	ec.setISR(t, topic, gone)
	ec.setAlive(gone, false)
	ec.waitPartition(t, topic, 0, func(p metadata.Partition) bool {
		return p.Leader == metadata.NoLeader && slices.Equal(p.ISR, []int32{gone})
	})
	return gone, other
}

// TestElectLeadersUnclean: a partition whose only in-sync replica is
// fenced stays leaderless (the default), until ElectLeaders UNCLEAN makes
// the other replica lead alone in the ISR; a second request needs no
// election; a partition with no unfenced replica has no eligible leader.
func TestElectLeadersUnclean(t *testing.T) {
	ec := startElectionCluster(t, nil)
	c := ec.c
	createTopic(t, c, "u", 1, 2, nil)
	gone, other := ec.isolateReplica(t, "u")
	if got := elect(t, c, electionPreferred, "u", 0); got["u-0"] != kerr.PreferredLeaderNotAvailable.Code {
		t.Fatalf("preferred election with the preferred replica fenced: %v", got)
	}
	if p := ec.partition(t, "u", 0); p.Leader != metadata.NoLeader {
		t.Fatalf("unclean election without the topic config or a request: %+v", p)
	}
	if got := elect(t, c, electionUnclean, "u", 0); got["u-0"] != 0 {
		t.Fatalf("UNCLEAN: %v", got)
	}
	if p := ec.partition(t, "u", 0); p.Leader != other || !slices.Equal(p.ISR, []int32{other}) {
		t.Fatalf("after UNCLEAN: %+v, want leader %d with ISR [%d]", p, other, other)
	}
	if got := elect(t, c, electionUnclean, "u", 0); got["u-0"] != kerr.ElectionNotNeeded.Code {
		t.Fatalf("second UNCLEAN: %v", got)
	}
	ec.setAlive(other, false)
	ec.waitPartition(t, "u", 0, func(p metadata.Partition) bool { return p.Leader == metadata.NoLeader })
	if got := elect(t, c, electionUnclean, "u", 0); got["u-0"] != kerr.EligibleLeadersNotAvailable.Code {
		t.Fatalf("UNCLEAN with every replica fenced (%d, %d): %v", gone, other, got)
	}
}

// TestUncleanElectionByTopicConfig: setting unclean.leader.election.enable
// on a topic whose in-sync replicas are all fenced makes the liveness
// loop elect the first unfenced replica, alone in the ISR.
func TestUncleanElectionByTopicConfig(t *testing.T) {
	ec := startElectionCluster(t, nil)
	createTopic(t, ec.c, "u", 1, 2, nil)
	_, other := ec.isolateReplica(t, "u")
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{
		ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "u",
		Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			incOp(metadata.ConfigUncleanLeaderElectionEnable, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("true")),
		},
	}}
	if resp, err := ec.c.IncrementalAlterConfigs(ctx(t), req); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("enable unclean election: %v %+v", err, resp)
	}
	ec.waitPartition(t, "u", 0, func(p metadata.Partition) bool {
		return p.Leader == other && slices.Equal(p.ISR, []int32{other})
	})
}

// TestAutoLeaderRebalance: with auto.leader.rebalance.enable and a short
// check interval, leadership goes back to the preferred replica once it is
// unfenced and in the ISR again.
func TestAutoLeaderRebalance(t *testing.T) {
	ec := startElectionCluster(t, func(cfg *Config) {
		cfg.AutoLeaderRebalance = true
		cfg.LeaderImbalanceCheckInterval = 20 * time.Millisecond
	})
	createTopic(t, ec.c, "r", 1, 3, nil)
	pref := ec.partition(t, "r", 0).Replicas[0]
	ec.setAlive(pref, false)
	ec.waitPartition(t, "r", 0, func(p metadata.Partition) bool { return p.Leader != pref && p.Leader != metadata.NoLeader })
	ec.setAlive(pref, true)
	waitFor(t, 10*time.Second, func() error {
		if b, _ := ec.c.Image().Broker(pref); b.Fenced {
			return fmt.Errorf("broker %d still fenced", pref)
		}
		return nil
	})
	// Out of the ISR it cannot lead (TestImbalancedLeaderRecords); the
	// leader adds it back.
	if p := ec.partition(t, "r", 0); p.Leader == pref {
		t.Fatalf("preferred replica outside the ISR leads: %+v", p)
	}
	ec.setISR(t, "r", 1, 2, 3)
	ec.waitPartition(t, "r", 0, func(p metadata.Partition) bool { return p.Leader == pref })
}
