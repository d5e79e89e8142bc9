package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
)

// outcomes collects ProduceAsync callbacks.
type outcomes struct {
	mu   sync.Mutex
	recs []client.Record
	errs []error
	wg   sync.WaitGroup
}

// cb returns a callback for one record; wait returns once every record
// given a callback was reported.
func (o *outcomes) cb() func(client.Record, error) {
	o.wg.Add(1)
	var once sync.Once
	return func(r client.Record, err error) {
		called := false
		once.Do(func() { called = true })
		if !called {
			panic("callback called twice")
		}
		o.mu.Lock()
		o.recs = append(o.recs, r)
		o.errs = append(o.errs, err)
		o.mu.Unlock()
		o.wg.Done()
	}
}

func (o *outcomes) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("callbacks not all called within %v", timeout)
	}
}

func producerNode(t *testing.T, opts ...samsatest.Option) (context.Context, *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx, newClient(t, ctx, samsatest.Start(t, opts...))
}

// Each ProduceAsync callback is called once, with the record as written.
func TestProduceAsyncReportsOffsets(t *testing.T) {
	ctx, cl := producerNode(t, samsatest.WithTopic("events", 3))
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	var o outcomes
	for i := range 30 {
		if err := p.ProduceAsync(ctx, client.NewRecord("events", fmt.Appendf(nil, "k%d", i%7), fmt.Appendf(nil, "v%d", i)), o.cb()); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	o.wait(t, time.Second) // Flush returned: they were all reported
	next := map[int32]int64{}
	for i, r := range o.recs {
		if o.errs[i] != nil {
			t.Fatalf("record %s failed: %v", r.Value, o.errs[i])
		}
		if r.Partition != client.PartitionForKey(r.Key, 3) || r.Offset != next[r.Partition] {
			t.Errorf("record %s key %s at %d/%d, want partition %d offset %d", r.Value, r.Key, r.Partition, r.Offset,
				client.PartitionForKey(r.Key, 3), next[r.Partition])
		}
		next[r.Partition] = r.Offset + 1
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close after everything was delivered: %v", err)
	}
}

// A record the topic refuses (MESSAGE_TOO_LARGE) and a record for a topic
// that does not exist (auto-creation off) fail in their callbacks with a
// *PartitionError that says what to do, and are counted by Flush.
func TestProduceAsyncReportsFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Fail records for a missing topic after one metadata answer, not four.
	cl := newClient(t, ctx, samsatest.Start(t, samsatest.WithAutoCreateTopics(false)),
		client.WithKgoOptions(kgo.UnknownTopicRetries(1)))
	if _, err := cl.Admin().CreateTopic(ctx, "small", 1, 1, map[string]string{"max.message.bytes": "1024"}); err != nil {
		t.Fatal(err)
	}
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}

	var big, missing outcomes
	if err := p.ProduceAsync(ctx, client.Record{Topic: "small", Value: make([]byte, 4096)}, big.cb()); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceAsync(ctx, client.NewRecord("missing", nil, []byte("x")), missing.cb()); err != nil {
		t.Fatal(err)
	}
	ferr := p.Flush(ctx)
	big.wait(t, time.Second)
	missing.wait(t, time.Second)

	var pe *client.PartitionError
	err = big.errs[0]
	switch {
	case !errors.Is(err, kerr.MessageTooLarge):
		t.Errorf("too large: %v, want MESSAGE_TOO_LARGE", err)
	case !errors.As(err, &pe) || pe.Topic != "small" || pe.Partition != 0 || client.IsRetriable(err):
		t.Errorf("too large: %#v, want a fatal *PartitionError for small/0", err)
	case !strings.Contains(err.Error(), "max.message.bytes"):
		t.Errorf("too large: %q does not say what to do", err)
	}
	err = missing.errs[0]
	if !errors.Is(err, kerr.UnknownTopicOrPartition) || !errors.As(err, &pe) || pe.Topic != "missing" ||
		!strings.Contains(err.Error(), "create it") {
		t.Errorf("unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION for missing, with advice", err)
	}

	var de *client.DeliveryError
	if !errors.As(ferr, &de) || de.Failed != 2 || len(de.Records) != 2 {
		t.Fatalf("Flush returned %v, want a *DeliveryError for 2 records", ferr)
	}
	if err := p.Flush(ctx); err != nil {
		t.Errorf("a second Flush reported the same failures again: %v", err)
	}

	// Refused before buffering: an error, and no callback.
	if err := p.ProduceAsync(ctx, client.Record{Partition: client.AnyPartition}, func(client.Record, error) {
		t.Error("callback called for a refused record")
	}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("record without topic: %v", err)
	}
}

