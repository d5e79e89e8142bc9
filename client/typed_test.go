package client_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
	"github.com/samsa-io/samsa/client/serde"
)

type order struct {
	ID    string   `json:"id"`
	Qty   int      `json:"qty"`
	Tags  []string `json:"tags,omitempty"`
	Extra any      `json:"extra,omitempty"`
}

func typedSetup(t *testing.T, topic string, partitions int32) (context.Context, *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c := samsatest.Start(t, samsatest.WithTopic(topic, partitions))
	cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return ctx, cl
}

// pollTyped polls until n records and the wanted number of errors arrived.
func pollTyped[K, V any](t *testing.T, ctx context.Context, tc *client.TypedConsumer[K, V], n, nerr int) ([]client.TypedRecord[K, V], []error) {
	t.Helper()
	var (
		recs []client.TypedRecord[K, V]
		errs []error
	)
	for len(recs) < n || len(errs) < nerr {
		got, err := tc.Poll(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out with %d records and %d errors (%v)", len(recs), len(errs), errs)
		}
		recs = append(recs, got...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return recs, errs
}

func TestTypedJSONRoundTrip(t *testing.T) {
	ctx, cl := typedSetup(t, "orders", 3)
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	tp := client.NewTypedProducer(p, serde.String{}, serde.JSON[order]{})

	want := map[string]order{
		"o-1": {ID: "o-1", Qty: 2, Tags: []string{"gift"}},
		"o-2": {ID: "o-2", Qty: 5},
		"o-3": {ID: "o-3", Qty: 1, Tags: []string{"a", "b"}},
	}
	written := map[string]client.TypedRecord[string, order]{}
	for k, v := range want {
		w, err := tp.Produce(ctx, "orders", k, v, client.WithRecordHeaders(client.Header{Key: "src", Value: []byte("test")}))
		if err != nil {
			t.Fatal(err)
		}
		if w.Offset < 0 || w.Partition != client.PartitionForKey([]byte(k), 3) {
			t.Errorf("%s written at partition %d offset %d", k, w.Partition, w.Offset)
		}
		written[k] = w
	}

	cons, err := cl.NewConsumer("orders")
	if err != nil {
		t.Fatal(err)
	}
	tc := client.NewTypedConsumer(cons, serde.String{}, serde.JSON[order]{})
	recs, errs := pollTyped(t, ctx, tc, len(want), 0)
	if len(errs) > 0 {
		t.Fatalf("poll errors: %v", errs)
	}
	for _, r := range recs {
		w, ok := written[r.Key]
		if !ok {
			t.Errorf("unexpected key %q", r.Key)
			continue
		}
		if !reflect.DeepEqual(r.Value, want[r.Key]) {
			t.Errorf("%s: got %+v, want %+v", r.Key, r.Value, want[r.Key])
		}
		if r.Partition != w.Partition || r.Offset != w.Offset || r.Topic != "orders" {
			t.Errorf("%s: consumed at %d/%d, written at %d/%d", r.Key, r.Partition, r.Offset, w.Partition, w.Offset)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != "src" {
			t.Errorf("%s: headers %+v", r.Key, r.Headers)
		}
	}
}

// failing is a serde whose Serialize always fails.
type failing[T any] struct{ serde.JSON[T] }

var errNope = errors.New("nope")

func (failing[T]) Serialize(string, T) ([]byte, error) { return nil, errNope }

func TestTypedProduceSerdeFailureSendsNothing(t *testing.T) {
	ctx, cl := typedSetup(t, "orders", 1)
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	tp := client.NewTypedProducer(p, serde.String{}, serde.JSON[order]{})

	_, err = tp.Produce(ctx, "orders", "o-1", order{ID: "o-1", Extra: make(chan int)})
	var se *client.SerdeError
	if !errors.As(err, &se) || se.Key || se.Topic != "orders" || se.Offset != -1 {
		t.Fatalf("got %v (%#v), want a value *SerdeError for orders", err, se)
	}

	kp := client.NewTypedProducer(p, failing[string]{}, serde.JSON[order]{})
	_, err = kp.Produce(ctx, "orders", "o-2", order{ID: "o-2"})
	if !errors.As(err, &se) || !se.Key || !errors.Is(err, errNope) {
		t.Fatalf("got %v, want a key *SerdeError wrapping errNope", err)
	}

	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ends, err := cl.Admin().ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if ends[0] != 0 {
		t.Errorf("end offset %d after failed serdes, want 0: something was produced", ends[0])
	}
}

func TestTypedConsumeInvalidJSON(t *testing.T) {
	ctx, cl := typedSetup(t, "orders", 1)
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ProduceSync(ctx,
		client.NewRecord("orders", []byte("o-1"), []byte(`{"id":"o-1","qty":1}`)),
		client.NewRecord("orders", []byte("o-2"), []byte(`not json`)),
		client.NewRecord("orders", []byte("o-3"), []byte(`{"id":"o-3","qty":3}`)),
	); err != nil {
		t.Fatal(err)
	}

	cons, err := cl.NewConsumer("orders")
	if err != nil {
		t.Fatal(err)
	}
	tc := client.NewTypedConsumer(cons, serde.String{}, serde.JSON[order]{})
	recs, errs := pollTyped(t, ctx, tc, 2, 1)
	if len(errs) != 1 {
		t.Fatalf("errors %v, want one", errs)
	}
	var se *client.SerdeError
	if !errors.As(errs[0], &se) {
		t.Fatalf("error %v is not a *SerdeError", errs[0])
	}
	if se.Key || se.Topic != "orders" || se.Partition != 0 || se.Offset != 1 {
		t.Errorf("SerdeError %+v, want value of orders/0 at offset 1", se)
	}
	if got := se.Error(); got == "" || !containsAll(got, `"orders"`, "partition 0", "offset 1") {
		t.Errorf("message %q does not name the position", got)
	}
	if len(recs) != 2 || recs[0].Offset != 0 || recs[1].Offset != 2 || recs[1].Value.Qty != 3 {
		t.Errorf("good records %+v, want offsets 0 and 2", recs)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
