package test

// Broker-only nodes (roles: broker) on real server processes: such a node
// follows the metadata log as a Raft non-voter, the analogue of a KRaft
// observer (design decision 3, KIP-595's observers), added by its own
// registration with no operator action. Three combined voters and one
// broker-only node.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/test/harness"
)

// quorumThrough asks node's Kafka listener for DescribeQuorum v1 (the
// broker forwards it to the active controller) and returns the metadata
// partition's answer.
func quorumThrough(t testing.TB, node *harness.ClusterNode) (kmsg.DescribeQuorumResponseTopicPartition, error) {
	cl := protocol.NewClient(node.Bootstrap(), "samsa-observer-test")
	defer cl.Close()
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(1)
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{rt}
	resp, err := cl.Request(testCtx(t), req)
	if err != nil {
		return kmsg.DescribeQuorumResponseTopicPartition{}, err
	}
	r := resp.(*kmsg.DescribeQuorumResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return kmsg.DescribeQuorumResponseTopicPartition{}, err
	}
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return kmsg.DescribeQuorumResponseTopicPartition{}, fmt.Errorf("malformed answer %+v", r)
	}
	p := r.Topics[0].Partitions[0]
	return p, kerr.ErrorForCode(p.ErrorCode)
}

// waitObserver waits until DescribeQuorum, asked through node, lists the
// voters 1..3 and id as the only observer, caught up to at least offset.
func waitObserver(t *testing.T, node *harness.ClusterNode, id int32, offset int64) {
	t.Helper()
	eventually(t, opTimeout, fmt.Sprintf("node %d an observer of the quorum at offset %d or later", id, offset), func() error {
		p, err := quorumThrough(t, node)
		if err != nil {
			return err
		}
		var voters []int32
		for _, v := range p.CurrentVoters {
			voters = append(voters, v.ReplicaID)
		}
		slices.Sort(voters)
		if !slices.Equal(voters, []int32{1, 2, 3}) {
			return fmt.Errorf("voters %v", voters)
		}
		if len(p.Observers) != 1 || p.Observers[0].ReplicaID != id {
			return fmt.Errorf("observers %+v", p.Observers)
		}
		if o := p.Observers[0]; o.LogEndOffset < offset || o.LastFetchTimestamp <= 0 {
			return fmt.Errorf("observer %d at log end offset %d, last fetch %d", id, o.LogEndOffset, o.LastFetchTimestamp)
		}
		return nil
	})
}

