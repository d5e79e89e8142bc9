package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client/serde"
)

// SerdeError is a key or value that its serde could not serialize (on
// produce) or deserialize (on consume). It unwraps to the serde's error.
type SerdeError struct {
	Topic string
	// Key is true for the key's serde, false for the value's.
	Key bool
	// Partition and Offset are the consumed record's position. They are
	// -1 for a produce-side failure, where the record was never sent.
	Partition int32
	Offset    int64
	Err       error
}

func (e *SerdeError) Error() string {
	what := "value"
	if e.Key {
		what = "key"
	}
	if e.Offset < 0 {
		return fmt.Sprintf("serialize %s for %q: %v", what, e.Topic, e.Err)
	}
	return fmt.Sprintf("deserialize %s of %q partition %d offset %d: %v", what, e.Topic, e.Partition, e.Offset, e.Err)
}

func (e *SerdeError) Unwrap() error { return e.Err }

// TypedRecord is a Record whose key and value are decoded.
type TypedRecord[K, V any] struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       K
	Value     V
	Headers   []Header
	Timestamp time.Time
}

// ProduceOption sets a field of a record given to TypedProducer.Produce.
type ProduceOption func(*Record)

// InPartition writes the record to partition p instead of letting the
// partitioner choose.
func InPartition(p int32) ProduceOption { return func(r *Record) { r.Partition = p } }

// WithRecordHeaders adds headers to the record.
func WithRecordHeaders(h ...Header) ProduceOption {
	return func(r *Record) { r.Headers = append(r.Headers, h...) }
}

// WithRecordTimestamp sets the record's create time (the default is now).
func WithRecordTimestamp(t time.Time) ProduceOption {
	return func(r *Record) { r.Timestamp = t }
}

// TypedProducer produces keys of type K and values of type V through a
// Producer, serializing them with its serdes.
type TypedProducer[K, V any] struct {
	p  *Producer
	ks serde.Serde[K]
	vs serde.Serde[V]
	// keyString and valueString say that the serde is serde.String, whose
	// bytes are sent straight from the string's memory rather than
	// copied: kgo only reads them, and no caller ever sees those bytes
	// except a failed record's, which unalias copies.
	keyString, valueString bool
	asyncPromise           func(*kgo.Record, error) // asyncDelivered, bound once
}

// NewTypedProducer wraps p. p stays owned by its Client: closing the Client
// or p stops the TypedProducer too.
func NewTypedProducer[K, V any](p *Producer, ks serde.Serde[K], vs serde.Serde[V]) *TypedProducer[K, V] {
	tp := &TypedProducer[K, V]{p: p, ks: ks, vs: vs}
	_, tp.keyString = any(ks).(serde.String)
	_, tp.valueString = any(vs).(serde.String)
	tp.asyncPromise = tp.asyncDelivered
	return tp
}

// Producer returns the underlying Producer.
func (tp *TypedProducer[K, V]) Producer() *Producer { return tp.p }

// serialize returns key's and value's bytes. A serde failure is a
// *SerdeError with Offset -1.
func (tp *TypedProducer[K, V]) serialize(topic string, key K, value V) (kb, vb []byte, err error) {
	if tp.keyString {
		kb = stringBytes(any(key).(string))
	} else if kb, err = tp.ks.Serialize(topic, key); err != nil {
		return nil, nil, &SerdeError{Topic: topic, Key: true, Partition: -1, Offset: -1, Err: err}
	}
	if tp.valueString {
		vb = stringBytes(any(value).(string))
	} else if vb, err = tp.vs.Serialize(topic, value); err != nil {
		return nil, nil, &SerdeError{Topic: topic, Partition: -1, Offset: -1, Err: err}
	}
	return kb, vb, nil
}

// withOptions returns rec with opts applied.
func withOptions(rec Record, opts []ProduceOption) Record {
	for _, o := range opts {
		o(&rec)
	}
	return rec
}

// unalias gives kr's key and value their own memory where they share a
// string's.
func (tp *TypedProducer[K, V]) unalias(kr *kgo.Record) {
	if tp.keyString {
		kr.Key = bytes.Clone(kr.Key)
	}
	if tp.valueString {
		kr.Value = bytes.Clone(kr.Value)
	}
}

// stringBytes is s's memory as a []byte, which must never be written. ""
// gives an empty, non-nil slice, as serde.String does: a nil one would be
// a null key or value.
func stringBytes(s string) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// Produce serializes key and value, writes the record to topic and waits
// for the cluster to acknowledge it, as Producer.ProduceSync. It returns
// the record as written, with Partition, Offset and Timestamp set.
//
// If a serde fails, Produce returns a *SerdeError (Offset -1) and sends
// nothing. A delivery failure is returned as ProduceSync returns it.
func (tp *TypedProducer[K, V]) Produce(ctx context.Context, topic string, key K, value V, opts ...ProduceOption) (TypedRecord[K, V], error) {
	out := TypedRecord[K, V]{Topic: topic, Partition: AnyPartition, Offset: -1, Key: key, Value: value}
	kb, vb, err := tp.serialize(topic, key, value)
	if err != nil {
		return out, err
	}
	rec := withOptions(NewRecord(topic, kb, vb), opts)
	written, err := tp.p.ProduceSync(ctx, rec)
	if len(written) == 1 {
		w := written[0]
		out.Partition, out.Headers, out.Timestamp = w.Partition, w.Headers, w.Timestamp
		if err == nil {
			out.Offset = w.Offset
		}
	}
	return out, err
}

// TypedConsumer reads a Consumer's records and deserializes their keys and
// values.
type TypedConsumer[K, V any] struct {
	c  *Consumer
	ks serde.Serde[K]
	vs serde.Serde[V]
}

// NewTypedConsumer wraps c. c stays owned by its Client; Close c (or the
// Client) to stop it.
func NewTypedConsumer[K, V any](c *Consumer, ks serde.Serde[K], vs serde.Serde[V]) *TypedConsumer[K, V] {
	return &TypedConsumer[K, V]{c: c, ks: ks, vs: vs}
}

// Consumer returns the underlying Consumer (for Positions and Close).
func (tc *TypedConsumer[K, V]) Consumer() *Consumer { return tc.c }

// Poll is Consumer.Poll with keys and values deserialized.
//
// A record whose key or value fails to deserialize is left out of the
// result and reported in the error as a *SerdeError naming its topic,
// partition and offset (find it with errors.As). The other records of the
// poll are still returned, so a non-nil error with records means those
// records are good — as with Consumer.Poll, whose own partition errors are
// joined in. The failed record is not fetched again: the consumer's
// position is past it. Stop on the error, or log it (or send the raw
// record, read with the plain Consumer, to a dead-letter topic) and poll
// on.
func (tc *TypedConsumer[K, V]) Poll(ctx context.Context) ([]TypedRecord[K, V], error) {
	recs, pollErr := tc.c.Poll(ctx)
	var errs []error
	if pollErr != nil {
		errs = append(errs, pollErr)
	}
	out := make([]TypedRecord[K, V], 0, len(recs))
	for _, r := range recs {
		tr, serr := decode(tc.ks, tc.vs, r)
		if serr != nil {
			errs = append(errs, serr)
			continue
		}
		out = append(out, tr)
	}
	if len(out) == 0 {
		out = nil
	}
	switch len(errs) {
	case 0:
		return out, nil
	case 1:
		return out, errs[0]
	}
	return out, errors.Join(errs...)
}
