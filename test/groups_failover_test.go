package test

// Group coordinator failover across three real samsa server processes:
// two franz-go members consume and commit while the node coordinating
// their group is killed with kill -9. Another node becomes the leader of
// the group's __consumer_offsets partition, loads the group from the
// replicated log and serves it; no commit the old coordinator acknowledged
// is lost or moves back, and every record is consumed.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/test/harness"
)

// coordinatorOn asks node itself (one connection to its own listener)
// which node coordinates group.
func coordinatorOn(t testing.TB, node *harness.ClusterNode, group string) (int32, error) {
	cl := protocol.NewClient(node.Bootstrap(), "samsa-failover-test")
	defer cl.Close()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = group
	req.CoordinatorKeys = []string{group}
	resp, err := cl.Request(testCtx(t), req)
	if err != nil {
		return -1, fmt.Errorf("node %d: %w", node.ID(), err)
	}
	r := resp.(*kmsg.FindCoordinatorResponse)
	id, code := r.NodeID, r.ErrorCode
	if r.Version >= 4 {
		if len(r.Coordinators) != 1 {
			return -1, fmt.Errorf("node %d: %d coordinators for one group", node.ID(), len(r.Coordinators))
		}
		id, code = r.Coordinators[0].NodeID, r.Coordinators[0].ErrorCode
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return -1, fmt.Errorf("node %d: %w", node.ID(), err)
	}
	return id, nil
}

// offsetFetchOn asks node, as the group's coordinator, for the group's
// committed offsets of topic (OffsetFetch v7, RequireStable).
func offsetFetchOn(t testing.TB, node *harness.ClusterNode, group, topic string, partitions int32) (map[int32]int64, error) {
	cl := protocol.NewClient(node.Bootstrap(), "samsa-failover-test")
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	req.RequireStable = true
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = []kmsg.OffsetFetchRequestTopic{rt}
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rgt := kmsg.NewOffsetFetchRequestGroupTopic()
	rgt.Topic = topic
	rgt.Partitions = rt.Partitions
	rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{rgt}
	req.Groups = []kmsg.OffsetFetchRequestGroup{rg}
	resp, err := cl.Request(testCtx(t), req)
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", node.ID(), err)
	}
	r := resp.(*kmsg.OffsetFetchResponse)
	out := map[int32]int64{}
	add := func(topic string, p int32, offset int64, code int16) error {
		if err := kerr.ErrorForCode(code); err != nil {
			return fmt.Errorf("node %d: %s-%d: %w", node.ID(), topic, p, err)
		}
		out[p] = offset
		return nil
	}
	if r.Version >= 8 {
		if len(r.Groups) != 1 {
			return nil, fmt.Errorf("node %d: %d groups answered", node.ID(), len(r.Groups))
		}
		g := r.Groups[0]
		if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
			return nil, fmt.Errorf("node %d: %w", node.ID(), err)
		}
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				if err := add(t.Topic, p.Partition, p.Offset, p.ErrorCode); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return nil, fmt.Errorf("node %d: %w", node.ID(), err)
	}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if err := add(t.Topic, p.Partition, p.Offset, p.ErrorCode); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// ackedCommits is the highest offset per partition whose commit the
// coordinator acknowledged to a member (OffsetCommit answered without an
// error for that partition).
type ackedCommits struct {
	mu      sync.Mutex
	offsets map[int32]int64
	acks    int
}

func (a *ackedCommits) callback(topic string) func(*kgo.Client, *kmsg.OffsetCommitRequest, *kmsg.OffsetCommitResponse, error) {
	return func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil || resp == nil {
			return
		}
		sent := map[int32]int64{}
		for _, t := range req.Topics {
			if t.Topic == topic {
				for _, p := range t.Partitions {
					sent[p.Partition] = p.Offset
				}
			}
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, t := range resp.Topics {
			if t.Topic != topic {
				continue
			}
			for _, p := range t.Partitions {
				off, ok := sent[p.Partition]
				if p.ErrorCode != 0 || !ok {
					continue
				}
				a.acks++
				if off > a.offsets[p.Partition] {
					a.offsets[p.Partition] = off
				}
			}
		}
	}
}

func (a *ackedCommits) snapshot() (map[int32]int64, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.offsets), a.acks
}

