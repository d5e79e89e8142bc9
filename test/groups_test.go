package test

// Consumer groups against one node with real clients: franz-go with the
// eager range and cooperative-sticky balancers and with static membership
// (KIP-345), sarama's consumer group, kafka-go's Reader with a GroupID, and
// the group admin requests (kadm and raw requests for the error codes).
// confluent-kafka-python is in python_test.go.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/broker"
	"github.com/samsa-io/samsa/test/harness"
)

// Group timings for tests: a short initial rebalance delay and a minimum
// session timeout low enough that a crashed member is noticed in about a
// second (Kafka's defaults are 3s and 6s).
const (
	groupSession   = 1500 * time.Millisecond
	groupHeartbeat = 100 * time.Millisecond
)

func startGroupNode(t *testing.T, opts ...harness.Option) *harness.Node {
	t.Helper()
	opts = append([]harness.Option{harness.WithBrokerConfig(func(c *broker.Config) {
		c.Group.InitialRebalanceDelay = 50 * time.Millisecond
		c.Group.MinSessionTimeout = 500 * time.Millisecond
	})}, opts...)
	return harness.StartNode(t, opts...)
}

// produceSpread writes n records to each partition of topic and returns
// the end offsets afterwards.
func produceSpread(t *testing.T, bootstrap, topic string, partitions int32, n int, tag string) map[int32]int64 {
	t.Helper()
	cl := newKgo(t, bootstrap, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic))
	defer cl.Close()
	var recs []*kgo.Record
	for p := range partitions {
		for i := range n {
			recs = append(recs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", tag, p, i)})
		}
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("producing %d records to %s: %v", len(recs), topic, err)
	}
	return endOffsets(t, newAdmin(t, bootstrap), topic)
}

// delivered is what the members of a group have received, by partition.
type delivered struct {
	mu      sync.Mutex
	offsets map[int32][]int64
}

func newDelivered() *delivered { return &delivered{offsets: map[int32][]int64{}} }

func (d *delivered) add(partition int32, offset int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.offsets[partition] = append(d.offsets[partition], offset)
}

// has reports whether offset of partition was delivered.
func (d *delivered) has(partition int32, offset int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.offsets[partition], offset)
}

// reached reports nil once every partition has delivered up to its end.
func (d *delivered) reached(ends map[int32]int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for p, end := range ends {
		if end == 0 {
			continue
		}
		if !slices.Contains(d.offsets[p], end-1) {
			return fmt.Errorf("partition %d: offset %d not delivered yet", p, end-1)
		}
	}
	return nil
}

// below lists delivered offsets below from[p]: records delivered again.
func (d *delivered) below(from map[int32]int64) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for p, offs := range d.offsets {
		for _, o := range offs {
			if o < from[p] {
				out = append(out, fmt.Sprintf("%d@%d", p, o))
			}
		}
	}
	sort.Strings(out)
	return out
}

// waitCommitted waits until the group's committed offsets equal ends.
func waitCommitted(t *testing.T, adm *kadm.Client, group, topic string, ends map[int32]int64) {
	t.Helper()
	eventually(t, opTimeout, "group "+group+" to commit up to the end offsets", func() error {
		offs, err := adm.FetchOffsets(testCtx(t), group)
		if err != nil {
			return err
		}
		for p, end := range ends {
			o, ok := offs.Lookup(topic, p)
			if !ok || o.Err != nil || o.At != end {
				return fmt.Errorf("partition %d committed %+v, want %d", p, o, end)
			}
		}
		return nil
	})
}

// waitAssignment waits until DescribeGroups shows exactly members members,
// each assigned a share of topic and together all of its partitions once.
func waitAssignment(t *testing.T, adm *kadm.Client, group, topic string, partitions int32, members int) {
	t.Helper()
	eventually(t, opTimeout, fmt.Sprintf("group %s to split %s over %d members", group, topic, members), func() error {
		described, err := adm.DescribeGroups(testCtx(t), group)
		if err != nil {
			return err
		}
		d := described[group]
		if d.Err != nil {
			return d.Err
		}
		if d.State != "Stable" || len(d.Members) != members {
			return fmt.Errorf("%s with %d members", d.State, len(d.Members))
		}
		owner := map[int32]string{}
		for _, m := range d.Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				return fmt.Errorf("member %s has no consumer assignment", m.MemberID)
			}
			n := 0
			for _, at := range ca.Topics {
				for _, p := range at.Partitions {
					if prev, dup := owner[p]; dup && at.Topic == topic {
						return fmt.Errorf("partition %d assigned to %s and %s", p, prev, m.MemberID)
					}
					owner[p] = m.MemberID
					n++
				}
			}
			if n == 0 {
				return fmt.Errorf("member %s is assigned nothing", m.MemberID)
			}
		}
		if len(owner) != int(partitions) {
			return fmt.Errorf("%d of %d partitions assigned", len(owner), partitions)
		}
		return nil
	})
}

// killableDialer lets a test cut a client off the network at once, as a
// crash would: every connection is closed and new ones are refused, so not
// even a LeaveGroup gets out.
type killableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

var errKilled = errors.New("killed by the test")

func (d *killableDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil, errKilled
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		c.Close()
	}
}

