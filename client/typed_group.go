package client

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client/serde"
)

// ProduceAsync serializes key and value and buffers the record, as
// Producer.ProduceAsync: done is called once with the record as written
// (Partition, Offset and Timestamp set) and nil, or with the error that
// failed it.
//
// If a serde fails, ProduceAsync returns a *SerdeError (Offset -1), sends
// nothing and does not call done; it returns the Producer's error, and
// does not call done, for a record refused before buffering.
func (tp *TypedProducer[K, V]) ProduceAsync(ctx context.Context, topic string, key K, value V, done func(TypedRecord[K, V], error), opts ...ProduceOption) error {
	if done == nil {
		return invalidf("ProduceAsync without a callback")
	}
	p := tp.p
	if err := p.check(topic, AnyPartition); err != nil {
		return err
	}
	kb, vb, err := tp.serialize(topic, key, value)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// One allocation per record, as Producer.ProduceAsync: the kgo record
	// and the typed state together, found again by the promise bound in
	// NewTypedProducer. The kgo record is filled in place; a Record is
	// built only for options to work on.
	pr := &typedPendingRecord[K, V]{Context: ctx, key: key, value: value, done: done}
	kr := &pr.kr
	if len(opts) > 0 {
		rec := withOptions(NewRecord(topic, kb, vb), opts)
		if err := p.check(rec.Topic, rec.Partition); err != nil {
			return err
		}
		rec.fillKgo(kr)
	} else {
		kr.Topic, kr.Partition, kr.Key, kr.Value = topic, AnyPartition, kb, vb
	}
	kr.Context = pr
	p.kcl.Produce(ctx, kr, tp.asyncPromise)
	return nil
}

// typedPendingRecord is Producer.ProduceAsync's pendingRecord for a
// TypedProducer: the typed key and value go back to the callback as given.
type typedPendingRecord[K, V any] struct {
	context.Context
	kr    kgo.Record
	key   K
	value V
	done  func(TypedRecord[K, V], error)
}

// asyncDelivered is the kgo promise of records given to
// TypedProducer.ProduceAsync.
func (tp *TypedProducer[K, V]) asyncDelivered(kr *kgo.Record, err error) {
	pr := kr.Context.(*typedPendingRecord[K, V])
	out := TypedRecord[K, V]{Topic: kr.Topic, Partition: kr.Partition, Offset: -1, Key: pr.key, Value: pr.value}
	if err != nil {
		// A failed record is kept for the DeliveryError of the next
		// Flush, where the caller may write to its bytes: it must not
		// share a string's memory.
		tp.unalias(kr)
		w, err := tp.p.delivered(kr, err)
		out.Headers, out.Timestamp = w.Headers, w.Timestamp
		pr.done(out, err)
		return
	}
	// Straight from kr: the Record that Producer.delivered would build
	// first is a copy per record that the typed caller never sees.
	out.Offset, out.Timestamp, out.Headers = kr.Offset, kr.Timestamp, headersFromKgo(kr.Headers)
	pr.done(out, nil)
}

// SerdeErrorHandler is told of a consumed record whose key or value did
// not deserialize, with the raw record. Returning nil skips the record:
// it is committed with its batch, so it is not delivered again (log it, or
// produce the raw record to a dead-letter topic first). Returning an error
// stops Consume without committing the batch.
type SerdeErrorHandler func(ctx context.Context, raw Record, err *SerdeError) error

// TypedGroupOption configures a TypedGroupConsumer.
type TypedGroupOption func(*typedGroupConfig)

type typedGroupConfig struct {
	onSerdeError SerdeErrorHandler
}

// OnSerdeError sets what a TypedGroupConsumer does with a record that does
// not deserialize. Without it, Consume stops with the *SerdeError and
// commits nothing of the batch, so the record is delivered again by the
// next Consume — nothing is skipped unless you say so.
func OnSerdeError(fn SerdeErrorHandler) TypedGroupOption {
	return func(c *typedGroupConfig) { c.onSerdeError = fn }
}

// TypedGroupConsumer is a GroupConsumer whose handler gets decoded keys
// and values.
type TypedGroupConsumer[K, V any] struct {
	g   *GroupConsumer
	ks  serde.Serde[K]
	vs  serde.Serde[V]
	cfg typedGroupConfig
}

// NewTypedGroupConsumer wraps g. g stays owned by its Client; Close g (or
// the Client) to stop it.
func NewTypedGroupConsumer[K, V any](g *GroupConsumer, ks serde.Serde[K], vs serde.Serde[V], opts ...TypedGroupOption) *TypedGroupConsumer[K, V] {
	tc := &TypedGroupConsumer[K, V]{g: g, ks: ks, vs: vs}
	for _, o := range opts {
		o(&tc.cfg)
	}
	return tc
}

// GroupConsumer returns the underlying GroupConsumer (for Seek, Pause,
// Commit, Assigned and Close).
func (tc *TypedGroupConsumer[K, V]) GroupConsumer() *GroupConsumer { return tc.g }

// Consume is GroupConsumer.Consume with keys and values deserialized. A
// batch is decoded whole before h sees any of it; a record that fails goes
// to the OnSerdeError handler, or, without one, stops Consume with a
// *SerdeError naming its topic, partition and offset (errors.As finds it),
// before h is called and without committing the batch.
func (tc *TypedGroupConsumer[K, V]) Consume(ctx context.Context, h func(ctx context.Context, recs []TypedRecord[K, V]) error) error {
	if h == nil {
		return invalidf("Consume without a handler")
	}
	return tc.g.Consume(ctx, func(ctx context.Context, recs []Record) error {
		out := make([]TypedRecord[K, V], 0, len(recs))
		for _, r := range recs {
			tr, serr := decode(tc.ks, tc.vs, r)
			if serr == nil {
				out = append(out, tr)
				continue
			}
			if tc.cfg.onSerdeError == nil {
				return serr
			}
			if err := tc.cfg.onSerdeError(ctx, r, serr); err != nil {
				return fmt.Errorf("serde error handler: %w", err)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return h(ctx, out)
	})
}

// decode deserializes r's key and value.
func decode[K, V any](ks serde.Serde[K], vs serde.Serde[V], r Record) (TypedRecord[K, V], *SerdeError) {
	k, err := ks.Deserialize(r.Topic, r.Key)
	if err != nil {
		return TypedRecord[K, V]{}, &SerdeError{Topic: r.Topic, Key: true, Partition: r.Partition, Offset: r.Offset, Err: err}
	}
	v, err := vs.Deserialize(r.Topic, r.Value)
	if err != nil {
		return TypedRecord[K, V]{}, &SerdeError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Err: err}
	}
	return TypedRecord[K, V]{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Key: k, Value: v, Headers: r.Headers, Timestamp: r.Timestamp,
	}, nil
}
