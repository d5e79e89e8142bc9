package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
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

// serde.String keys and values are sent without a copy. That must not
// change what is written — "" is an empty, non-null key and value — nor
// hand out a string's memory: a failed record's bytes in the
// DeliveryError are the caller's to write to (a string literal's memory
// is read-only, so a shared one would crash the write below).
func TestTypedStringRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := samsatest.Start(t, samsatest.WithAutoCreateTopics(false), samsatest.WithTopic("words", 1))
	cl := newClient(t, ctx, c, client.WithKgoOptions(kgo.UnknownTopicRetries(1)))
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	tp := client.NewTypedProducer(p, serde.String{}, serde.String{})
	if _, err := tp.Produce(ctx, "words", "", "", client.InPartition(0)); err != nil {
		t.Fatal(err)
	}
	delivered := make(chan client.TypedRecord[string, string], 1)
	if err := tp.ProduceAsync(ctx, "words", "k", "v", func(r client.TypedRecord[string, string], err error) {
		if err != nil {
			t.Error(err)
		}
		delivered <- r
	}); err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 1)
	if err := tp.ProduceAsync(ctx, "missing", "literal-key", "literal-value", func(r client.TypedRecord[string, string], err error) {
		if r.Key != "literal-key" || r.Value != "literal-value" || r.Offset != -1 {
			t.Errorf("failed record reported as %+v", r)
		}
		failed <- err
	}); err != nil {
		t.Fatal(err)
	}
	ferr := p.Flush(ctx)
	if r := <-delivered; r.Key != "k" || r.Value != "v" || r.Offset != 1 {
		t.Errorf("delivered %+v, want k=v at offset 1", r)
	}
	if err := <-failed; !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("record for a missing topic failed with %v", err)
	}
	var de *client.DeliveryError
	if !errors.As(ferr, &de) || len(de.Records) != 1 {
		t.Fatalf("Flush: %v, want a *DeliveryError with the failed record", ferr)
	}
	fr := de.Records[0]
	fr.Key[0], fr.Value[0] = 'L', 'L'
	if string(fr.Key) != "Literal-key" || string(fr.Value) != "Literal-value" {
		t.Errorf("failed record's bytes: %q=%q", fr.Key, fr.Value)
	}

	got := readN(t, ctx, cl, "words", 2)
	if len(got) != 2 {
		t.Fatalf("read %d records, want 2", len(got))
	}
	if got[0].Key == nil || len(got[0].Key) != 0 || got[0].Value == nil || len(got[0].Value) != 0 {
		t.Errorf("\"\" was written as key %#v value %#v, want empty and non-null", got[0].Key, got[0].Value)
	}
	if string(got[1].Key) != "k" || string(got[1].Value) != "v" {
		t.Errorf("second record %q=%q", got[1].Key, got[1].Value)
	}
}
