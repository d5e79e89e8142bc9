package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
)

// waitFor polls cond until it returns nil or timeout passes, and then fails
// the test with cond's last error.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %v", what, timeout, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronization
	}
}

// fastGroup are group timings for tests against samsatest.WithFastGroups:
// a dead member is noticed after 1.5 s, a rebalance after 100 ms, a
// resumed partition after 200 ms.
func fastGroup() []client.GroupOption {
	return []client.GroupOption{
		client.GroupSessionTimeout(1500 * time.Millisecond),
		client.GroupHeartbeatInterval(100 * time.Millisecond),
		client.GroupRebalanceTimeout(3 * time.Second),
		client.GroupFetchMaxWait(200 * time.Millisecond),
	}
}

// groupNode starts a node with fast group timings and the given topic.
func groupNode(t *testing.T, topic string, partitions int32) (context.Context, *samsatest.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx, samsatest.Start(t, samsatest.WithFastGroups(), samsatest.WithTopic(topic, partitions))
}

func newClient(t *testing.T, ctx context.Context, c *samsatest.Cluster, opts ...client.Option) *client.Client {
	t.Helper()
	cl, err := client.New(ctx, append([]client.Option{client.WithBootstrap(c.Bootstrap())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceTo writes n records to topic partition p (AnyPartition: by key)
// with values prefix-0 … prefix-(n-1), and waits for them.
func produceTo(t *testing.T, ctx context.Context, cl *client.Client, topic string, p int32, prefix string, n int) []client.Record {
	t.Helper()
	pr, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	recs := make([]client.Record, n)
	for i := range recs {
		recs[i] = client.Record{Topic: topic, Partition: p,
			Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
	}
	written, err := pr.ProduceSync(ctx, recs...)
	if err != nil {
		t.Fatal(err)
	}
	return written
}

// errNetCut is what a cut faultNet answers to every dial. It is not a
// syscall error, so kgo does not retry it.
var errNetCut = errors.New("faultnet: network cut by the test")

// faultNet is a dialer whose connections a test can cut all at once, as if
// the process had died: the broker sees its connections drop and nothing
// more from it (no LeaveGroup, no commit).
type faultNet struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (f *faultNet) dial(ctx context.Context, network, host string) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut {
		return nil, errNetCut
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err == nil {
		f.conns = append(f.conns, c)
	}
	return c, err
}

// Cut closes every connection and refuses new ones.
func (f *faultNet) Cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut = true
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// option routes a Client's connections through f, and keeps kgo's retries
// short so that a cut client gives up quickly (Close, commits).
func (f *faultNet) option() client.Option {
	return client.WithKgoOptions(kgo.Dialer(f.dial), kgo.RetryTimeout(time.Second), kgo.RequestRetries(2))
}

// seen counts deliveries per record value, safe for concurrent handlers.
type seen struct {
	mu sync.Mutex
	n  map[string]int
	by map[string]string // value -> last member that handled it
}

func newSeen() *seen { return &seen{n: map[string]int{}, by: map[string]string{}} }

func (s *seen) add(member string, recs []client.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.n[string(r.Value)]++
		s.by[string(r.Value)] = member
	}
}

// missing returns an error naming the first of want not seen yet.
func (s *seen) missing(want []client.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range want {
		if s.n[string(r.Value)] == 0 {
			return fmt.Errorf("record %s (partition %d offset %d) not delivered", r.Value, r.Partition, r.Offset)
		}
	}
	return nil
}

// consumeInBackground runs g.Consume with h until the test ends or g
// closes, and returns a function that waits for it and returns its error.
func consumeInBackground(t *testing.T, ctx context.Context, g *client.GroupConsumer, h client.Handler) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Consume(ctx, h) }()
	var once sync.Once
	var err error
	wait := func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { wait() })
	return wait
}

// readN reads n records of topic from the beginning with a new
// partition-assigned consumer, failing the test on a poll error.
func readN(t *testing.T, ctx context.Context, cl *client.Client, topic string, n int, opts ...client.ConsumerOption) []client.Record {
	t.Helper()
	cons, err := cl.NewConsumer(topic, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []client.Record
	for len(got) < n {
		recs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatalf("poll after %d of %d records: %v", len(got), n, err)
		}
		got = append(got, recs...)
	}
	return got
}
