package controller

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
)

// fakeLiveness is a member table a test sets by hand.
type fakeLiveness struct {
	mu      sync.Mutex
	members map[int32]MemberState
	changed chan struct{}
}

func newFakeLiveness() *fakeLiveness {
	return &fakeLiveness{members: map[int32]MemberState{}, changed: make(chan struct{})}
}

func (f *fakeLiveness) Members() (map[int32]MemberState, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.members), f.changed
}

func (f *fakeLiveness) set(id int32, m MemberState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[id] = m
	close(f.changed)
	f.changed = make(chan struct{})
}

// imageOf applies batches of records to the empty image.
func imageOf(t *testing.T, batches ...[]metadata.Record) *metadata.Image {
	t.Helper()
	img := metadata.Empty()
	for i, b := range batches {
		next, _, err := img.Apply(b, uint64(i+1))
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		img = next
	}
	return img
}

func registration(id int32, inc byte, fenced bool) *metadata.RegisterBrokerRecord {
	return &metadata.RegisterBrokerRecord{NodeID: id, IncarnationID: [16]byte{inc}, BrokerEpoch: int64(id) * 10, Fenced: fenced}
}

// TestLivenessRecords checks the fencing rules (design decision 4) as a
// pure function: who is fenced or unfenced for which gossip report, and
// how partition leadership follows — leaders only from the ISR, the last
// ISR member kept, a leaderless partition re-elected when its replica
// returns.
func TestLivenessRecords(t *testing.T) {
	topic := [16]byte{9}
	img := imageOf(t,
		[]metadata.Record{
			registration(1, 1, false), registration(2, 2, false), registration(3, 3, false), registration(4, 4, true),
		},
		[]metadata.Record{
			&metadata.TopicRecord{ID: topic, Name: "t"},
			&metadata.PartitionRecord{TopicID: topic, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
			&metadata.PartitionRecord{TopicID: topic, Partition: 1, Replicas: []int32{2, 1, 3}, ISR: []int32{2, 1, 3}, Leader: 2},
			&metadata.PartitionRecord{TopicID: topic, Partition: 2, Replicas: []int32{4}, ISR: []int32{4}, Leader: metadata.NoLeader},
		},
	)
	alive := func(inc byte, epoch int64) MemberState {
		return MemberState{Alive: true, Incarnation: [16]byte{inc}, BrokerEpoch: epoch}
	}
	type want struct {
		fenced, unfenced []int32
		leaders          map[int32]int32   // partition -> new leader (only changed ones)
		isrs             map[int32][]int32 // partition -> new ISR (only changed ones)
		waiting          bool
	}
	cases := []struct {
		name         string
		members      map[int32]MemberState
		fenceUnknown bool
		want         want
	}{
		{
			name:    "all alive and registered: nothing to do",
			members: map[int32]MemberState{1: alive(1, 10), 2: alive(2, 20), 3: alive(3, 30), 4: alive(4, 0)},
			want:    want{},
		},
		{
			name:    "dead broker: fenced, its RF=1 partition leaderless, the RF=3 one moves to the next ISR member",
			members: map[int32]MemberState{1: alive(1, 10), 2: {Alive: false, Incarnation: [16]byte{2}}, 3: alive(3, 30), 4: alive(4, 0)},
			want: want{fenced: []int32{2}, leaders: map[int32]int32{1: 1},
				isrs: map[int32][]int32{1: {1, 3}}},
		},
		{
			name:    "restarted broker (another incarnation): fenced, the only replica stays in the ISR",
			members: map[int32]MemberState{1: alive(7, 0), 2: alive(2, 20), 3: alive(3, 30), 4: alive(4, 0)},
			want: want{fenced: []int32{1}, leaders: map[int32]int32{0: metadata.NoLeader},
				isrs: map[int32][]int32{1: {2, 3}}},
		},
		{
			name:    "never reported, within the grace: spared",
			members: map[int32]MemberState{1: alive(1, 10), 2: alive(2, 20), 4: alive(4, 0)},
			want:    want{waiting: true},
		},
		{
			name:         "never reported, after the grace: fenced",
			members:      map[int32]MemberState{1: alive(1, 10), 2: alive(2, 20), 4: alive(4, 0)},
			fenceUnknown: true,
			want:         want{fenced: []int32{3}, isrs: map[int32][]int32{1: {2, 1}}},
		},
		{
			name:    "fenced broker back with its registration's epoch: unfenced and leads its partition",
			members: map[int32]MemberState{1: alive(1, 10), 2: alive(2, 20), 3: alive(3, 30), 4: alive(4, 40)},
			want:    want{unfenced: []int32{4}, leaders: map[int32]int32{2: 4}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, changes, waiting := livenessRecords(img, c.members, c.fenceUnknown, nil)
			var got want
			got.waiting = waiting
			got.leaders, got.isrs = map[int32]int32{}, map[int32][]int32{}
			for _, r := range recs {
				switch r := r.(type) {
				case *metadata.FenceBrokerRecord:
					got.fenced = append(got.fenced, r.NodeID)
				case *metadata.UnfenceBrokerRecord:
					got.unfenced = append(got.unfenced, r.NodeID)
				case *metadata.PartitionChangeRecord:
					if r.Leader != nil {
						got.leaders[r.Partition] = *r.Leader
					}
					if r.ISR != nil {
						got.isrs[r.Partition] = r.ISR
					}
				default:
					t.Fatalf("unexpected record %T", r)
				}
			}
			if len(changes) != len(got.fenced)+len(got.unfenced) {
				t.Errorf("%d changes described for %d decisions", len(changes), len(got.fenced)+len(got.unfenced))
			}
			if c.want.leaders == nil {
				c.want.leaders = map[int32]int32{}
			}
			if c.want.isrs == nil {
				c.want.isrs = map[int32][]int32{}
			}
			if !slices.Equal(got.fenced, c.want.fenced) || !slices.Equal(got.unfenced, c.want.unfenced) ||
				!maps.Equal(got.leaders, c.want.leaders) || got.waiting != c.want.waiting ||
				!maps.EqualFunc(got.isrs, c.want.isrs, slices.Equal[[]int32]) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			// The records apply cleanly, and deciding again on the result
			// is a no-op: the loop converges.
			next, _, err := img.Apply(recs, img.Offset()+1)
			if err != nil {
				t.Fatalf("records do not apply: %v", err)
			}
			if again, _, _ := livenessRecords(next, c.members, c.fenceUnknown, nil); len(again) != 0 {
				t.Fatalf("not converged: %d more records", len(again))
			}
		})
	}
}

// TestBrokersFencedAndUnfencedByLiveness runs the liveness loop on a real
// controller: a broker registers fenced and is unfenced once gossip shows
// its registration; when gossip reports it dead it is fenced and its
// partition loses its leader; back alive, it is unfenced and leads again
// with a new leader epoch.
func TestBrokersFencedAndUnfencedByLiveness(t *testing.T) {
	live := newFakeLiveness()
	cfg := testConfig(t, t.TempDir())
	cfg.Liveness = live
	c := start(t, cfg)
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID, req.IncarnationID = 1, c.ClusterID(), [16]byte{5}
	resp, err := c.BrokerRegistration(ctx(t), req)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("registration: %v %d", err, resp.ErrorCode)
	}
	if b, _ := c.Image().Broker(1); !b.Fenced {
		t.Fatal("a broker is registered unfenced although liveness is on")
	}
	brokerState := func(fenced bool) func() error {
		return func() error {
			if b, _ := c.Image().Broker(1); b.Fenced != fenced {
				return fmt.Errorf("broker 1 fenced=%v", b.Fenced)
			}
			return nil
		}
	}
	live.set(1, MemberState{Alive: true, Incarnation: [16]byte{5}})
	live.set(1, MemberState{Alive: true, Incarnation: [16]byte{5}, BrokerEpoch: resp.BrokerEpoch})
	waitFor(t, 10*time.Second, brokerState(false))

	createTopic(t, c, "t", 1, 1, nil)
	leader := func(want int32) func() error {
		return func() error {
			tp, _ := c.Image().TopicByName("t")
			if p := tp.Partitions[0]; p.Leader != want {
				return fmt.Errorf("leader %d (epoch %d), want %d", p.Leader, p.LeaderEpoch, want)
			}
			return nil
		}
	}
	live.set(1, MemberState{Alive: false, Incarnation: [16]byte{5}, BrokerEpoch: resp.BrokerEpoch})
	waitFor(t, 10*time.Second, func() error { return errors.Join(brokerState(true)(), leader(metadata.NoLeader)()) })

	live.set(1, MemberState{Alive: true, Incarnation: [16]byte{5}, BrokerEpoch: resp.BrokerEpoch})
	waitFor(t, 10*time.Second, func() error { return errors.Join(brokerState(false)(), leader(1)()) })
	tp, _ := c.Image().TopicByName("t")
	if p := tp.Partitions[0]; p.LeaderEpoch != 2 || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("partition after fence and unfence: %+v, want leader epoch 2 and ISR [1]", p)
	}
	// A registration retry returns the same epoch and writes nothing.
	again, _ := c.BrokerRegistration(ctx(t), req)
	if again.BrokerEpoch != resp.BrokerEpoch {
		t.Fatalf("retried registration got epoch %d, first %d", again.BrokerEpoch, resp.BrokerEpoch)
	}
}
