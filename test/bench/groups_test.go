package bench

// Consumer-group benchmarks against an in-process node (figures in
// docs/benchmarks.md, "Consumer groups"):
//
//   - BenchmarkOffsetCommit: OffsetCommit requests per second for a simple
//     group (generation -1, no members), each answered only after its
//     records on __consumer_offsets reached acks=all (fsync on this node).
//   - BenchmarkRebalance10Members100Partitions: how long a group of 10
//     franz-go members on a 100-partition topic takes until every member
//     holds its new assignment after an 11th member joins, and after that
//     member leaves (LeaveGroup) again.

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/broker"
	"github.com/samsa-io/samsa/test/harness"
)

const (
	groupTopicPartitions = 100
	// rebalanceMembers is the size of the stable group; one more joins and
	// leaves in every iteration.
	rebalanceMembers = 10
	// benchInitialDelay is group.initial.rebalance.delay.ms for these
	// benchmarks. It only delays the first rebalance of an empty group (the
	// untimed setup), never the timed ones.
	benchInitialDelay = 100 * time.Millisecond
	// benchHeartbeat is the members' heartbeat interval. In the classic
	// protocol a stable member learns of a rebalance from its next
	// heartbeat, so this bounds how soon the others start rejoining.
	benchHeartbeat = 100 * time.Millisecond
	benchSession   = 10 * time.Second
	// rebalanceTimeout bounds one timed rebalance before the benchmark
	// fails instead of hanging.
	rebalanceTimeout = 30 * time.Second
)

func startGroupBenchNode(b *testing.B) *harness.Node {
	return harness.StartNode(b, harness.WithBrokerConfig(func(c *broker.Config) {
		c.Group.InitialRebalanceDelay = benchInitialDelay
	}))
}

// BenchmarkOffsetCommit: one b.N is one OffsetCommit request of a simple
// group (generation -1, empty member id) for a 100-partition topic,
// committing 1 partition (p1) or all 100 (p100) per request, sent one at a
// time; parallel8 has 8 goroutines committing one partition each to the
// same group, on one shared client. Each request is answered only once its
// records on __consumer_offsets are acknowledged by acks=all (fsync).
// commits/s is requests per second, offsets/s partition offsets per second.
func BenchmarkOffsetCommit(b *testing.B) {
	n := startGroupBenchNode(b)
	adm := newAdmin(b, n.Bootstrap())
	topic := "bench-commit"
	createTopic(b, adm, topic, groupTopicPartitions)
	cl := newCommitClient(b, n.Bootstrap())

	for _, perReq := range []int32{1, groupTopicPartitions} {
		b.Run(fmt.Sprintf("p%d", perReq), func(b *testing.B) {
			group := fmt.Sprintf("bench-commit-p%d", perReq)
			// Warm-up: finds the coordinator (and creates __consumer_offsets).
			if err := commit(cl, group, topic, perReq, 0, 0); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				if err := commit(cl, group, topic, perReq, 0, int64(i+1)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportCommits(b, int(perReq))
		})
	}
	b.Run("p1/parallel8", func(b *testing.B) {
		group := "bench-commit-parallel"
		if err := commit(cl, group, topic, 1, 0, 0); err != nil {
			b.Fatal(err)
		}
		var next atomic.Int32
		var offset atomic.Int64
		// RunParallel starts SetParallelism x GOMAXPROCS goroutines.
		b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			part := next.Add(1) % groupTopicPartitions
			for pb.Next() {
				if err := commit(cl, group, topic, 1, part, offset.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		reportCommits(b, 1)
	})
	deleteTopic(b, adm, topic)
}

func newCommitClient(b *testing.B, bootstrap string) *kgo.Client {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ClientID("samsa-bench-commit"))
	if err != nil {
		b.Fatalf("kgo.NewClient: %v", err)
	}
	b.Cleanup(cl.Close)
	return cl
}

// commit sends one OffsetCommit for partitions [first, first+count) of
// topic, all at offset, and returns the first error. kgo routes it to the
// group's coordinator and retries NOT_COORDINATOR and
// COORDINATOR_LOAD_IN_PROGRESS itself.
func commit(cl *kgo.Client, group, topic string, count, first int32, offset int64) error {
	req := kmsg.NewPtrOffsetCommitRequest() // Generation -1, MemberID "": a simple group
	req.Group = group
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p := first; p < first+count; p++ {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition = p
		rp.Offset = offset
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("committing to group %s: %w", group, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("committing %s/%d to group %s: %w", t.Topic, p.Partition, group, err)
			}
		}
	}
	return nil
}

func reportCommits(b *testing.B, perReq int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "commits/s")
		b.ReportMetric(float64(b.N)*float64(perReq)/s, "offsets/s")
	}
}

