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
	kb, err := tp.ks.Serialize(topic, key)
	if err != nil {
		return &SerdeError{Topic: topic, Key: true, Partition: -1, Offset: -1, Err: err}
	}
	vb, err := tp.vs.Serialize(topic, value)
	if err != nil {
		return &SerdeError{Topic: topic, Partition: -1, Offset: -1, Err: err}
	}
	rec := NewRecord(topic, kb, vb)
	for _, o := range opts {
		o(&rec)
	}
	p := tp.p
	if err := p.check(rec); err != nil {
		return err
	}
	// One promise straight to kgo (not Producer.ProduceAsync's, wrapped):
	// a closure and a Record conversion fewer per record, which is most
	// of what the typed layer costs for small records.
	p.kcl.Produce(ctx, rec.toKgo(), func(kr *kgo.Record, err error) {
		w, err := p.delivered(kr, err)
		out := TypedRecord[K, V]{
			Topic: topic, Partition: w.Partition, Offset: w.Offset,
			Key: key, Value: value, Headers: w.Headers, Timestamp: w.Timestamp,
		}
		if err != nil {
			out.Offset = -1
		}
		done(out, err)
	})
	return nil
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
