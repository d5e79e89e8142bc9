package test

// Leader elections across three real samsa server processes: preferred
// leader election (auto.leader.rebalance.enable) gives a restarted broker
// its leaderships back, and unclean leader election (ElectLeaders UNCLEAN
// through `samsa partition elect-leaders`, or the topic config
// unclean.leader.election.enable) brings a partition whose in-sync
// replicas are all down back with a replica from outside the ISR, losing
// what only they had.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/test/harness"
)

// electCLI runs `samsa partition elect-leaders` against node with -o json
// and returns its results by "topic-partition".
func electCLI(t *testing.T, node *harness.ClusterNode, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append([]string{"partition", "elect-leaders", "-o", "json", "--bootstrap", node.Bootstrap()}, args...)
	cmd := exec.CommandContext(ctx, harness.Binary(t), args...)
	cmd.Env = append(os.Environ(), "SAMSA_BOOTSTRAP=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("samsa %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	var rows []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Result    string `json:"result"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		t.Fatalf("samsa %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, stdout.String())
	}
	out := map[string]string{}
	for _, r := range rows {
		out[fmt.Sprintf("%s-%d", r.Topic, r.Partition)] = r.Result
	}
	return out
}

// createAssigned creates a one-partition topic on exactly replicas, in
// that order (the first is the preferred replica).
func createAssigned(t *testing.T, cl *kgo.Client, topic string, replicas []int32, configs map[string]string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	a.Partition, a.Replicas = 0, replicas
	rt.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{a}
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create %s on %v: %v", topic, replicas, err)
	}
}

// partitionState is partition 0 of topic as node's Metadata reports it.
func partitionState(t *testing.T, node *harness.ClusterNode, topic string) (leader int32, isr []int32, err error) {
	td, err := topicOn(t, node, topic)
	if err != nil {
		return 0, nil, err
	}
	if len(td.Partitions) == 0 {
		return 0, nil, fmt.Errorf("%s has no partitions", topic)
	}
	p := td.Partitions[0]
	isr = slices.Clone(p.ISR)
	slices.Sort(isr)
	return p.Leader, isr, nil
}

// TestElectionsPreferredLeaderReturnsAndUncleanElectionRecovers checks
// KIP-183 and KIP-460 end to end. Preferred: the leader of a partition is
// killed, another replica takes over, and once the broker is back in the
// ISR the periodic balance (leader.imbalance.check.interval.seconds=1)
// makes it lead again, with every acknowledged record readable.
// Unclean: a partition's only in-sync replica dies while the other
// replica is out of the ISR; it stays leaderless by default (no change in
// behaviour) until `samsa partition elect-leaders --type unclean` makes
// the other replica lead alone — its twin topic with
// unclean.leader.election.enable=true is elected without being asked. The
// records only the dead replica had are gone; the records written after
// the election survive, and the old leader truncates to the new log when
// it returns.
func TestElectionsPreferredLeaderReturnsAndUncleanElectionRecovers(t *testing.T) {
	c := harness.StartCluster(t, 3, harness.WithNodeConfig("leader.imbalance.check.interval.seconds", "1"))
	start := time.Now()
	adm := newAdmin(t, c.Node(1).Bootstrap())
	createReplicatedTopic(t, adm, "pref", 3, nil)
	waitISR(t, c.Node(1), "pref", []int32{1, 2, 3}, 30*time.Second)

	// Preferred leader election.
	victim := leaderOf(t, c.Node(1), "pref", 0)
	c.Node(victim).Kill()
	survivor := c.Others(victim)[0]
	eventually(t, 30*time.Second, "a new leader for pref-0", func() error {
		if l := leaderOf(t, survivor, "pref", 0); l == victim || l < 0 {
			return fmt.Errorf("leader %d", l)
		}
		return nil
	})
	cl := newKgo(t, survivor.Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("pref"))
	const n = 30
	for i := range n {
		if err := cl.ProduceSync(testCtx(t), kgo.StringRecord("p"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("produce %d while broker %d is down: %v", i, victim, err)
		}
	}
	c.Node(victim).Restart()
	eventually(t, 60*time.Second, "every partition of pref led by its preferred replica", func() error {
		td, err := topicOn(t, survivor, "pref")
		if err != nil {
			return err
		}
		for _, p := range td.Partitions {
			if len(p.Replicas) == 0 || p.Leader != p.Replicas[0] || len(p.ISR) != 3 {
				return fmt.Errorf("partition %d: leader %d, replicas %v, ISR %v", p.Partition, p.Leader, p.Replicas, p.ISR)
			}
		}
		return nil
	})
	t.Logf("%v: broker %d leads its preferred partitions again", time.Since(start), victim)
	if got := consumeN(t, c.Node(victim).Bootstrap(), "pref", n); len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	if got := electCLI(t, c.Node(2), "--all"); len(got) != 0 {
		t.Fatalf("elect-leaders --all on a balanced cluster: %v, want nothing to elect", got)
	}

	// Unclean leader election. Both topics live on brokers 1 (preferred)
	// and 2.
	kcl := newKgo(t, c.Node(3).Bootstrap())
	createAssigned(t, kcl, "unc", []int32{1, 2}, nil)
	createAssigned(t, kcl, "unc-auto", []int32{1, 2}, map[string]string{"unclean.leader.election.enable": "true"})
	waitISR(t, c.Node(3), "unc", []int32{1, 2}, 30*time.Second)
	waitISR(t, c.Node(3), "unc-auto", []int32{1, 2}, 30*time.Second)
	c.Node(2).Kill()
	waitISR(t, c.Node(3), "unc", []int32{1}, 30*time.Second)
	waitISR(t, c.Node(3), "unc-auto", []int32{1}, 30*time.Second)
	only1 := newKgo(t, c.Node(1).Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("unc"))
	for i := range 10 {
		if err := only1.ProduceSync(testCtx(t), kgo.StringRecord("lost-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("produce with broker 1 the only in-sync replica: %v", err)
		}
	}
	// Broker 1 dies too (the quorum is lost until broker 2 is back), and
	// broker 2 returns with an older log than the one the ISR had.
	c.Node(1).Kill()
	c.Node(2).Restart()
	eventually(t, 60*time.Second, "broker 2 live and broker 1 fenced", func() error {
		ids, err := brokersOn(t, c.Node(3))
		if err == nil && !slices.Equal(ids, []int32{2, 3}) {
			err = fmt.Errorf("live brokers %v", ids)
		}
		return err
	})
	// The decision that saw both is taken: the default keeps the ISR.
	if leader, isr, err := partitionState(t, c.Node(3), "unc"); err != nil || leader != -1 || !slices.Equal(isr, []int32{1}) {
		t.Fatalf("unc without unclean election: leader %d, ISR %v (%v), want leaderless with ISR [1]", leader, isr, err)
	}
	if leader, isr, err := partitionState(t, c.Node(3), "unc-auto"); err != nil || leader != 2 || !slices.Equal(isr, []int32{2}) {
		t.Fatalf("unc-auto with unclean.leader.election.enable: leader %d, ISR %v (%v), want 2 alone", leader, isr, err)
	}
	if got := electCLI(t, c.Node(3), "--type", "unclean", "--topic", "unc"); got["unc-0"] != "ELECTED" || len(got) != 1 {
		t.Fatalf("elect-leaders --type unclean: %v", got)
	}
	if leader, isr, err := partitionState(t, c.Node(3), "unc"); err != nil || leader != 2 || !slices.Equal(isr, []int32{2}) {
		t.Fatalf("unc after the unclean election: leader %d, ISR %v (%v), want 2 alone", leader, isr, err)
	}
	t.Logf("%v: unclean election done", time.Since(start))
	on2 := newKgo(t, c.Node(2).Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("unc"),
		kgo.RecordDeliveryTimeout(30*time.Second))
	for i := range 10 {
		if err := on2.ProduceSync(testCtx(t), kgo.StringRecord("new-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("produce after the unclean election: %v", err)
		}
	}

	// Broker 1 returns: it truncates what only it had, rejoins the ISR,
	// and the balance gives it back the leadership it prefers.
	c.Node(1).Restart()
	waitISR(t, c.Node(3), "unc", []int32{1, 2}, 60*time.Second)
	seen := map[string]int{}
	for _, v := range consumeAllAvailable(t, c.Node(3).Bootstrap(), "unc") {
		seen[v]++
	}
	for i := range 10 {
		if v := "new-" + strconv.Itoa(i); seen[v] != 1 {
			t.Errorf("record %s written after the election read %d times, want once", v, seen[v])
		}
		if v := "lost-" + strconv.Itoa(i); seen[v] != 0 {
			t.Errorf("record %s, which only the dead ISR had, is back", v)
		}
	}
	eventually(t, 30*time.Second, "identical logs of unc on brokers 1 and 2", func() error {
		b1, err := partitionLog(c.Node(1), "unc", 0)
		if err != nil {
			return err
		}
		b2, err := partitionLog(c.Node(2), "unc", 0)
		if err != nil {
			return err
		}
		if !bytes.Equal(b1, b2) {
			return fmt.Errorf("broker 1 has %d bytes, broker 2 %d", len(b1), len(b2))
		}
		return nil
	})
	eventually(t, 30*time.Second, "broker 1 leads unc again", func() error {
		if l := leaderOf(t, c.Node(3), "unc", 0); l != 1 {
			return fmt.Errorf("leader %d", l)
		}
		return nil
	})
}
