package broker

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

// Fetch responses are encoded here rather than by kmsg so that record data
// is never copied into the response buffer: each partition's records become
// their own protocol.Part (bytes read from the log, or a file region the
// server sends with sendfile). The layout follows the Fetch response schema
// for versions 4-17; fetch_encode_test.go checks it byte for byte against
// kmsg's encoder. The only tagged field written is a partition's
// DivergingEpoch, for followers.

// fetchEncoder accumulates the bytes between record sets.
type fetchEncoder struct {
	flexible bool
	buf      []byte
	parts    []protocol.Part
}

// encodeFetchResponse encodes resp at its version. records[i] holds the
// record parts of the i-th partition in response order (nil for none);
// the partitions' RecordBatches fields are ignored.
func encodeFetchResponse(resp *kmsg.FetchResponse, records [][]protocol.Part) *protocol.EncodedResponse {
	v := resp.Version
	e := &fetchEncoder{flexible: v >= 12}
	e.i32(resp.ThrottleMillis)
	if v >= 7 {
		e.i16(resp.ErrorCode)
		e.i32(resp.SessionID)
	}
	e.arrayLen(len(resp.Topics))
	i := 0
	for _, t := range resp.Topics {
		if v >= 13 {
			e.buf = append(e.buf, t.TopicID[:]...)
		} else {
			e.str(t.Topic)
		}
		e.arrayLen(len(t.Partitions))
		for _, p := range t.Partitions {
			e.partition(v, &p, records[i])
			i++
		}
		e.tags()
	}
	e.tags()
	out := protocol.NewEncodedResponse(1, v, e.flexible)
	out.Parts = append(e.parts, protocol.Part{Bytes: e.buf})
	return out
}

func (e *fetchEncoder) partition(v int16, p *kmsg.FetchResponseTopicPartition, records []protocol.Part) {
	e.i32(p.Partition)
	e.i16(p.ErrorCode)
	e.i64(p.HighWatermark)
	e.i64(p.LastStableOffset)
	if v >= 5 {
		e.i64(p.LogStartOffset)
	}
	e.nullArrayLen(-1) // aborted transactions: none (no transactions yet)
	if v >= 11 {
		e.i32(p.PreferredReadReplica)
	}
	var size int64
	for _, r := range records {
		size += r.Len()
	}
	e.bytesLen(int(size))
	if size > 0 {
		e.parts = append(e.parts, protocol.Part{Bytes: e.buf})
		e.parts = append(e.parts, records...)
		e.buf = nil
	}
	e.partitionTags(p)
}

// partitionTags writes a partition's tagged fields: only DivergingEpoch
// (tag 0, v12+), when set, for a follower whose log diverged.
func (e *fetchEncoder) partitionTags(p *kmsg.FetchResponseTopicPartition) {
	if !e.flexible {
		return
	}
	d := p.DivergingEpoch
	if d.Epoch == -1 && d.EndOffset == -1 {
		e.buf = append(e.buf, 0)
		return
	}
	const divergingSize = 4 + 8 + 1 // epoch, end offset, its own empty tags
	e.buf = append(e.buf, 1, 0, divergingSize)
	e.i32(d.Epoch)
	e.i64(d.EndOffset)
	e.buf = append(e.buf, 0)
}

func (e *fetchEncoder) i16(x int16) { e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(x)) }
func (e *fetchEncoder) i32(x int32) { e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(x)) }
func (e *fetchEncoder) i64(x int64) { e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(x)) }

func (e *fetchEncoder) str(s string) {
	if e.flexible {
		e.buf = binary.AppendUvarint(e.buf, uint64(len(s))+1)
	} else {
		e.i16(int16(len(s)))
	}
	e.buf = append(e.buf, s...)
}

func (e *fetchEncoder) arrayLen(n int) {
	if e.flexible {
		e.buf = binary.AppendUvarint(e.buf, uint64(n)+1)
	} else {
		e.i32(int32(n))
	}
}

// nullArrayLen writes a nullable array length; -1 is null.
func (e *fetchEncoder) nullArrayLen(n int) {
	if e.flexible {
		e.buf = binary.AppendUvarint(e.buf, uint64(n+1))
	} else {
		e.i32(int32(n))
	}
}

// bytesLen writes the length of a non-null byte array of n bytes.
func (e *fetchEncoder) bytesLen(n int) {
	if e.flexible {
		e.buf = binary.AppendUvarint(e.buf, uint64(n)+1)
	} else {
		e.i32(int32(n))
	}
}

func (e *fetchEncoder) tags() {
	if e.flexible {
		e.buf = append(e.buf, 0)
	}
}