// notBelow reports the partitions whose committed offset is below floor.
func notBelow(committed, floor map[int32]int64) error {
	var bad []string
	for p, f := range floor {
		if committed[p] < f {
			bad = append(bad, fmt.Sprintf("partition %d: %d committed, %d acknowledged", p, committed[p], f))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("committed offsets behind acknowledged commits: %s", strings.Join(bad, "; "))
	}
	return nil
}

// missingOffsets lists, per partition, how many offsets below ends were
// not delivered, or nil if every one was.
func (d *delivered) missingOffsets(ends map[int32]int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var bad []string
	for p, end := range ends {
		have := map[int64]bool{}
		for _, o := range d.offsets[p] {
			have[o] = true
		}
		missing, first := 0, int64(-1)
		for o := range end {
			if !have[o] {
				if missing == 0 {
					first = o
				}
				missing++
			}
		}
		if missing > 0 {
			bad = append(bad, fmt.Sprintf("partition %d: %d of %d offsets not delivered (first %d)", p, missing, end, first))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// TestGroupCoordinatorFailover: two franz-go members of a group consume a
// replicated topic and autocommit every 100 ms while a producer keeps
// writing. The node coordinating the group is killed with kill -9; another
// node takes the group's __consumer_offsets partition over and serves the
// group within seconds. Its committed offsets are at least the highest
// ones the old coordinator acknowledged, the members carry on without a
// restart, and every record written before, during and after the kill is
// consumed and, in the end, committed.
func TestGroupCoordinatorFailover(t *testing.T) {
	const (
		topic      = "orders"
		group      = "fulfilment"
		partitions = 4
	)
	c := harness.StartCluster(t, 3,
		harness.WithNodeConfig("group.initial.rebalance.delay.ms", "0"),
		harness.WithNodeConfig("offsets.topic.num.partitions", "5"))
	var seeds []string
	for _, n := range c.Nodes() {
		seeds = append(seeds, n.Bootstrap())
	}
	all := kgo.SeedBrokers(seeds...)
	adm := newAdmin(t, seeds[0])
	createReplicatedTopic(t, adm, topic, partitions, map[string]*string{"min.insync.replicas": strp("2")})
	waitISR(t, c.Node(1), topic, []int32{1, 2, 3}, 30*time.Second)

	// A producer writes small acks=all batches until stopped; each
	// ProduceSync waits for the last, which paces it.
	prod := newKgo(t, seeds[0], all, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.MetadataMinAge(100*time.Millisecond))
	stopProducing := make(chan struct{})
	produced := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stopProducing:
				produced <- nil
				return
			default:
			}
			var recs []*kgo.Record
			for j := range 8 {
				recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(j)), Value: fmt.Appendf(nil, "order-%d-%d", i, j)})
			}
			if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				produced <- fmt.Errorf("batch %d: %w", i, err)
				return
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stopProducing:
		default:
			close(stopProducing)
		}
	})

	got := newDelivered()
	commits := &ackedCommits{offsets: map[int32]int64{}}
	memberOpts := []kgo.Opt{all, kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.AutoCommitCallback(commits.callback(topic)), kgo.MetadataMinAge(100 * time.Millisecond)}
	startKgoMember(t, seeds[0], group, topic, got, memberOpts...)
	startKgoMember(t, seeds[1], group, topic, got, memberOpts...)
	waitAssignment(t, adm, group, topic, partitions, 2)

	// Consuming and committing: wait for commits on every partition.
	eventually(t, opTimeout, "acknowledged commits on every partition", func() error {
		offs, acks := commits.snapshot()
		if len(offs) < partitions || acks < 20 {
			return fmt.Errorf("%d acknowledged partition commits, partitions %v", acks, offs)
		}
		return nil
	})

	var victim int32 = -1
	eventually(t, opTimeout, "the group's coordinator", func() error {
		id, err := coordinatorOn(t, c.Node(1), group)
		victim = id
		return err
	})
	floor, acks := commits.snapshot()
	killed := time.Now()
	c.Node(victim).Kill()
	t.Logf("killed coordinator %d after %d acknowledged partition commits; acknowledged offsets %v", victim, acks, floor)

	// A survivor takes over: both agree on a live coordinator, which
	// serves OffsetFetch with offsets no lower than any acknowledged
	// before the kill.
	survivors := c.Others(victim)
	var next int32
	eventually(t, failoverBudget, "a new coordinator serving the group", func() error {
		for _, s := range survivors {
			id, err := coordinatorOn(t, s, group)
			if err != nil {
				return err
			}
			if id == victim {
				return fmt.Errorf("node %d still names the killed node %d", s.ID(), victim)
			}
			next = id
		}
		committed, err := offsetFetchOn(t, c.Node(next), group, topic, partitions)
		if err != nil {
			return err
		}
		return notBelow(committed, floor)
	})
	t.Logf("%v: node %d coordinates %s and serves its offsets", time.Since(killed), next, group)

	// The members go on: commits are acknowledged by the new coordinator.
	eventually(t, opTimeout, "commits acknowledged after the kill", func() error {
		if _, n := commits.snapshot(); n < acks+20 {
			return fmt.Errorf("%d acknowledged partition commits since the kill", n-acks)
		}
		return nil
	})
	t.Logf("%v: members commit through node %d", time.Since(killed), next)

	close(stopProducing)
	if err := <-produced; err != nil {
		t.Fatalf("producer: %v", err)
	}
	survivorAdm := newAdmin(t, survivors[0].Bootstrap())
	ends := endOffsets(t, survivorAdm, topic)
	eventually(t, opTimeout, "every record consumed", func() error { return got.missingOffsets(ends) })
	waitCommitted(t, survivorAdm, group, topic, ends)
	waitAssignment(t, survivorAdm, group, topic, partitions, 2)

	final, _ := commits.snapshot()
	committed, err := offsetFetchOn(t, c.Node(next), group, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	if err := notBelow(committed, final); err != nil {
		t.Error(err)
	}
	total := int64(0)
	for _, e := range ends {
		total += e
	}
	t.Logf("%d records consumed and committed; committed %v", total, committed)
}
