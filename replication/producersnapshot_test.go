package replication

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/samsa-io/samsa/storage"
)

// randomProducerState builds a state the way appends do (record), so it
// holds only what a log can produce: increasing offsets, at most
// retainedBatches per producer, epochs bumped now and then.
func randomProducerState(rng *rand.Rand) producerState {
	s := make(producerState)
	offset := int64(0)
	for i := 0; i < rng.IntN(40); i++ {
		pid := rng.Int64N(8)
		e := s[pid]
		h := storage.BatchHeader{ProducerID: pid, BaseOffset: offset, LastOffsetDelta: int32(rng.IntN(5)), MaxTimestamp: -1}
		switch {
		case e == nil:
			h.ProducerEpoch, h.BaseSequence = int16(rng.IntN(3)), int32(rng.IntN(100))
		case rng.IntN(10) == 0:
			h.ProducerEpoch, h.BaseSequence = e.epoch+1, 0
		default:
			h.ProducerEpoch, h.BaseSequence = e.epoch, nextSequence(e.lastSeq())
		}
		if rng.IntN(4) == 0 {
			h.Attributes |= 0x08 // LogAppendTime
			h.MaxTimestamp = 1_700_000_000_000 + offset
		}
		s.record(h)
		offset = h.LastOffset() + 1 + rng.Int64N(3)
	}
	return s
}

// A snapshot decodes to the state it was taken of (KIP-98 duplicate
// detection must survive a restart exactly), for empty and random states,
// including sequences at the int32 wrap.
func TestProducerStateSnapshotRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	states := []producerState{{}}
	for i := 0; i < 200; i++ {
		states = append(states, randomProducerState(rng))
	}
	wrap := make(producerState)
	wrap.record(storage.BatchHeader{ProducerID: 3, ProducerEpoch: 1, BaseSequence: math.MaxInt32 - 1, LastOffsetDelta: 3, MaxTimestamp: -1})
	states = append(states, wrap)
	for i, s := range states {
		b := encodeProducerState(s)
		got, err := decodeProducerState(b)
		if err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		if len(s) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("state %d: decoded %v, want %v", i, got, s)
		}
		if !bytes.Equal(encodeProducerState(got), b) {
			t.Fatalf("state %d: re-encoding differs", i)
		}
	}
}

// A damaged snapshot is refused, never half used: every single-byte flip,
// every truncation and an appended byte fail to decode.
func TestProducerStateSnapshotRefusesDamage(t *testing.T) {
	s := randomProducerState(rand.New(rand.NewPCG(3, 4)))
	for len(s) == 0 {
		s = randomProducerState(rand.New(rand.NewPCG(5, 6)))
	}
	b := encodeProducerState(s)
	for i := range b {
		for _, bit := range []byte{0x01, 0x80} {
			d := bytes.Clone(b)
			d[i] ^= bit
			if _, err := decodeProducerState(d); !errors.Is(err, errBadProducerSnapshot) {
				t.Fatalf("flipping bit %02x of byte %d: %v", bit, i, err)
			}
		}
	}
	for n := 0; n < len(b); n++ {
		if _, err := decodeProducerState(b[:n]); !errors.Is(err, errBadProducerSnapshot) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := decodeProducerState(append(bytes.Clone(b), 0)); !errors.Is(err, errBadProducerSnapshot) {
		t.Fatalf("trailing byte: %v", err)
	}
}

// FuzzDecodeProducerState: the decoder never panics on hostile bytes, and
// whatever it accepts re-encodes to the same bytes (the encoding is
// canonical, so an accepted snapshot is one the encoder wrote).
func FuzzDecodeProducerState(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeProducerState(producerState{}))
	f.Add(encodeProducerState(randomProducerState(rand.New(rand.NewPCG(7, 8)))))
	ff := encodeProducerState(producerState{})
	snapEndian.PutUint32(ff[6:], 0xFFFFFFFF) // producer count 0xFFFFFFFF
	f.Add(ff)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeProducerState(b)
		if err != nil {
			if !errors.Is(err, errBadProducerSnapshot) {
				t.Fatalf("error %v does not wrap errBadProducerSnapshot", err)
			}
			return
		}
		if !bytes.Equal(encodeProducerState(s), b) {
			t.Fatal("accepted bytes do not re-encode to themselves")
		}
	})
}
