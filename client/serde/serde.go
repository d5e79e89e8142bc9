// Package serde turns typed keys and values into record bytes and back, for
// client.TypedProducer and client.TypedConsumer.
//
// Serde is the whole contract: implement it to plug in your own format
// (protobuf, Avro, a schema registry). String, Bytes and JSON are provided.
//
// # Null keys and values
//
// A nil []byte is a Kafka null (a null key is spread across partitions, a
// null value is a tombstone on compacted topics), distinct from an empty
// one. Each serde says how it maps null:
//
//   - Bytes keeps nil as nil both ways, and empty as empty.
//   - String cannot express null: "" serializes to an empty (non-null)
//     []byte, and a null deserializes to "".
//   - JSON serializes a value that marshals to JSON null (a nil pointer,
//     map, slice or interface) as a null record field, and deserializes a
//     null to T's zero value. Every other value is JSON text.
package serde

import (
	"encoding/json"
	"fmt"
)

// Serde serializes values of type T for a topic and reads them back. The
// topic lets one serde vary by topic (a schema per topic, for instance);
// the provided ones ignore it. Implementations must be safe for concurrent
// use.
type Serde[T any] interface {
	Serialize(topic string, v T) ([]byte, error)
	Deserialize(topic string, b []byte) (T, error)
}

// String is the UTF-8 bytes of a string, as Kafka's StringSerializer. It
// does not check that consumed bytes are valid UTF-8.
type String struct{}

// Serialize returns []byte(v); "" gives an empty, non-null []byte.
func (String) Serialize(_ string, v string) ([]byte, error) { return []byte(v), nil }

// Deserialize returns string(b); a null gives "".
func (String) Deserialize(_ string, b []byte) (string, error) { return string(b), nil }

// Bytes passes []byte through unchanged: nil stays a null, empty stays
// empty. Neither direction copies.
type Bytes struct{}

// Serialize returns v itself.
func (Bytes) Serialize(_ string, v []byte) ([]byte, error) { return v, nil }

// Deserialize returns b itself.
func (Bytes) Deserialize(_ string, b []byte) ([]byte, error) { return b, nil }

// JSON encodes T with encoding/json. See the package documentation for how
// it maps nulls.
type JSON[T any] struct{}

// Serialize returns v as JSON text, or nil (a null key or value) when v
// marshals to JSON null.
func (JSON[T]) Serialize(_ string, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	return b, nil
}

// Deserialize parses b as JSON into a T; a null (nil b) gives T's zero
// value. An empty non-nil b is not JSON and fails.
func (JSON[T]) Deserialize(_ string, b []byte) (T, error) {
	var v T
	if b == nil {
		return v, nil
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("json: %w", err)
	}
	return v, nil
}

// Compile-time checks.
var (
	_ Serde[string]         = String{}
	_ Serde[[]byte]         = Bytes{}
	_ Serde[map[string]any] = JSON[map[string]any]{}
)
