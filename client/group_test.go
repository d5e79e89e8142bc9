package client_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
)

// ownership checks that the members' assignments of topic are disjoint,
// each non-empty, and cover partitions 0…n-1.
func ownership(topic string, n int32, members ...*client.GroupConsumer) error {
	owner := map[int32]int{}
	for i, g := range members {
		ps := g.Assigned()[topic]
		if len(ps) == 0 {
			return fmt.Errorf("member %d owns nothing", i)
		}
		for _, p := range ps {
			if o, dup := owner[p]; dup {
				return fmt.Errorf("partition %d owned by members %d and %d", p, o, i)
			}
			owner[p] = i
		}
	}
	if len(owner) != int(n) {
		return fmt.Errorf("%d of %d partitions owned: %v", len(owner), n, owner)
	}
	return nil
}

func newMember(t *testing.T, cl *client.Client, group, topic string, opts ...client.GroupOption) *client.GroupConsumer {
	t.Helper()
	g, err := cl.NewGroupConsumer(group, []string{topic}, append(fastGroup(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Classic group protocol: the coordinator splits the partitions among the
// members, moves them at once when a member leaves (LeaveGroup), and after
// the session timeout when a member dies without leaving. At-least-once:
// every record produced is handled by some member.
func TestGroupSplitsPartitionsAndRebalancesOnLeaveAndCrash(t *testing.T) {
	const topic, parts = "events", 4
	ctx, node := groupNode(t, topic, parts)
	got := newSeen()
	handler := func(name string) client.Handler {
		return func(_ context.Context, recs []client.Record) error {
			got.add(name, recs)
			return nil
		}
	}
	clA := newClient(t, ctx, node)
	a := newMember(t, clA, "g", topic)
	consumeInBackground(t, ctx, a, handler("a"))

	clB := newClient(t, ctx, node)
	b := newMember(t, clB, "g", topic)
	waitB := consumeInBackground(t, ctx, b, handler("b"))
	waitFor(t, 15*time.Second, "two members split the partitions", func() error { return ownership(topic, parts, a, b) })

	prod := newClient(t, ctx, node)
	want := produceTo(t, ctx, prod, topic, client.AnyPartition, "first", 40)
	waitFor(t, 15*time.Second, "records handled by two members", func() error { return got.missing(want) })

	// b leaves: a owns everything at once and handles what follows.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitB(); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Consume after Close returned %v, want ErrClosed", err)
	}
	waitFor(t, 15*time.Second, "a owns all after b left", func() error { return ownership(topic, parts, a) })
	want = append(want, produceTo(t, ctx, prod, topic, client.AnyPartition, "after-leave", 40)...)
	waitFor(t, 15*time.Second, "records handled after b left", func() error { return got.missing(want) })

	// c joins, then dies: its connections drop and it never leaves.
	var net faultNet
	clC := newClient(t, ctx, node, net.option())
	c := newMember(t, clC, "g", topic)
	consumeInBackground(t, ctx, c, handler("c"))
	waitFor(t, 15*time.Second, "a and c split the partitions", func() error { return ownership(topic, parts, a, c) })
	want = append(want, produceTo(t, ctx, prod, topic, client.AnyPartition, "before-crash", 40)...)
	waitFor(t, 15*time.Second, "records handled by a and c", func() error { return got.missing(want) })

	crashed := time.Now()
	net.Cut()
	clC.Close()
	waitFor(t, 15*time.Second, "a owns all after c died", func() error { return ownership(topic, parts, a) })
	t.Logf("a owned every partition %v after c died (session timeout 1.5s)", time.Since(crashed).Round(time.Millisecond))
	want = append(want, produceTo(t, ctx, prod, topic, client.AnyPartition, "after-crash", 40)...)
	waitFor(t, 15*time.Second, "records handled after c died", func() error { return got.missing(want) })
}

// committed returns the group's committed offset of topic partition p, -1
// if none.
func committed(t *testing.T, ctx context.Context, cl *client.Client, group, topic string, p int32) int64 {
	t.Helper()
	d, err := cl.Admin().DescribeGroup(ctx, group)
	if errors.Is(err, client.ErrGroupNotFound) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range d.Offsets {
		if o.Topic == topic && o.Partition == p {
			return o.Committed
		}
	}
	return -1
}

// Commit after the handler: while the handler runs, the batch is not
// committed; once it returns nil, the offset after the batch is. A handler
// error stops Consume, commits nothing, and the next Consume delivers the
// same records again.
func TestGroupCommitsOnlyAfterHandlerReturns(t *testing.T) {
	const topic = "orders"
	ctx, node := groupNode(t, topic, 1)
	cl := newClient(t, ctx, node)
	produceTo(t, ctx, cl, topic, 0, "o", 5)
	g := newMember(t, cl, "g", topic)

	errBoom := errors.New("boom")
	var first []int64
	err := g.Consume(ctx, func(ctx context.Context, recs []client.Record) error {
		for _, r := range recs {
			first = append(first, r.Offset)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Consume returned %v, want the handler's error", err)
	}
	if c := committed(t, ctx, cl, "g", topic, 0); c != -1 {
		t.Fatalf("committed %d after a failed handler, want nothing", c)
	}

	// The next Consume starts again at the failed batch.
	var handled []int64
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = g.Consume(cctx, func(_ context.Context, recs []client.Record) error {
		if c := committed(t, ctx, cl, "g", topic, 0); len(handled) == 0 && c != -1 {
			t.Errorf("offset %d committed before the first handler returned", c)
		}
		for _, r := range recs {
			handled = append(handled, r.Offset)
		}
		if len(handled) >= 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume returned %v, want context.Canceled", err)
	}
	if handled[0] != first[0] {
		t.Errorf("after the failed batch %v, the next Consume started at %d", first, handled[0])
	}
	// The last batch was committed after its handler returned, even though
	// the handler canceled Consume's context.
	if c := committed(t, ctx, cl, "g", topic, 0); c != 5 {
		t.Errorf("committed %d after handling offsets %v, want 5", c, handled)
	}
}

// A member that dies after handling records but before committing them:
// the records are delivered again to the next owner. None is lost.
func TestGroupCrashBeforeCommitRedelivers(t *testing.T) {
	const topic = "payments"
	ctx, node := groupNode(t, topic, 1)
	prod := newClient(t, ctx, node)
	want := produceTo(t, ctx, prod, topic, 0, "p", 10)

	var net faultNet
	clA := newClient(t, ctx, node, net.option())
	a := newMember(t, clA, "g", topic)
	var handledByA []client.Record
	err := a.Consume(ctx, func(_ context.Context, recs []client.Record) error {
		handledByA = append(handledByA, recs...)
		net.Cut() // the process dies here: handled, not committed
		return nil
	})
	if err == nil || len(handledByA) == 0 {
		t.Fatalf("Consume returned %v after handling %d records, want a commit failure", err, len(handledByA))
	}
	t.Logf("a handled %d records, then its commit failed: %v", len(handledByA), err)
	clA.Close()

	clB := newClient(t, ctx, node)
	b := newMember(t, clB, "g", topic)
	got := newSeen()
	consumeInBackground(t, ctx, b, func(_ context.Context, recs []client.Record) error {
		got.add("b", recs)
		return nil
	})
	waitFor(t, 20*time.Second, "b handles every record", func() error { return got.missing(want) })
	if err := got.missing(handledByA); err != nil {
		t.Errorf("a record a handled but did not commit was not delivered again: %v", err)
	}
	waitFor(t, 10*time.Second, "b commits", func() error {
		if c := committed(t, ctx, prod, "g", topic, 0); c != 10 {
			return fmt.Errorf("committed %d", c)
		}
		return nil
	})
}

// GroupManualCommit: Consume commits nothing; what the handler commits is
// where the next member resumes.
func TestGroupManualCommit(t *testing.T) {
	const topic = "orders"
	ctx, node := groupNode(t, topic, 1)
	cl := newClient(t, ctx, node)
	produceTo(t, ctx, cl, topic, 0, "o", 5)

	g := newMember(t, cl, "g", topic, client.GroupManualCommit())
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var n int
	err := g.Consume(cctx, func(ctx context.Context, recs []client.Record) error {
		for _, r := range recs {
			n++
			if r.Offset == 1 {
				if err := g.Commit(ctx, r); err != nil {
					return err
				}
			}
		}
		if n >= 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if c := committed(t, ctx, cl, "g", topic, 0); c != 2 {
		t.Fatalf("committed %d, want 2 (after the record the handler committed)", c)
	}
	g.Close()

	g2 := newMember(t, cl, "g", topic)
	cctx2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	var resumed int64 = -1
	g2.Consume(cctx2, func(_ context.Context, recs []client.Record) error {
		resumed = recs[0].Offset
		cancel2()
		return nil
	})
	if resumed != 2 {
		t.Errorf("the next member resumed at %d, want 2", resumed)
	}
}

// handledLog keeps the offsets handled, per partition, in order.
type handledLog struct {
	mu   sync.Mutex
	offs map[int32][]int64
}

func (h *handledLog) add(recs []client.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.offs == nil {
		h.offs = map[int32][]int64{}
	}
	for _, r := range recs {
		h.offs[r.Partition] = append(h.offs[r.Partition], r.Offset)
	}
}

func (h *handledLog) of(p int32) []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.offs[p])
}

func wantOffsets(h *handledLog, p int32, want ...int64) func() error {
	return func() error {
		if got := h.of(p); !slices.Equal(got, want) {
			return fmt.Errorf("partition %d handled %v, want %v", p, got, want)
		}
		return nil
	}
}

// Seek from OnAssigned chooses where a new partition starts; Seek from the
// handler moves the next batch of that partition.
func TestGroupSeek(t *testing.T) {
	const topic = "events"
	ctx, node := groupNode(t, topic, 2)
	cl := newClient(t, ctx, node)
	produceTo(t, ctx, cl, topic, 0, "p0", 5)
	produceTo(t, ctx, cl, topic, 1, "p1", 5)

	ready := make(chan struct{})
	var g *client.GroupConsumer
	g = newMember(t, cl, "g", topic, client.GroupOnAssigned(func(_ context.Context, assigned map[string][]int32) {
		<-ready // g is set
		if slices.Contains(assigned[topic], 1) {
			g.Seek(topic, 1, 3)
		}
	}))
	close(ready)

	var log handledLog
	var once sync.Once
	consumeInBackground(t, ctx, g, func(_ context.Context, recs []client.Record) error {
		log.add(recs)
		for _, r := range recs {
			if r.Partition == 0 && r.Offset == 4 {
				once.Do(func() { g.Seek(topic, 0, 2) })
			}
		}
		return nil
	})
	waitFor(t, 15*time.Second, "partition 1 starts at the offset OnAssigned sought", wantOffsets(&log, 1, 3, 4))
	waitFor(t, 15*time.Second, "partition 0 goes back to 2 once", wantOffsets(&log, 0, 0, 1, 2, 3, 4, 2, 3, 4))
}

// Pause stops a partition; Resume continues it where it stopped, with
// nothing lost; the other partitions flow meanwhile.
func TestGroupPauseResume(t *testing.T) {
	const topic = "events"
	ctx, node := groupNode(t, topic, 2)
	cl := newClient(t, ctx, node)
	g := newMember(t, cl, "g", topic)
	var log handledLog
	consumeInBackground(t, ctx, g, func(_ context.Context, recs []client.Record) error {
		log.add(recs)
		return nil
	})
	waitFor(t, 15*time.Second, "member owns both partitions", func() error { return ownership(topic, 2, g) })

	g.Pause(topic, 1)
	if got := g.Paused(); !maps.EqualFunc(got, map[string][]int32{topic: {1}}, slices.Equal) {
		t.Errorf("Paused() = %v", got)
	}
	produceTo(t, ctx, cl, topic, 1, "p1", 3)
	produceTo(t, ctx, cl, topic, 0, "p0", 3)
	waitFor(t, 15*time.Second, "partition 0 flows", wantOffsets(&log, 0, 0, 1, 2))
	// One more round trip on partition 0, written after partition 1's
	// records: had partition 1 been fetched, it would have arrived by now.
	produceTo(t, ctx, cl, topic, 0, "p0-more", 1)
	waitFor(t, 15*time.Second, "partition 0 flows", wantOffsets(&log, 0, 0, 1, 2, 3))
	if got := log.of(1); len(got) != 0 {
		t.Fatalf("paused partition 1 delivered %v", got)
	}

	g.Resume(topic, 1)
	waitFor(t, 15*time.Second, "partition 1 resumes with nothing lost", wantOffsets(&log, 1, 0, 1, 2))
	if got := g.Paused(); len(got) != 0 {
		t.Errorf("Paused() after Resume = %v", got)
	}
}

// The assignment callbacks see what the member gains and gives up.
func TestGroupAssignmentCallbacks(t *testing.T) {
	const topic = "events"
	ctx, node := groupNode(t, topic, 2)
	cl := newClient(t, ctx, node)
	var (
		mu                sync.Mutex
		assigned, revoked []int32
	)
	g := newMember(t, cl, "g", topic,
		client.GroupOnAssigned(func(_ context.Context, m map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			assigned = append(assigned, m[topic]...)
		}),
		client.GroupOnRevoked(func(_ context.Context, m map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			revoked = append(revoked, m[topic]...)
		}))
	consumeInBackground(t, ctx, g, func(context.Context, []client.Record) error { return nil })
	waitFor(t, 15*time.Second, "both partitions assigned", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(assigned) != 2 {
			return fmt.Errorf("assigned %v", assigned)
		}
		return nil
	})
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Sort(revoked); !slices.Equal(revoked, []int32{0, 1}) {
		t.Errorf("revoked on Close: %v, want [0 1]", revoked)
	}
}

func TestNewGroupConsumerRejectsBadArguments(t *testing.T) {
	ctx, node := groupNode(t, "t", 1)
	cl := newClient(t, ctx, node)
	for _, tc := range []struct {
		group  string
		topics []string
		opts   []client.GroupOption
	}{
		{"", []string{"t"}, nil},
		{"g", nil, nil},
		{"g", []string{""}, nil},
		{"g", []string{"t"}, []client.GroupOption{client.GroupIsolation(7)}},
		{"g", []string{"t"}, []client.GroupOption{client.GroupCommitTimeout(0)}},
	} {
		if _, err := cl.NewGroupConsumer(tc.group, tc.topics, tc.opts...); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("group %q topics %q: err = %v, want ErrInvalidArgument", tc.group, tc.topics, err)
		}
	}
}