// Close delivers what is buffered if it can, and reports every record it
// could not deliver — in its error, and to each record's callback.
func TestProducerCloseReportsUndelivered(t *testing.T) {
	ctx, cl := producerNode(t, samsatest.WithTopic("events", 1))

	// Buffered behind a long linger: Close sends them.
	p, err := cl.NewProducer(client.WithLinger(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var sent outcomes
	for i := range 10 {
		if err := p.ProduceAsync(ctx, client.NewRecord("events", nil, fmt.Appendf(nil, "v%d", i)), sent.cb()); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close with a reachable cluster: %v", err)
	}
	sent.wait(t, time.Second)
	for i, err := range sent.errs {
		if err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	if err := p.Produce(ctx, client.NewRecord("events", nil, nil)); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Produce after Close: %v, want ErrClosed", err)
	}

	// Records for a topic that does not exist cannot be sent: a Close
	// that may not wait fails them all, and says so.
	p, err = cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	var stuck outcomes
	for i := range 5 {
		if err := p.ProduceAsync(ctx, client.NewRecord("nowhere", nil, fmt.Appendf(nil, "v%d", i)), stuck.cb()); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Produce(ctx, client.NewRecord("nowhere", nil, []byte("fire-and-forget"))); err != nil {
		t.Fatal(err)
	}
	now, cancel := context.WithCancel(ctx)
	cancel()
	err = p.CloseContext(now)
	var de *client.DeliveryError
	if !errors.As(err, &de) || de.Failed != 6 || len(de.Records) != 6 {
		t.Fatalf("Close returned %v, want a *DeliveryError for all 6 records", err)
	}
	stuck.wait(t, time.Second)
	for i, err := range stuck.errs {
		if err == nil {
			t.Errorf("record %d reported delivered", i)
		}
	}
	if !errors.Is(err, client.ErrClosed) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("Close error %v: want ErrClosed (or the unknown topic)", err)
	}
	if again := p.Close(); again != err {
		t.Errorf("second Close returned %v, want the first's result", again)
	}
}

// A context canceled while the record waits — for buffer space, or in the
// buffer before it is sent — fails the record with the context's error,
// and nothing is written.
func TestProduceContextCanceledMidProduce(t *testing.T) {
	ctx, cl := producerNode(t, samsatest.WithTopic("events", 1))
	p, err := cl.NewProducer(client.WithLinger(time.Minute), client.WithMaxBufferedRecords(1))
	if err != nil {
		t.Fatal(err)
	}
	var first, second outcomes
	ctx1, cancel1 := context.WithCancel(ctx)
	if err := p.ProduceAsync(ctx1, client.NewRecord("events", nil, []byte("lingering")), first.cb()); err != nil {
		t.Fatal(err)
	}
	// The buffer is full: this one waits for space until its context ends.
	ctx2, cancel2 := context.WithCancel(ctx)
	returned := make(chan error, 1)
	go func() {
		returned <- p.ProduceAsync(ctx2, client.NewRecord("events", nil, []byte("blocked")), second.cb())
	}()
	cancel2()
	if err := <-returned; err != nil {
		t.Fatalf("ProduceAsync refused the record instead of reporting it: %v", err)
	}
	second.wait(t, 5*time.Second)
	if !errors.Is(second.errs[0], context.Canceled) {
		t.Errorf("blocked record: %v, want context.Canceled", second.errs[0])
	}

	cancel1()
	ferr := p.Flush(ctx) // sends the lingering batch, which fails on its context
	first.wait(t, 5*time.Second)
	if !errors.Is(first.errs[0], context.Canceled) {
		t.Errorf("lingering record: %v, want context.Canceled", first.errs[0])
	}
	var de *client.DeliveryError
	if !errors.As(ferr, &de) || de.Failed != 2 {
		t.Errorf("Flush: %v, want 2 failures", ferr)
	}
	if ends, err := cl.Admin().ListEndOffsets(ctx, "events"); err != nil || ends[0] != 0 {
		t.Errorf("end offset %v (%v), want 0: a canceled record was written", ends, err)
	}

	// ProduceSync returns when its context ends, with the record failed.
	sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer scancel()
	p2, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	_, err = p2.ProduceSync(sctx, client.NewRecord("not-created", nil, []byte("x")))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ProduceSync to a topic that never appears: %v, want the deadline", err)
	}
}

// WithMaxBatchBytes makes batches fit a topic whose max.message.bytes is
// below the default batch bound: with the default, a lingering batch of
// small records outgrows it and is refused; with the bound set, every
// record lands. A record larger than the bound fails alone.
func TestProducerMaxBatchBytes(t *testing.T) {
	ctx, cl := producerNode(t)
	if _, err := cl.Admin().CreateTopic(ctx, "narrow", 1, 1, map[string]string{"max.message.bytes": "4096"}); err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 1000)
	produce := func(opts ...client.ProducerOption) (ok, tooLarge int) {
		t.Helper()
		p, err := cl.NewProducer(append(opts, client.WithLinger(50*time.Millisecond))...)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var res outcomes
		for range 20 {
			if err := p.ProduceAsync(ctx, client.NewRecord("narrow", nil, value), res.cb()); err != nil {
				t.Fatal(err)
			}
		}
		_ = p.Flush(ctx)
		res.wait(t, time.Second)
		for _, err := range res.errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, kerr.MessageTooLarge):
				tooLarge++
			default:
				t.Errorf("unexpected failure: %v", err)
			}
		}
		return ok, tooLarge
	}
	if ok, tooLarge := produce(); tooLarge == 0 {
		t.Errorf("default batch bound: %d written, none refused; want batches over 4096 bytes refused", ok)
	}
	if ok, tooLarge := produce(client.WithMaxBatchBytes(4096)); ok != 20 || tooLarge != 0 {
		t.Errorf("batch bound 4096: %d written, %d refused, want all 20 written", ok, tooLarge)
	}

	p, err := cl.NewProducer(client.WithMaxBatchBytes(1024))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.ProduceSync(ctx, client.NewRecord("narrow", nil, make([]byte, 2000))); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("a record over the batch bound: %v, want MESSAGE_TOO_LARGE", err)
	}
	for _, n := range []int32{-1, 100, 1<<30 + 1} {
		if _, err := cl.NewProducer(client.WithMaxBatchBytes(n)); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("WithMaxBatchBytes(%d): %v, want ErrInvalidArgument", n, err)
		}
	}
}
