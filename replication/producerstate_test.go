package replication

import (
	"errors"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/storage"
)

// hdr is the header of an idempotent batch of n records at offset base.
func hdr(pid int64, epoch int16, seq int32, n int32, base int64) storage.BatchHeader {
	return storage.BatchHeader{
		BaseOffset: base, ProducerID: pid, ProducerEpoch: epoch,
		BaseSequence: seq, LastOffsetDelta: n - 1, NumRecords: n,
	}
}

// mustAppend checks that h is accepted as new data and records it.
func mustAppend(t *testing.T, s producerState, h storage.BatchHeader) {
	t.Helper()
	v, _, err := s.check(h)
	if err != nil || v != seqAppend {
		t.Fatalf("batch pid %d epoch %d seq %d: verdict %d, err %v; want append",
			h.ProducerID, h.ProducerEpoch, h.BaseSequence, v, err)
	}
	s.record(h)
}

// TestProducerStateInSequence checks KIP-98 idempotence: batches whose
// first sequence follows the previous batch's last sequence are appended.
func TestProducerStateInSequence(t *testing.T) {
	s := make(producerState)
	mustAppend(t, s, hdr(7, 0, 0, 3, 0))
	mustAppend(t, s, hdr(7, 0, 3, 2, 3))
	mustAppend(t, s, hdr(7, 0, 5, 1, 5))
	if got := s[7].lastSeq(); got != 5 {
		t.Fatalf("last sequence %d, want 5", got)
	}
}

// TestProducerStateDuplicates checks KIP-98 idempotence: a retry of any of
// the last five batches (max.in.flight.requests.per.connection=5) is a
// duplicate answered with the original offsets; a retry of an older batch
// can no longer be recognised and is out of order.
func TestProducerStateDuplicates(t *testing.T) {
	s := make(producerState)
	for i := range int32(6) {
		// Batches of two records at sequences 0, 2, ..., 10 and offsets
		// 100, 110, ..., 150.
		mustAppend(t, s, hdr(7, 0, 2*i, 2, 100+10*int64(i)))
	}
	for i := int32(1); i < 6; i++ {
		v, orig, err := s.check(hdr(7, 0, 2*i, 2, -1))
		if err != nil || v != seqDuplicate {
			t.Fatalf("retry of batch %d: verdict %d, err %v; want duplicate", i, v, err)
		}
		want := batchRecord{firstSeq: 2 * i, lastSeq: 2*i + 1,
			firstOffset: 100 + 10*int64(i), lastOffset: 100 + 10*int64(i) + 1, appendTime: -1}
		if orig != want {
			t.Fatalf("retry of batch %d: original %+v, want %+v", i, orig, want)
		}
	}
	_, _, err := s.check(hdr(7, 0, 0, 2, -1))
	wantErr(t, err, kerr.OutOfOrderSequenceNumber)

	// Same first sequence, different length: not the same batch.
	_, _, err = s.check(hdr(7, 0, 10, 1, -1))
	wantErr(t, err, kerr.OutOfOrderSequenceNumber)
}

// TestProducerStateRejects checks the KIP-98 sequence and epoch rules: a
// gap is OUT_OF_ORDER_SEQUENCE_NUMBER, an older producer epoch is
// INVALID_PRODUCER_EPOCH (a zombie), and a newer epoch must start at
// sequence 0.
func TestProducerStateRejects(t *testing.T) {
	s := make(producerState)
	mustAppend(t, s, hdr(7, 3, 0, 5, 0)) // sequences 0-4

	tests := []struct {
		name string
		h    storage.BatchHeader
		want error
	}{
		{"sequence gap", hdr(7, 3, 6, 1, -1), kerr.OutOfOrderSequenceNumber},
		{"sequence behind", hdr(7, 3, 2, 1, -1), kerr.OutOfOrderSequenceNumber},
		{"older epoch", hdr(7, 2, 5, 1, -1), kerr.InvalidProducerEpoch},
		{"older epoch at a duplicate's sequence", hdr(7, 2, 0, 5, -1), kerr.InvalidProducerEpoch},
		{"newer epoch not at 0", hdr(7, 4, 5, 1, -1), kerr.OutOfOrderSequenceNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _, err := s.check(tt.h)
			if !errors.Is(err, tt.want) {
				t.Fatalf("verdict %d, err %v; want %v", v, err, tt.want)
			}
		})
	}

	// A new epoch starting at 0 is accepted and replaces the old one: the
	// old epoch is fenced from then on, and sequences restart.
	mustAppend(t, s, hdr(7, 4, 0, 1, 5))
	_, _, err := s.check(hdr(7, 3, 5, 1, -1))
	wantErr(t, err, kerr.InvalidProducerEpoch)
	mustAppend(t, s, hdr(7, 4, 1, 1, 6))
}

// TestProducerStateUnknownProducer checks KIP-98 (as Kafka does since
// KIP-360): a producer the partition has no state for may start at any
// sequence, and batches without a producer id are never checked.
func TestProducerStateUnknownProducer(t *testing.T) {
	s := make(producerState)
	mustAppend(t, s, hdr(9, 0, 42, 3, 0))
	mustAppend(t, s, hdr(9, 0, 45, 1, 3))
	noPID := hdr(-1, -1, -1, 4, 4)
	mustAppend(t, s, noPID)
	mustAppend(t, s, noPID)
	if _, ok := s[-1]; ok {
		t.Fatal("state recorded for producer id -1")
	}
}

// TestProducerStateSequenceWrap checks the KIP-98 rule that sequences wrap
// from MaxInt32 to 0, inside a batch and between batches.
func TestProducerStateSequenceWrap(t *testing.T) {
	s := make(producerState)
	// Sequences MaxInt32-1, MaxInt32, 0.
	wrapping := hdr(7, 0, math.MaxInt32-1, 3, 0)
	if got := lastSequence(wrapping); got != 0 {
		t.Fatalf("last sequence of a wrapping batch %d, want 0", got)
	}
	mustAppend(t, s, wrapping)
	v, orig, err := s.check(hdr(7, 0, math.MaxInt32-1, 3, -1))
	if err != nil || v != seqDuplicate || orig.firstOffset != 0 || orig.lastOffset != 2 {
		t.Fatalf("retry of the wrapping batch: verdict %d, original %+v, err %v", v, orig, err)
	}
	mustAppend(t, s, hdr(7, 0, 1, 1, 3))

	// A batch ending exactly at MaxInt32 is followed by sequence 0.
	s = make(producerState)
	mustAppend(t, s, hdr(8, 0, math.MaxInt32-1, 2, 0))
	_, _, err = s.check(hdr(8, 0, math.MaxInt32, 1, -1))
	wantErr(t, err, kerr.OutOfOrderSequenceNumber)
	mustAppend(t, s, hdr(8, 0, 0, 1, 2))
}
