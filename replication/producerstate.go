package replication

import (
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/storage"
)

// Idempotent-producer bookkeeping (KIP-98). For every producer id that has
// written to the partition the leader remembers the producer epoch and the
// last few batches (their sequence ranges and offsets), enough to recognise
// any retry a producer with at most five requests in flight can send.

// retainedBatches is how many recent batches per producer are remembered to
// answer duplicates; clients keep at most five requests in flight.
const retainedBatches = 5

// batchRecord is one remembered batch of a producer.
type batchRecord struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	// appendTime is the batch's LogAppendTime, -1 for CreateTime; a
	// duplicate is answered with it, as the original was.
	appendTime int64
}

type producerEntry struct {
	epoch   int16
	batches []batchRecord // oldest first, at most retainedBatches
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastSeq
}

// producerState maps producer id to entry. Guarded by Partition.appendMu.
type producerState map[int64]*producerEntry

// sequenceVerdict is what the producer state says about one batch.
type sequenceVerdict int

const (
	seqAppend    sequenceVerdict = iota // new data in sequence: append it
	seqDuplicate                        // a retry of a batch already in the log
)

// check decides whether batch h from its producer may be appended. A
// duplicate returns the remembered offsets of the original.
func (s producerState) check(h storage.BatchHeader) (sequenceVerdict, batchRecord, error) {
	if h.ProducerID < 0 {
		return seqAppend, batchRecord{}, nil
	}
	e, known := s[h.ProducerID]
	if !known {
		// A producer this partition has never seen (or whose state was
		// lost to retention) may start at any sequence, as in Kafka.
		return seqAppend, batchRecord{}, nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return 0, batchRecord{}, fmt.Errorf("producer %d epoch %d is older than %d: %w",
			h.ProducerID, h.ProducerEpoch, e.epoch, kerr.InvalidProducerEpoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return 0, batchRecord{}, fmt.Errorf("producer %d new epoch %d must start at sequence 0, got %d: %w",
				h.ProducerID, h.ProducerEpoch, h.BaseSequence, kerr.OutOfOrderSequenceNumber)
		}
		return seqAppend, batchRecord{}, nil
	}
	last := lastSequence(h)
	for _, b := range e.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return seqDuplicate, b, nil
		}
	}
	if want := nextSequence(e.lastSeq()); h.BaseSequence != want {
		return 0, batchRecord{}, fmt.Errorf("producer %d epoch %d: sequence %d, expected %d: %w",
			h.ProducerID, h.ProducerEpoch, h.BaseSequence, want, kerr.OutOfOrderSequenceNumber)
	}
	return seqAppend, batchRecord{}, nil
}

// record notes an appended batch; h must describe the batch as stored
// (assigned base offset, stamped LogAppendTime).
func (s producerState) record(h storage.BatchHeader) {
	if h.ProducerID < 0 {
		return
	}
	e, ok := s[h.ProducerID]
	if !ok || h.ProducerEpoch != e.epoch {
		e = &producerEntry{epoch: h.ProducerEpoch}
		s[h.ProducerID] = e
	}
	appendTime := int64(-1)
	if h.TimestampType() == storage.TimestampLogAppendTime {
		appendTime = h.MaxTimestamp
	}
	e.batches = append(e.batches, batchRecord{
		firstSeq: h.BaseSequence, lastSeq: lastSequence(h),
		firstOffset: h.BaseOffset, lastOffset: h.LastOffset(),
		appendTime: appendTime,
	})
	if len(e.batches) > retainedBatches {
		e.batches = append(e.batches[:0], e.batches[len(e.batches)-retainedBatches:]...)
	}
}

// lastSequence is the sequence of the batch's last record; sequences wrap
// from MaxInt32 to 0.
func lastSequence(h storage.BatchHeader) int32 {
	last := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if last > math.MaxInt32 {
		last -= math.MaxInt32 + 1
	}
	return int32(last)
}

func nextSequence(seq int32) int32 {
	if seq == math.MaxInt32 {
		return 0
	}
	return seq + 1
}