// BenchmarkRebalance10Members100Partitions: 10 franz-go members of one
// group consume a 100-partition topic (empty: the time is the group
// protocol's, not fetching's or committing's; autocommit is off). One b.N
// is two timed rebalances:
//
//   - join: from creating an 11th member's client until all 11 members
//     hold disjoint, non-empty assignments covering the 100 partitions;
//   - leave: from that member's Close (LeaveGroup) until the remaining 10
//     hold disjoint, non-empty assignments covering the 100 partitions.
//
// Assignments are tracked with OnPartitionsAssigned/Revoked/Lost. ms/op is
// join+leave; join-ms and leave-ms are the two parts. Each rebalance waits
// about one benchHeartbeat for the stable members to notice it
// (cooperative-sticky's join is two rebalances), so the figures mostly
// measure that interval; the broker's share is a few ms.
func BenchmarkRebalance10Members100Partitions(b *testing.B) {
	n := startGroupBenchNode(b)
	adm := newAdmin(b, n.Bootstrap())
	for _, bal := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		topic := "bench-rebalance-" + bal.name
		createTopic(b, adm, topic, groupTopicPartitions)
		b.Run(bal.name, func(b *testing.B) {
			benchRebalance(b, n.Bootstrap(), "bench-rebalance-"+bal.name, topic, bal.balancer)
		})
		deleteTopic(b, adm, topic)
	}
}

func benchRebalance(b *testing.B, bootstrap, group, topic string, balancer kgo.GroupBalancer) {
	tr := newTracker()
	var members []*kgo.Client
	defer func() {
		for _, cl := range members {
			cl.Close() // LeaveGroup
		}
	}()
	for i := range rebalanceMembers {
		members = append(members, tr.newMember(b, bootstrap, group, topic, fmt.Sprintf("m%d", i), balancer))
	}
	if err := tr.wait(rebalanceMembers, 2*time.Minute); err != nil {
		b.Fatalf("initial group of %d members: %v", rebalanceMembers, err)
	}

	var join, leave time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		name := fmt.Sprintf("x%d", i)
		extra := tr.newMember(b, bootstrap, group, topic, name, balancer)
		if err := tr.wait(rebalanceMembers+1, rebalanceTimeout); err != nil {
			extra.Close()
			b.Fatalf("iteration %d, member joining: %v", i, err)
		}
		mid := time.Now()
		join += mid.Sub(start)

		extra.Close() // LeaveGroup; returns once it is sent
		tr.remove(name)
		if err := tr.wait(rebalanceMembers, rebalanceTimeout); err != nil {
			b.Fatalf("iteration %d, member leaving: %v", i, err)
		}
		leave += time.Since(mid)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
	b.ReportMetric(float64(join.Microseconds())/1e3/float64(b.N), "join-ms")
	b.ReportMetric(float64(leave.Microseconds())/1e3/float64(b.N), "leave-ms")
	b.ReportMetric(0, "ns/op") // ms/op replaces it
}

// tracker holds every live member's current assignment, as its callbacks
// report it.
type tracker struct {
	mu      sync.Mutex
	owned   map[string]map[int32]bool // member name -> partitions
	changed chan struct{}             // signalled (non-blocking) on every change
}

func newTracker() *tracker {
	return &tracker{owned: map[string]map[int32]bool{}, changed: make(chan struct{}, 1)}
}

func (tr *tracker) newMember(b *testing.B, bootstrap, group, topic, name string, balancer kgo.GroupBalancer) *kgo.Client {
	b.Helper()
	tr.mu.Lock()
	tr.owned[name] = map[int32]bool{}
	tr.mu.Unlock()
	update := func(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			tr.mu.Lock()
			if own, ok := tr.owned[name]; ok { // gone once removed
				for _, p := range m[topic] {
					if add {
						own[p] = true
					} else {
						delete(own, p)
					}
				}
			}
			tr.mu.Unlock()
			select {
			case tr.changed <- struct{}{}:
			default:
			}
		}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.ClientID("samsa-bench-group-"+name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(balancer),
		kgo.SessionTimeout(benchSession),
		kgo.HeartbeatInterval(benchHeartbeat),
		kgo.RebalanceTimeout(rebalanceTimeout),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsAssigned(update(true)),
		kgo.OnPartitionsRevoked(update(false)),
		kgo.OnPartitionsLost(update(false)),
	)
	if err != nil {
		b.Fatalf("kgo.NewClient: %v", err)
	}
	return cl
}

func (tr *tracker) remove(name string) {
	tr.mu.Lock()
	delete(tr.owned, name)
	tr.mu.Unlock()
}

// settled reports nil when exactly members members are tracked and their
// assignments are non-empty, disjoint and cover every partition.
func (tr *tracker) settled(members int) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.owned) != members {
		return fmt.Errorf("%d members tracked, want %d", len(tr.owned), members)
	}
	seen := map[int32]string{}
	for name, own := range tr.owned {
		if len(own) == 0 {
			return fmt.Errorf("member %s has no partitions", name)
		}
		for p := range own {
			if other, ok := seen[p]; ok {
				return fmt.Errorf("partition %d held by %s and %s", p, other, name)
			}
			seen[p] = name
		}
	}
	if len(seen) != groupTopicPartitions {
		return fmt.Errorf("%d of %d partitions assigned", len(seen), groupTopicPartitions)
	}
	return nil
}

func (tr *tracker) wait(members int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		err := tr.settled(members)
		if err == nil {
			return nil
		}
		select {
		case <-tr.changed:
		case <-deadline.C:
			return fmt.Errorf("not settled within %v: %v", timeout, err)
		}
	}
}
