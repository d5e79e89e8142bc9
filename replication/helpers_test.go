package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/storage"
)

// testNode is the node id of the broker under test.
const testNode = 1

// batchSpec describes an uncompressed RecordBatch v2 built by encodeBatch.
// Build it with plain or idem, which fill in the producer fields.
type batchSpec struct {
	records   int   // number of records, at least 1
	valueSize int   // bytes per record value
	ts        int64 // timestamp of the first record
	tsStep    int64 // timestamp increment per record
	attrs     int16 // batch attributes (timestamp type, transactional, control)

	pid           int64
	producerEpoch int16
	seq           int32
}

// plain is a non-idempotent batch of n records, all at timestamp ts.
func plain(n int, ts int64) batchSpec {
	return batchSpec{records: n, valueSize: 8, ts: ts, pid: -1, producerEpoch: -1, seq: -1}
}

// idem is an idempotent batch of n records from producer pid at epoch,
// starting at sequence seq, stamped with the current time.
func idem(pid int64, epoch int16, seq int32, n int) batchSpec {
	return batchSpec{records: n, valueSize: 8, ts: time.Now().UnixMilli(), pid: pid, producerEpoch: epoch, seq: seq}
}

// encodeBatch builds the batch with kmsg as the Kafka protocol guide
// describes it ("Record Batch"): the CRC-32C covers attributes to the end.
func encodeBatch(s batchSpec) []byte {
	n := max(s.records, 1)
	var recs []byte
	maxTs := s.ts
	for i := range n {
		r := kmsg.Record{
			TimestampDelta64: int64(i) * s.tsStep,
			OffsetDelta:      int32(i),
			Value:            make([]byte, s.valueSize),
		}
		maxTs = max(maxTs, s.ts+int64(i)*s.tsStep)
		body := r.AppendTo(nil)
		// AppendTo wrote Length 0 as a one-byte varint; the length covers
		// everything after it.
		r.Length = int32(len(body) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           s.attrs,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       s.ts,
		MaxTimestamp:         maxTs,
		ProducerID:           s.pid,
		ProducerEpoch:        s.producerEpoch,
		FirstSequence:        s.seq,
		NumRecords:           int32(n),
		Records:              recs,
	}
	// Length counts everything after the base offset and the length itself.
	b.Length = int32(storage.BatchHeaderSize - 12 + len(recs))
	raw := b.AppendTo(nil)
	const offCRC, offAttributes = 17, 21
	binary.BigEndian.PutUint32(raw[offCRC:], crc32.Checksum(raw[offAttributes:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// headers parses the batches of a read, failing the test on a bad one.
func headers(t *testing.T, records []byte) []storage.BatchHeader {
	t.Helper()
	if len(records) == 0 {
		return nil
	}
	var hs []storage.BatchHeader
	for pos := 0; pos < len(records); {
		h, err := storage.ParseBatchHeader(records[pos:])
		if err != nil {
			t.Fatalf("batch at byte %d: %v", pos, err)
		}
		hs = append(hs, h)
		pos += int(h.Size())
	}
	return hs
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// newTestManager opens a Manager for node testNode on dir; it is closed when
// the test ends. The retention loop never ticks during a test: retention is
// driven by calling ApplyRetention.
func newTestManager(t *testing.T, dir string) *Manager {
	t.Helper()
	m, err := NewManager(ManagerConfig{
		NodeID: testNode, LogDir: dir, Durability: storage.DurabilityFsync,
		RetentionCheckInterval: time.Hour, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("closing manager: %v", err)
		}
	})
	return m
}

// leaderSpec is partition 0 of topic led by testNode at epoch, with ISR
// [testNode], Kafka's default topic config and segment settings.
func leaderSpec(topic string, id byte, epoch int32) PartitionSpec {
	return PartitionSpec{
		TopicPartition: TopicPartition{Topic: topic, Partition: 0},
		TopicID:        [16]byte{id, 0xaa},
		State: LeaderState{Leader: testNode, LeaderEpoch: epoch,
			ISR: []int32{testNode}, Replicas: []int32{testNode}},
		Config:  DefaultPartitionConfig(),
		Storage: storage.DefaultConfig(""),
	}
}

// openLeader applies spec to a fresh Manager in a temporary directory.
func openLeader(t *testing.T, spec PartitionSpec) (*Manager, *Partition) {
	t.Helper()
	m := newTestManager(t, t.TempDir())
	p, err := m.Apply(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

// produce appends one batch and waits for it at acks, failing the test on
// any error.
func produce(t *testing.T, p *Partition, s batchSpec, acks int16) AppendResult {
	t.Helper()
	res, err := p.Append(encodeBatch(s), acks)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := p.WaitAcked(context.Background(), res, acks); err != nil {
		t.Fatalf("waiting for acks=%d: %v", acks, err)
	}
	return res
}

// wantErr fails the test unless err wraps target.
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

// waitHW waits until the high watermark reaches want, woken by the
// partition's waiter channel rather than by polling.
func waitHW(t *testing.T, p *Partition, want int64, timeout time.Duration) {
	t.Helper()
	ch := make(chan struct{}, 1)
	p.AddWaiter(ch)
	defer p.RemoveWaiter(ch)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		hw := p.HighWatermark()
		if hw >= want {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("high watermark is %d after %v, want %d", hw, timeout, want)
		}
	}
}
