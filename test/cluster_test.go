package test

// Three real samsa server processes forming one cluster of combined
// controller+broker nodes (a three-voter Raft quorum for the metadata log):
// metadata written through any node is visible on every node, the quorum
// fails over when the active controller is killed without losing an
// acknowledged change, a restarted node catches up, and clients produce
// and consume through partitions led by every node.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
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

// failoverBudget bounds how long the quorum may take to serve admin
// requests again after the active controller is killed (the aim is under
// 3 seconds with the default Raft timeouts; the bound leaves room for a
// loaded test machine).
const failoverBudget = 15 * time.Second

// metadataOn asks node itself for Metadata over one connection to its
// own listener (a kgo client would route to any broker it has learned
// of), so the answer is that node's image: its unfenced brokers and, if
// named, the topics.
func metadataOn(t testing.TB, node *harness.ClusterNode, topics ...string) (*kmsg.MetadataResponse, error) {
	cl := protocol.NewClient(node.Bootstrap(), "samsa-cluster-test")
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, topic := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := cl.Request(testCtx(t), req)
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", node.ID(), err)
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// topicOn returns topic as node's own Metadata describes it.
func topicOn(t testing.TB, node *harness.ClusterNode, topic string) (kmsg.MetadataResponseTopic, error) {
	resp, err := metadataOn(t, node, topic)
	if err != nil {
		return kmsg.MetadataResponseTopic{}, err
	}
	if len(resp.Topics) != 1 {
		return kmsg.MetadataResponseTopic{}, fmt.Errorf("node %d: %d topics in the answer", node.ID(), len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return kmsg.MetadataResponseTopic{}, fmt.Errorf("node %d: topic %s: %w", node.ID(), topic, err)
	}
	return resp.Topics[0], nil
}

// brokersOn returns the broker ids node's own Metadata lists (the
// unfenced ones).
func brokersOn(t testing.TB, node *harness.ClusterNode) ([]int32, error) {
	resp, err := metadataOn(t, node)
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids, nil
}

// waitTopicOnAll waits until every given node lists topic with n partitions.
func waitTopicOnAll(t testing.TB, nodes []*harness.ClusterNode, topic string, n int) {
	t.Helper()
	for _, node := range nodes {
		eventually(t, opTimeout, fmt.Sprintf("topic %s on node %d", topic, node.ID()), func() error {
			td, err := topicOn(t, node, topic)
			if err != nil {
				return err
			}
			if len(td.Partitions) != n {
				return fmt.Errorf("%d partitions, want %d", len(td.Partitions), n)
			}
			return nil
		})
	}
}

// TestClusterTopicCreatedOnOneNodeIsVisibleOnAll creates a topic through
// node 1 (forwarded to the active controller, KIP-590) and reads it back,
// with the same id, from the Metadata of nodes 2 and 3, which follow the
// metadata log.
func TestClusterTopicCreatedOnOneNodeIsVisibleOnAll(t *testing.T) {
	c := harness.StartCluster(t, 3)
	adm := newAdmin(t, c.Node(1).Bootstrap())
	created := createTopic(t, adm, "everywhere", 6, nil)
	waitTopicOnAll(t, c.Nodes(), "everywhere", 6)
	for _, node := range c.Nodes() {
		td, err := topicOn(t, node, "everywhere")
		if err != nil {
			t.Fatal(err)
		}
		if td.TopicID != created.ID {
			t.Errorf("node %d: topic id %x, created as %x", node.ID(), td.TopicID, created.ID)
		}
		if brokers, err := brokersOn(t, node); err != nil || !slices.Equal(brokers, []int32{1, 2, 3}) {
			t.Errorf("node %d lists brokers %v (%v), want all three", node.ID(), brokers, err)
		}
	}
	// samsa cluster quorum / describe, through any node, name the active
	// controller the quorum itself reports.
	leader := c.WaitActiveController(10 * time.Second)
	var quorum cliQuorum
	cliJSON(t, c.Node(3).Bootstrap(), &quorum, "cluster", "quorum", "-o", "json")
	if quorum.Leader != leader || len(quorum.Voters) != 3 {
		t.Errorf("samsa cluster quorum: %+v, want leader %d and three voters", quorum, leader)
	}
	var cluster cliCluster
	cliJSON(t, c.Node(2).Bootstrap(), &cluster, "cluster", "describe", "-o", "json")
	if cluster.ClusterID != c.ID() || cluster.ActiveController != leader || len(cluster.Brokers) != 3 {
		t.Errorf("samsa cluster describe: %+v, want cluster %s, controller %d, three brokers", cluster, c.ID(), leader)
	}

	// More replicas than brokers is refused.
	resp, err := adm.CreateTopic(testCtx(t), 1, 4, nil, "over-replicated")
	if !errors.Is(err, kerr.InvalidReplicationFactor) || !strings.Contains(resp.ErrMessage, "larger than the 3 available") {
		t.Errorf("CreateTopics with replication factor 4: %v %q, want INVALID_REPLICATION_FACTOR, larger than the 3 available", err, resp.ErrMessage)
	}
}

// TestClusterActiveControllerKilled kill -9s the active controller (found
// with DescribeQuorum): the two other voters elect a new one, which serves
// CreateTopics through any surviving node; every topic acknowledged before
// the kill is still there; the killed node, restarted, rejoins and sees
// every topic, including the one created while it was down.
func TestClusterActiveControllerKilled(t *testing.T) {
	c := harness.StartCluster(t, 3)
	first := c.WaitActiveController(30 * time.Second)
	survivor := c.Others(first)[0]
	adm := newAdmin(t, survivor.Bootstrap())
	for _, name := range []string{"before-1", "before-2", "before-3"} {
		createTopic(t, adm, name, 2, nil)
	}

	c.Node(first).Kill()
	killedAt := time.Now()
	// The broker retries forwarded requests until a controller is active,
	// so one CreateTopics normally succeeds; a retry that finds the topic
	// created by an earlier attempt counts as success too.
	eventually(t, failoverBudget, "CreateTopics after the active controller was killed", func() error {
		_, err := adm.CreateTopic(testCtx(t), 1, 1, nil, "after-failover")
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		return err
	})
	t.Logf("kill -9 of the active controller (node %d) to the first successful CreateTopics: %v", first, time.Since(killedAt))
	second := c.WaitActiveController(10 * time.Second)
	if second == first {
		t.Fatalf("node %d still reported as the active controller after kill -9", first)
	}
	for _, node := range c.Others(first) {
		for _, name := range []string{"before-1", "before-2", "before-3"} {
			waitTopicOnAll(t, []*harness.ClusterNode{node}, name, 2)
		}
		waitTopicOnAll(t, []*harness.ClusterNode{node}, "after-failover", 1)
	}

	c.Node(first).Restart()
	for _, name := range []string{"before-1", "before-2", "before-3"} {
		waitTopicOnAll(t, []*harness.ClusterNode{c.Node(first)}, name, 2)
	}
	waitTopicOnAll(t, []*harness.ClusterNode{c.Node(first)}, "after-failover", 1)
	// The restarted node is a working voter again: the quorum answers
	// admin requests sent to it.
	createTopic(t, newAdmin(t, c.Node(first).Bootstrap()), "after-rejoin", 1, nil)
	waitTopicOnAll(t, c.Nodes(), "after-rejoin", 1)
}

// TestClusterProduceConsumeOnEveryLeader spreads a topic's partitions over
// the three brokers (replication factor 1, round-robin placement),
// produces to every partition through a client seeded with node 1 only,
// and reads everything back: each partition is served by its own leader,
// whichever node that is.
func TestClusterProduceConsumeOnEveryLeader(t *testing.T) {
	c := harness.StartCluster(t, 3)
	adm := newAdmin(t, c.Node(1).Bootstrap())
	const topic, partitions = "spread", 6
	createTopic(t, adm, topic, partitions, nil)
	td := waitTopicReady(t, adm, topic, partitions)
	var leaders []int32
	for _, p := range td.Partitions {
		if !slices.Contains(leaders, p.Leader) {
			leaders = append(leaders, p.Leader)
		}
	}
	slices.Sort(leaders)
	if !slices.Equal(leaders, []int32{1, 2, 3}) {
		t.Fatalf("partition leaders %v, want every broker", leaders)
	}

	cl := newKgo(t, c.Node(1).Bootstrap(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var want []*kgo.Record
	for i := range 60 {
		want = append(want, &kgo.Record{Topic: topic, Partition: int32(i % partitions),
			Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	if err := cl.ProduceSync(testCtx(t), want...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	got := consumeAll(t, c.Node(2).Bootstrap(), topic)
	if len(got) != len(want) {
		t.Fatalf("read %d records, produced %d", len(got), len(want))
	}
	byKey := map[string]*kgo.Record{}
	for _, r := range got {
		byKey[string(r.Key)] = r
	}
	for _, w := range want {
		r, ok := byKey[string(w.Key)]
		if !ok || string(r.Value) != string(w.Value) || r.Partition != w.Partition || r.Offset != w.Offset {
			t.Fatalf("record %s: produced to %d@%d, read %+v", w.Key, w.Partition, w.Offset, r)
		}
	}
	// Each broker hosts only its own partitions: asking node 1 directly
	// for a partition led by node 2 is NOT_LEADER_OR_FOLLOWER.
	for _, p := range td.Partitions {
		if p.Leader == 1 {
			continue
		}
		conn := dialRaw(t, c.Node(1).Bootstrap())
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = 4
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p.Partition, -1
		rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
		req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
		resp, err := conn.roundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
			t.Errorf("ListOffsets for partition %d (leader %d) at node 1: %s, want NOT_LEADER_OR_FOLLOWER", p.Partition, p.Leader, errName(code))
		}
		break
	}
}

// partitionLedBy returns the partition of td led by id, or -1.
func partitionLedBy(td kmsg.MetadataResponseTopic, id int32) int32 {
	for _, p := range td.Partitions {
		if p.Leader == id {
			return p.Partition
		}
	}
	return -1
}

// logLines returns the JSON log lines of every node with the given
// message whose field key has the value want.
func logLines(c *harness.Cluster, message, key string, want float64) []string {
	var out []string
	for _, node := range c.Nodes() {
		for _, line := range strings.Split(node.Logs(), "\n") {
			var entry map[string]any
			if json.Unmarshal([]byte(line), &entry) != nil || entry["message"] != message {
				continue
			}
			if v, ok := entry[key].(float64); ok && v == want {
				out = append(out, fmt.Sprintf("node %d: %s", node.ID(), line))
			}
		}
	}
	return out
}

// TestClusterKilledBrokerIsFencedAndUnfenced kill -9s a broker that is not
// the active controller: gossip declares it dead within seconds, the
// controller fences it (Metadata stops listing it) and its partition, with
// no other replica, is left without a leader (LEADER_NOT_AVAILABLE) rather
// than served by a broker that is gone. Restarted, it registers again, is
// unfenced, and leads its partition again with a new leader epoch, keeping
// its records (design decision 4; KIP-631 fencing).
func TestClusterKilledBrokerIsFencedAndUnfenced(t *testing.T) {
	c := harness.StartCluster(t, 3)
	ctrl := c.WaitActiveController(30 * time.Second)
	victim := c.Others(ctrl)[0]
	watcher := c.Node(ctrl)
	adm := newAdmin(t, watcher.Bootstrap())
	const topic = "fencing"
	createTopic(t, adm, topic, 3, nil)
	waitTopicOnAll(t, []*harness.ClusterNode{watcher}, topic, 3)
	before, err := topicOn(t, watcher, topic)
	if err != nil {
		t.Fatal(err)
	}
	part := partitionLedBy(before, victim.ID())
	if part < 0 {
		t.Fatalf("no partition led by node %d: %+v", victim.ID(), before.Partitions)
	}
	cl := newKgo(t, watcher.Bootstrap(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Topic: topic, Partition: part, Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	victim.Kill()
	killedAt := time.Now()
	eventually(t, 15*time.Second, fmt.Sprintf("node %d fenced", victim.ID()), func() error {
		ids, err := brokersOn(t, watcher)
		if err != nil {
			return err
		}
		if slices.Contains(ids, victim.ID()) {
			return fmt.Errorf("Metadata still lists brokers %v", ids)
		}
		td, err := topicOn(t, watcher, topic)
		if err != nil {
			return err
		}
		if p := td.Partitions[part]; p.Leader != -1 || p.ErrorCode != kerr.LeaderNotAvailable.Code {
			return fmt.Errorf("partition %d: leader %d, error %s", part, p.Leader, errName(p.ErrorCode))
		}
		return nil
	})
	t.Logf("kill -9 of broker %d to fenced with its partition leaderless: %v", victim.ID(), time.Since(killedAt))

	victim.Restart()
	eventually(t, 15*time.Second, fmt.Sprintf("node %d unfenced and leading again", victim.ID()), func() error {
		ids, err := brokersOn(t, watcher)
		if err != nil {
			return err
		}
		if !slices.Contains(ids, victim.ID()) {
			return fmt.Errorf("Metadata lists brokers %v", ids)
		}
		td, err := topicOn(t, watcher, topic)
		if err != nil {
			return err
		}
		if p := td.Partitions[part]; p.Leader != victim.ID() || p.LeaderEpoch <= before.Partitions[part].LeaderEpoch {
			return fmt.Errorf("partition %d: leader %d epoch %d", part, p.Leader, p.LeaderEpoch)
		}
		return nil
	})
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Topic: topic, Partition: part, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce to the returned leader: %v", err)
	}
	var values []string
	for _, r := range consumeAll(t, watcher.Bootstrap(), topic) {
		if r.Partition == part {
			values = append(values, string(r.Value))
		}
	}
	if !slices.Equal(values, []string{"before", "after"}) {
		t.Fatalf("partition %d holds %q, want [before after]", part, values)
	}
}

// TestClusterPausedBrokerIsNotFenced SIGSTOPs a broker for two seconds
// (a long GC pause, a stalled VM): gossip suspects it but it refutes once
// it runs again, so it is never declared dead or fenced. The check for
// something that must not happen needs a window: it watches until well
// past the point where a fence would have come (pause + probe + suspicion
// timeout).
func TestClusterPausedBrokerIsNotFenced(t *testing.T) {
	c := harness.StartCluster(t, 3)
	ctrl := c.WaitActiveController(30 * time.Second)
	victim := c.Others(ctrl)[0]
	watcher := c.Node(ctrl)

	victim.Pause()
	pausedAt := time.Now()
	time.Sleep(2 * time.Second) // the pause under test, not a synchronisation
	victim.Resume()
	window := pausedAt.Add(8 * time.Second)
	for time.Now().Before(window) {
		ids, err := brokersOn(t, watcher)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ids, victim.ID()) {
			t.Fatalf("%v after a 2s pause, Metadata lists brokers %v", time.Since(pausedAt), ids)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lines := logLines(c, "broker fenced", "broker", float64(victim.ID())); len(lines) > 0 {
		t.Fatalf("broker %d was fenced after a 2s pause:\n%s", victim.ID(), strings.Join(lines, "\n"))
	}
	// The paused node still serves.
	if _, err := brokersOn(t, victim); err != nil {
		t.Fatalf("node %d after the pause: %v", victim.ID(), err)
	}
}

// The JSON the samsa cluster commands print, as much as the tests read.
type (
	cliQuorum struct {
		Leader      int32 `json:"leader"`
		LeaderEpoch int32 `json:"leader_epoch"`
		Voters      []struct {
			ID           int32  `json:"id"`
			Role         string `json:"role"`
			LogEndOffset int64  `json:"log_end_offset"`
		} `json:"voters"`
	}
	cliCluster struct {
		ClusterID        string `json:"cluster_id"`
		ActiveController int32  `json:"active_controller"`
		Brokers          []struct {
			ID   int32  `json:"id"`
			Host string `json:"host"`
			Port int32  `json:"port"`
		} `json:"brokers"`
	}
)

// cliJSON runs the samsa CLI against bootstrap and decodes its JSON output.
func cliJSON(t *testing.T, bootstrap string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), append(args, "--bootstrap", bootstrap)...)
	cmd.Env = append(os.Environ(), "SAMSA_BOOTSTRAP=")
	stdout, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("samsa %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("samsa %s: output is not the expected JSON: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

// TestClusterCLIOnOneNode runs samsa cluster describe and quorum against a
// single combined node: it is the quorum's only voter and leader, and the
// only broker; the table forms print the same facts.
func TestClusterCLIOnOneNode(t *testing.T) {
	n := harness.StartNode(t)
	var quorum cliQuorum
	cliJSON(t, n.Bootstrap(), &quorum, "cluster", "quorum", "-o", "json")
	if quorum.Leader != 1 || len(quorum.Voters) != 1 || quorum.Voters[0].Role != "leader" || quorum.Voters[0].LogEndOffset <= 0 {
		t.Fatalf("samsa cluster quorum: %+v", quorum)
	}
	var cluster cliCluster
	cliJSON(t, n.Bootstrap(), &cluster, "cluster", "describe", "-o", "json")
	if cluster.ClusterID != n.ClusterID() || cluster.ActiveController != 1 || len(cluster.Brokers) != 1 ||
		fmt.Sprintf("%s:%d", cluster.Brokers[0].Host, cluster.Brokers[0].Port) != n.Bootstrap() {
		t.Fatalf("samsa cluster describe: %+v", cluster)
	}
	table := samsa(t, n, "", "cluster", "quorum").stdout
	if !strings.Contains(table, "Leader:") || !strings.Contains(table, "leader") {
		t.Fatalf("samsa cluster quorum table:\n%s", table)
	}
	table = samsa(t, n, "", "cluster", "describe").stdout
	if !strings.Contains(table, n.ClusterID()) || !strings.Contains(table, "Active controller:") {
		t.Fatalf("samsa cluster describe table:\n%s", table)
	}
}

// TestClusterNodeOfAnotherClusterRefusesToStart restarts a voter with
// another cluster.id: on its old data directory meta.properties refuses
// it at once; on a fresh one (a wrong config on a replaced disk) the other
// voters refuse its Raft handshake and it exits naming both cluster ids.
// The two good voters keep serving throughout.
func TestClusterNodeOfAnotherClusterRefusesToStart(t *testing.T) {
	c := harness.StartCluster(t, 3)
	ctrl := c.WaitActiveController(30 * time.Second)
	bad := c.Others(ctrl)[0]
	bad.Kill()
	bad.SetConfig("cluster.id", "another-cluster")

	out := bad.StartExpectingFailure(30 * time.Second)
	if !strings.Contains(out, "cluster id mismatch") || !strings.Contains(out, c.ID()) || !strings.Contains(out, "another-cluster") {
		t.Fatalf("node %d with another cluster id on its old data: want a cluster id mismatch naming both ids, got:\n%s", bad.ID(), out)
	}
	bad.WipeData()
	out = bad.StartExpectingFailure(30 * time.Second)
	if !strings.Contains(out, "cluster id mismatch") || !strings.Contains(out, "voters refuse this node") ||
		!strings.Contains(out, c.ID()) || !strings.Contains(out, "another-cluster") {
		t.Fatalf("node %d of another cluster on a fresh disk: want the voters' refusal naming both ids, got:\n%s", bad.ID(), out)
	}
	createTopic(t, newAdmin(t, c.Node(ctrl).Bootstrap()), "still-served", 1, nil)
}