// TestClusterBrokerOnlyNode: a broker-only node joins without operator
// action and serves like any broker. DescribeQuorum lists it as an
// observer with its progress; a topic created through it is visible on
// it and everywhere; replicas of a replication-factor-3 topic are placed
// on it, join the ISR, and clients produce and consume through it. Killed
// (kill -9) it is fenced by gossip like any broker; restarted on its own
// raft.db it catches up with what was committed meanwhile and is
// unfenced.
func TestClusterBrokerOnlyNode(t *testing.T) {
	c := harness.StartCluster(t, 3)
	ctrl := c.Node(c.WaitActiveController(30 * time.Second))
	obs := c.StartBrokerOnlyNode()
	if obs.ControllerAddr() != "" {
		t.Fatalf("broker-only node %d has a controller listener %s", obs.ID(), obs.ControllerAddr())
	}
	waitObserver(t, obs, obs.ID(), 1)

	adm := newAdmin(t, obs.Bootstrap())
	createTopic(t, adm, "via-observer", 3, nil)
	waitTopicOnAll(t, c.Nodes(), "via-observer", 3)
	eventually(t, opTimeout, "every node listing four unfenced brokers", func() error {
		for _, nd := range c.Nodes() {
			ids, err := brokersOn(t, nd)
			if err != nil {
				return err
			}
			if !slices.Equal(ids, []int32{1, 2, 3, 4}) {
				return fmt.Errorf("node %d lists brokers %v", nd.ID(), ids)
			}
		}
		return nil
	})

	const topic, partitions = "replicated", 8
	createReplicatedTopic(t, adm, topic, partitions, nil)
	hosted := checkReplicasOn(t, obs, topic, obs.ID())
	cl := newKgo(t, obs.Bootstrap(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var produced []*kgo.Record
	for i := range 4 * partitions {
		produced = append(produced, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	if err := cl.ProduceSync(testCtx(t), produced...).FirstErr(); err != nil {
		t.Fatalf("produce through the broker-only node: %v", err)
	}
	if got := consumeN(t, obs.Bootstrap(), topic, len(produced)); len(got) != len(produced) {
		t.Fatalf("consumed %d records through the broker-only node, produced %d", len(got), len(produced))
	}
	t.Logf("broker-only node %d hosts replicas of partitions %v", obs.ID(), hosted)

	obs.Kill()
	eventually(t, 15*time.Second, fmt.Sprintf("broker-only node %d fenced", obs.ID()), func() error {
		ids, err := brokersOn(t, ctrl)
		if err != nil {
			return err
		}
		if slices.Contains(ids, obs.ID()) {
			return fmt.Errorf("Metadata still lists brokers %v", ids)
		}
		return nil
	})
	createTopic(t, newAdmin(t, ctrl.Bootstrap()), "while-down", 2, nil)

	obs.Restart()
	waitTopicOnAll(t, []*harness.ClusterNode{obs}, "while-down", 2)
	eventually(t, opTimeout, fmt.Sprintf("broker-only node %d unfenced", obs.ID()), func() error {
		ids, err := brokersOn(t, ctrl)
		if err != nil {
			return err
		}
		if !slices.Contains(ids, obs.ID()) {
			return fmt.Errorf("Metadata lists brokers %v", ids)
		}
		return nil
	})
	p, err := quorumThrough(t, ctrl)
	if err != nil {
		t.Fatal(err)
	}
	waitObserver(t, obs, obs.ID(), p.HighWatermark)
	checkReplicasOn(t, obs, topic, obs.ID())
	if got := consumeN(t, obs.Bootstrap(), topic, len(produced)); len(got) != len(produced) {
		t.Fatalf("after the restart, consumed %d records, produced %d", len(got), len(produced))
	}
}

// checkReplicasOn waits until every partition of topic that has id among
// its replicas has it in the ISR too, as node's Metadata says, and returns
// those partitions; there must be some.
func checkReplicasOn(t *testing.T, node *harness.ClusterNode, topic string, id int32) []int32 {
	t.Helper()
	var hosted []int32
	eventually(t, opTimeout, fmt.Sprintf("broker %d in the ISR of its replicas of %s", id, topic), func() error {
		td, err := topicOn(t, node, topic)
		if err != nil {
			return err
		}
		hosted = hosted[:0]
		for _, p := range td.Partitions {
			if !slices.Contains(p.Replicas, id) {
				continue
			}
			if !slices.Contains(p.ISR, id) {
				return fmt.Errorf("partition %d: replicas %v, ISR %v", p.Partition, p.Replicas, p.ISR)
			}
			hosted = append(hosted, p.Partition)
		}
		if len(hosted) == 0 {
			return fmt.Errorf("no replica placed on broker %d: %+v", id, td.Partitions)
		}
		return nil
	})
	return hosted
}

// TestClusterBrokerOnlyNodeNeverVotes: with two of the three voters killed
// the quorum has no leader, and the broker-only node, a Raft non-voter,
// never stands for election or leads, though it hears from no leader for
// many election timeouts; it keeps serving Metadata from its last image.
// Once the voters are back, a voter leads and the broker-only node
// follows the log again.
func TestClusterBrokerOnlyNodeNeverVotes(t *testing.T) {
	c := harness.StartCluster(t, 3)
	leader := c.WaitActiveController(30 * time.Second)
	obs := c.StartBrokerOnlyNode()
	waitObserver(t, obs, obs.ID(), 1)
	survivor := c.Others(leader)[0]
	var killed []*harness.ClusterNode
	for _, nd := range c.Nodes() {
		if nd != survivor && nd != obs {
			nd.Kill()
			killed = append(killed, nd)
		}
	}

	// Something that must not happen needs a window: eight heartbeat
	// timeouts (controller.quorum.fetch.timeout.ms, 1 s by default).
	window := time.Now().Add(8 * time.Second)
	for time.Now().Before(window) {
		if id, err := c.ActiveController(testCtx(t)); err == nil {
			t.Fatalf("node %d is the active controller with two of three voters down", id)
		}
		if _, err := brokersOn(t, obs); err != nil {
			t.Fatalf("broker-only node without a quorum: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, msg := range []string{"entering candidate state", "entering leader state", "became the active controller"} {
		if strings.Contains(obs.Logs(), msg) {
			t.Fatalf("broker-only node %d logged %q", obs.ID(), msg)
		}
	}
	// It did notice the leader was gone, and declined to stand.
	if logs := obs.Logs(); !strings.Contains(logs, "aborting election") && !strings.Contains(logs, "not triggering a leader election") {
		t.Fatalf("broker-only node %d never noticed the missing leader", obs.ID())
	}

	for _, nd := range killed {
		nd.Launch()
	}
	for _, nd := range killed {
		nd.WaitServing()
	}
	if id := c.WaitActiveController(30 * time.Second); id == obs.ID() {
		t.Fatalf("broker-only node %d leads the quorum", id)
	}
	createTopic(t, newAdmin(t, survivor.Bootstrap()), "after-quorum-loss", 1, nil)
	waitTopicOnAll(t, []*harness.ClusterNode{obs}, "after-quorum-loss", 1)
	if strings.Contains(obs.Logs(), "entering candidate state") {
		t.Fatalf("broker-only node %d stood for election", obs.ID())
	}
}