// kgoMember is a franz-go group consumer that records what it is given
// and autocommits.
type kgoMember struct {
	cl       *kgo.Client
	dialer   *killableDialer
	cancel   context.CancelFunc
	pollDone chan struct{}
	closed   bool
}

func startKgoMember(t *testing.T, bootstrap, group, topic string, got *delivered, opts ...kgo.Opt) *kgoMember {
	t.Helper()
	m := &kgoMember{dialer: &killableDialer{}, pollDone: make(chan struct{})}
	all := append([]kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(groupSession), kgo.HeartbeatInterval(groupHeartbeat), kgo.RebalanceTimeout(10 * time.Second),
		kgo.AutoCommitInterval(100 * time.Millisecond), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.Dialer(m.dialer.DialContext),
	}, opts...)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.ClientID("samsa-group-test")}, all...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.pollDone)
		for {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) { got.add(r.Partition, r.Offset) })
		}
	}()
	t.Cleanup(m.close)
	return m
}

// close leaves the group (committing what was polled) and stops.
func (m *kgoMember) close() {
	if m.closed {
		return
	}
	m.closed = true
	m.cl.Close()
	m.cancel()
	<-m.pollDone
}

// crash cuts the member off without a LeaveGroup or a last commit.
func (m *kgoMember) crash() {
	m.closed = true
	m.dialer.kill()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.cl.LeaveGroupContext(ctx) // cannot reach the broker: just stop the group loop
	m.cl.Close()
	m.cancel()
	<-m.pollDone
}

// Three franz-go members split a six-partition topic; one leaves
// (LeaveGroup), one crashes (no LeaveGroup: the coordinator removes it
// after its session timeout) and the survivor takes every partition over;
// after all stop, a restarted consumer resumes from the committed offsets
// with no committed record delivered again. Run with the eager range
// balancer and with the cooperative-sticky one (KIP-429).
func TestFranzConsumerGroupRebalances(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) { testFranzGroup(t, tc.balancer) })
	}
}

func testFranzGroup(t *testing.T, balancer kgo.GroupBalancer) {
	n := startGroupNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic, partitions, group = "group-topic", 6, "franz-group"
	createTopic(t, adm, topic, partitions, nil)
	ends := produceSpread(t, n.Bootstrap(), topic, partitions, 20, "first")

	got := newDelivered()
	var members []*kgoMember
	for range 3 {
		members = append(members, startKgoMember(t, n.Bootstrap(), group, topic, got, kgo.Balancers(balancer)))
	}
	waitAssignment(t, adm, group, topic, partitions, 3)
	eventually(t, opTimeout, "the first records to be delivered", func() error { return got.reached(ends) })
	waitCommitted(t, adm, group, topic, ends)

	members[2].close()
	waitAssignment(t, adm, group, topic, partitions, 2)

	crashed := time.Now()
	members[1].crash()
	waitAssignment(t, adm, group, topic, partitions, 1)
	took := time.Since(crashed)
	if took > groupSession+5*time.Second {
		t.Errorf("the survivor took over %v after the crash; the session timeout is %v", took, groupSession)
	}
	t.Logf("takeover after a crash: %v (session timeout %v)", took, groupSession)

	ends = produceSpread(t, n.Bootstrap(), topic, partitions, 10, "second")
	eventually(t, opTimeout, "the second records to be delivered", func() error { return got.reached(ends) })
	waitCommitted(t, adm, group, topic, ends)
	members[0].close()

	final := produceSpread(t, n.Bootstrap(), topic, partitions, 5, "third")
	again := newDelivered()
	startKgoMember(t, n.Bootstrap(), group, topic, again, kgo.Balancers(balancer))
	eventually(t, opTimeout, "the restarted consumer to read the third records", func() error { return again.reached(final) })
	if dup := again.below(ends); len(dup) > 0 {
		t.Fatalf("the restarted consumer was given %d committed records again: %v", len(dup), dup)
	}
}

// KIP-345: a static member (group.instance.id) that restarts within its
// session timeout gets its partitions back without a rebalance: the other
// member stays in the same generation throughout.
func TestFranzStaticMemberRestartsWithoutRebalance(t *testing.T) {
	n := startGroupNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic, partitions, group = "static-topic", 4, "static-group"
	createTopic(t, adm, topic, partitions, nil)
	got := newDelivered()
	session := kgo.SessionTimeout(20 * time.Second) // the restart must fit in it
	a := startKgoMember(t, n.Bootstrap(), group, topic, got, kgo.InstanceID("a"), session)
	b := startKgoMember(t, n.Bootstrap(), group, topic, got, kgo.InstanceID("b"), session)
	waitAssignment(t, adm, group, topic, partitions, 2)
	_, gen := a.cl.GroupMetadata()

	b.close() // a static member does not leave on close
	described, err := adm.DescribeGroups(testCtx(t), group)
	if err != nil || len(described[group].Members) != 2 {
		t.Fatalf("after the static member closed: %+v %v, want it still a member", described[group], err)
	}
	startKgoMember(t, n.Bootstrap(), group, topic, got, kgo.InstanceID("b"), session)
	waitAssignment(t, adm, group, topic, partitions, 2)
	if _, now := a.cl.GroupMetadata(); now != gen {
		t.Fatalf("generation moved from %d to %d: the static restart caused a rebalance", gen, now)
	}
}
