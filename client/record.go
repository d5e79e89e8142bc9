package client

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// AnyPartition in Record.Partition lets the producer choose the partition:
// by key hash for a keyed record, spread evenly for a record without key.
const AnyPartition int32 = -1

// Header is one record header. Keys may repeat; order is kept.
type Header struct {
	Key   string
	Value []byte
}

// Record is one Kafka record, as produced and as consumed.
//
// The zero value's Partition is 0, not AnyPartition: set Partition
// explicitly, or start from NewRecord.
type Record struct {
	Topic string
	// Partition is the partition to write to, or AnyPartition.
	Partition int32
	// Offset is set on consumed records and on records ProduceSync
	// returns; it is ignored when producing.
	Offset int64
	// Key is the record key; nil is a null key (distinct from empty).
	Key []byte
	// Value is the record value; nil is a null value (a tombstone on
	// compacted topics).
	Value   []byte
	Headers []Header
	// Timestamp is the record's create time; the zero time means "now"
	// when producing.
	Timestamp time.Time
}

// NewRecord returns a record for topic with Partition set to AnyPartition.
func NewRecord(topic string, key, value []byte) Record {
	return Record{Topic: topic, Partition: AnyPartition, Key: key, Value: value}
}

// toKgo converts r for producing.
func (r Record) toKgo() *kgo.Record {
	kr := new(kgo.Record)
	r.fillKgo(kr)
	return kr
}

// fillKgo sets kr's fields from r, so that a caller can place the kgo
// record inside a larger allocation.
func (r Record) fillKgo(kr *kgo.Record) {
	kr.Topic = r.Topic
	kr.Partition = r.Partition
	kr.Key = r.Key
	kr.Value = r.Value
	kr.Timestamp = r.Timestamp
	if len(r.Headers) > 0 {
		kr.Headers = make([]kgo.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
}

// fromKgo converts a produced or fetched kgo record.
func fromKgo(kr *kgo.Record) Record {
	r := Record{
		Topic:     kr.Topic,
		Partition: kr.Partition,
		Offset:    kr.Offset,
		Key:       kr.Key,
		Value:     kr.Value,
		Timestamp: kr.Timestamp,
	}
	r.Headers = headersFromKgo(kr.Headers)
	return r
}

// headersFromKgo converts kgo's headers; none gives nil.
func headersFromKgo(hs []kgo.RecordHeader) []Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]Header, len(hs))
	for i, h := range hs {
		out[i] = Header{Key: h.Key, Value: h.Value}
	}
	return out
}
