package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/serde"
)

// A record that does not deserialize stops the typed group consumer before
// its batch reaches the handler, and nothing of that batch is committed;
// with OnSerdeError the record is handed over raw and skipped instead.
func TestTypedGroupConsumerSerdeFailure(t *testing.T) {
	const topic = "orders"
	ctx, node := groupNode(t, topic, 1)
	cl := newClient(t, ctx, node)
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ProduceSync(ctx,
		client.Record{Topic: topic, Key: []byte("o-1"), Value: []byte(`{"id":"o-1","qty":1}`)},
		client.Record{Topic: topic, Key: []byte("o-2"), Value: []byte(`not json`)},
		client.Record{Topic: topic, Key: []byte("o-3"), Value: []byte(`{"id":"o-3","qty":3}`)},
	); err != nil {
		t.Fatal(err)
	}

	g := newMember(t, cl, "strict", topic, client.GroupMaxPollRecords(3))
	strict := client.NewTypedGroupConsumer(g, serde.String{}, serde.JSON[order]{})
	var handled []string
	err = strict.Consume(ctx, func(_ context.Context, recs []client.TypedRecord[string, order]) error {
		for _, r := range recs {
			handled = append(handled, r.Key)
		}
		return nil
	})
	var se *client.SerdeError
	if !errors.As(err, &se) || se.Key || se.Topic != topic || se.Partition != 0 || se.Offset != 1 {
		t.Fatalf("Consume returned %v, want a value *SerdeError at %s/0 offset 1", err, topic)
	}
	if c := committed(t, ctx, cl, "strict", topic, 0); c > 1 {
		t.Errorf("committed %d: the bad record was committed past", c)
	}
	for _, k := range handled {
		if k != "o-1" {
			t.Errorf("handler saw %s from the batch holding the bad record", k)
		}
	}
	g.Close()

	g2 := newMember(t, cl, "lenient", topic)
	var skipped []int64
	lenient := client.NewTypedGroupConsumer(g2, serde.String{}, serde.JSON[order]{},
		client.OnSerdeError(func(_ context.Context, raw client.Record, err *client.SerdeError) error {
			skipped = append(skipped, raw.Offset)
			return nil
		}))
	var good []order
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = lenient.Consume(cctx, func(_ context.Context, recs []client.TypedRecord[string, order]) error {
		for _, r := range recs {
			good = append(good, r.Value)
		}
		if len(good) == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume: %v", err)
	}
	if len(skipped) != 1 || skipped[0] != 1 || len(good) != 2 || good[0].Qty != 1 || good[1].Qty != 3 {
		t.Errorf("skipped %v, handled %+v", skipped, good)
	}
	if c := committed(t, ctx, cl, "lenient", topic, 0); c != 3 {
		t.Errorf("committed %d, want 3 (past the skipped record)", c)
	}
}

// Typed ProduceAsync reports the typed record as written.
func TestTypedProduceAsync(t *testing.T) {
	ctx, cl := typedSetup(t, "orders", 2)
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	tp := client.NewTypedProducer(p, serde.String{}, serde.JSON[order]{})
	done := make(chan client.TypedRecord[string, order], 1)
	if err := tp.ProduceAsync(ctx, "orders", "o-9", order{ID: "o-9", Qty: 9}, func(r client.TypedRecord[string, order], err error) {
		if err != nil {
			t.Error(err)
		}
		done <- r
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.Partition != client.PartitionForKey([]byte("o-9"), 2) || r.Offset != 0 || r.Value.Qty != 9 {
		t.Errorf("written %+v", r)
	}
	var se *client.SerdeError
	if err := tp.ProduceAsync(ctx, "orders", "o-x", order{Extra: make(chan int)}, func(client.TypedRecord[string, order], error) {
		t.Error("callback called for a record that did not serialize")
	}); !errors.As(err, &se) {
		t.Errorf("unserializable value: %v", err)
	}
}
