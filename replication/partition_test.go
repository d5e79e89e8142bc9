package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/storage"
)

const noEpoch = -1 // no client leader epoch: skip the KIP-320 check

// TestAppendAcksAdvanceHighWatermark checks the acks contract of the
// produce path (Kafka protocol guide, Produce; KIP-98 offsets): acks=1 and
// acks=all answer with the assigned offsets, and once they return the high
// watermark has reached the end of the batch.
func TestAppendAcksAdvanceHighWatermark(t *testing.T) {
	_, p := openLeader(t, leaderSpec("t", 1, 0))
	for i, acks := range []int16{1, -1, 1} {
		res := produce(t, p, plain(3, time.Now().UnixMilli()), acks)
		if want := int64(3 * i); res.BaseOffset != want || res.LastOffset != want+2 || res.Duplicate {
			t.Fatalf("acks=%d: result %+v, want offsets %d-%d", acks, res, want, want+2)
		}
		if hw := p.HighWatermark(); hw != res.LastOffset+1 {
			t.Fatalf("acks=%d: high watermark %d, want %d", acks, hw, res.LastOffset+1)
		}
	}
	if leo := p.LogEndOffset(); leo != 9 {
		t.Fatalf("log end offset %d, want 9", leo)
	}
}

// TestReadStopsAtHighWatermark checks that a consumer never sees a record
// at or above the high watermark (Kafka replication design: only committed
// messages are exposed), and that a fetch position between the high
// watermark and the log end is answered empty, not out of range.
func TestReadStopsAtHighWatermark(t *testing.T) {
	_, p := openLeader(t, leaderSpec("t", 1, 0))
	now := time.Now().UnixMilli()

	first, err := p.Append(encodeBatch(plain(3, now)), 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Read(0, 1<<20, noEpoch)
	if err != nil || len(res.Records) != 0 || res.HighWatermark != 0 {
		t.Fatalf("read before the ack: %d bytes, hw %d, err %v; want nothing at hw 0", len(res.Records), res.HighWatermark, err)
	}
	if err := p.WaitAcked(context.Background(), first, 1); err != nil {
		t.Fatal(err)
	}

	second, err := p.Append(encodeBatch(plain(2, now)), -1)
	if err != nil {
		t.Fatal(err)
	}
	res, err = p.Read(0, 1<<20, noEpoch)
	if err != nil {
		t.Fatal(err)
	}
	if hs := headers(t, res.Records); len(hs) != 1 || hs[0].BaseOffset != 0 || hs[0].NextOffset() != 3 || res.HighWatermark != 3 {
		t.Fatalf("read with hw 3: batches %+v, hw %d; want only offsets 0-2", hs, res.HighWatermark)
	}
	for _, off := range []int64{3, 4, 5} {
		res, err := p.Read(off, 1<<20, noEpoch)
		if err != nil || len(res.Records) != 0 {
			t.Fatalf("read at %d (hw 3, log end 5): %d bytes, err %v; want empty", off, len(res.Records), err)
		}
	}
	_, err = p.Read(6, 1<<20, noEpoch)
	wantErr(t, err, kerr.OffsetOutOfRange)

	if err := p.WaitAcked(context.Background(), second, -1); err != nil {
		t.Fatal(err)
	}
	res, err = p.Read(0, 1<<20, noEpoch)
	if err != nil {
		t.Fatal(err)
	}
	if hs := headers(t, res.Records); len(hs) != 2 || hs[1].BaseOffset != 3 || hs[1].NextOffset() != 5 {
		t.Fatalf("read after the ack: batches %+v, want offsets 0-2 and 3-4", hs)
	}
}

// TestReadReturnsOneOversizeBatch checks KIP-74: a fetch returns at least
// the first batch even when it is larger than the byte limit, and no more.
func TestReadReturnsOneOversizeBatch(t *testing.T) {
	_, p := openLeader(t, leaderSpec("t", 1, 0))
	s := plain(2, time.Now().UnixMilli())
	s.valueSize = 100
	produce(t, p, s, 1)
	produce(t, p, s, 1)
	res, err := p.Read(0, 10, noEpoch)
	if err != nil {
		t.Fatal(err)
	}
	if hs := headers(t, res.Records); len(hs) != 1 || hs[0].BaseOffset != 0 {
		t.Fatalf("read with 10 bytes: %d batches, want just the first", len(hs))
	}
}

// TestAcksZeroCommitsInBackground checks that acks=0 records, which no
// request waits for, still become durable and committed: the high
// watermark reaches the log end without any WaitAcked.
func TestAcksZeroCommitsInBackground(t *testing.T) {
	_, p := openLeader(t, leaderSpec("t", 1, 0))
	for range 3 {
		if _, err := p.Append(encodeBatch(plain(2, time.Now().UnixMilli())), 0); err != nil {
			t.Fatal(err)
		}
		p.SyncInBackground()
	}
	waitHW(t, p, 6, 10*time.Second)
	res, err := p.Read(0, 1<<20, noEpoch)
	if err != nil {
		t.Fatal(err)
	}
	if hs := headers(t, res.Records); len(hs) != 3 {
		t.Fatalf("read %d batches, want 3", len(hs))
	}
}

// TestMinInsyncReplicas checks min.insync.replicas (Kafka topic config): an
// acks=all produce with fewer in-sync replicas fails with
// NOT_ENOUGH_REPLICAS before anything is written; acks=1 is not affected.
// (min.insync.replicas is capped at the replication factor, as Kafka's
// effectiveMinIsr, so the partition has two replicas, one in sync.)
func TestMinInsyncReplicas(t *testing.T) {
	spec := leaderSpec("t", 1, 0)
	spec.State.Replicas = []int32{testNode, testNode + 1}
	spec.Config.MinInsyncReplicas = 2
	_, p := openLeader(t, spec)

	_, err := p.Append(encodeBatch(plain(1, time.Now().UnixMilli())), -1)
	wantErr(t, err, kerr.NotEnoughReplicas)
	if leo := p.LogEndOffset(); leo != 0 {
		t.Fatalf("log end offset %d after a refused produce, want 0", leo)
	}
	if res := produce(t, p, plain(1, time.Now().UnixMilli()), 1); res.BaseOffset != 0 {
		t.Fatalf("acks=1 produce at offset %d, want 0", res.BaseOffset)
	}
}

// TestNotLeader checks that a replica that does not lead the partition
// refuses produce, fetch and list-offsets with NOT_LEADER_OR_FOLLOWER
// (Kafka protocol guide, error 6), so that clients refresh metadata.
func TestNotLeader(t *testing.T) {
	spec := leaderSpec("t", 1, 3)
	spec.State.Leader = 2
	spec.State.ISR = []int32{2, testNode}
	_, p := openLeader(t, spec)

	_, err := p.Append(encodeBatch(plain(1, time.Now().UnixMilli())), 1)
	wantErr(t, err, kerr.NotLeaderForPartition)
	_, err = p.Read(0, 1<<20, noEpoch)
	wantErr(t, err, kerr.NotLeaderForPartition)
	_, _, _, _, err = p.ListOffset(ListLatest, noEpoch)
	wantErr(t, err, kerr.NotLeaderForPartition)
	_, _, err = p.EndOffsetForEpoch(3, noEpoch)
	wantErr(t, err, kerr.NotLeaderForPartition)
}

// TestClientLeaderEpoch checks KIP-320: a client whose leader epoch is
// older than the partition's is fenced (FENCED_LEADER_EPOCH), one whose
// epoch is newer is ahead of this broker's metadata (UNKNOWN_LEADER_EPOCH),
// and -1 skips the check.
func TestClientLeaderEpoch(t *testing.T) {
	_, p := openLeader(t, leaderSpec("t", 1, 5))
	produce(t, p, plain(1, time.Now().UnixMilli()), 1)

	tests := []struct {
		name  string
		epoch int32
		want  error
	}{
		{"older", 4, kerr.FencedLeaderEpoch},
		{"newer", 6, kerr.UnknownLeaderEpoch},
		{"current", 5, nil},
		{"none", noEpoch, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := p.Read(0, 1<<20, tt.epoch)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Read: err %v, want %v", err, tt.want)
			}
			if res.LeaderEpoch != 5 {
				t.Fatalf("Read reports leader epoch %d, want 5", res.LeaderEpoch)
			}
			_, _, epoch, _, err := p.ListOffset(ListEarliest, tt.epoch)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("ListOffset: err %v, want %v", err, tt.want)
			}
			if epoch != 5 {
				t.Fatalf("ListOffset reports leader epoch %d, want 5", epoch)
			}
		})
	}
}

// TestLogAppendTime checks message.timestamp.type=LogAppendTime (KIP-32):
// the broker stamps the batch with its clock in MaxTimestamp, sets the
// timestamp-type attribute bit, keeps the CRC valid, and returns the time
// in the produce result; the client's timestamps are not checked.
func TestLogAppendTime(t *testing.T) {
	spec := leaderSpec("t", 1, 0)
	spec.Config.LogAppendTime = true
	spec.Config.TimestampAfterMaxMs = 0
	_, p := openLeader(t, spec)

	before := time.Now().UnixMilli()
	// An hour ahead: CreateTime would refuse it.
	res := produce(t, p, plain(2, before+3600_000), 1)
	after := time.Now().UnixMilli()
	if res.LogAppendTime < before || res.LogAppendTime > after {
		t.Fatalf("log append time %d outside [%d, %d]", res.LogAppendTime, before, after)
	}
	read, err := p.Read(0, 1<<20, noEpoch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := storage.ValidateBatches(read.Records, 0); err != nil {
		t.Fatalf("stamped batch does not validate: %v", err)
	}
	h, err := storage.ParseBatchHeader(read.Records)
	if err != nil {
		t.Fatal(err)
	}
	if h.TimestampType() != storage.TimestampLogAppendTime || h.MaxTimestamp != res.LogAppendTime {
		t.Fatalf("stored batch: timestamp type %d, max timestamp %d; want LogAppendTime at %d",
			h.TimestampType(), h.MaxTimestamp, res.LogAppendTime)
	}
	if h.FirstTimestamp != before+3600_000 {
		t.Fatalf("first timestamp %d changed, want %d", h.FirstTimestamp, before+3600_000)
	}
}

// TestCreateTimeBounds checks message.timestamp.after.max.ms and
// message.timestamp.before.max.ms (KIP-937): a CreateTime timestamp too far
// from the broker's clock is INVALID_TIMESTAMP and nothing is written;
// -1 (no timestamp) is accepted.
func TestCreateTimeBounds(t *testing.T) {
	spec := leaderSpec("t", 1, 0)
	spec.Config.TimestampAfterMaxMs = 60_000
	spec.Config.TimestampBeforeMaxMs = 3600_000
	_, p := openLeader(t, spec)
	now := time.Now().UnixMilli()

	for _, ts := range []int64{now + 600_000, now - 7200_000} {
		_, err := p.Append(encodeBatch(plain(1, ts)), 1)
		wantErr(t, err, kerr.InvalidTimestamp)
	}
	// The last record is out of bounds: MaxTimestamp is checked too.
	late := plain(3, now)
	late.tsStep = 600_000
	_, err := p.Append(encodeBatch(late), 1)
	wantErr(t, err, kerr.InvalidTimestamp)
	if leo := p.LogEndOffset(); leo != 0 {
		t.Fatalf("log end offset %d after refused produces, want 0", leo)
	}
	produce(t, p, plain(1, -1), 1)
	produce(t, p, plain(1, now+30_000), 1)
}

// TestRefusedBatches checks the batches a produce may not carry:
// transactional and control batches (KIP-98 transactions are not
// supported: INVALID_RECORD), a batch larger than max.message.bytes
// (MESSAGE_TOO_LARGE), and a corrupt CRC (CORRUPT_MESSAGE).
func TestRefusedBatches(t *testing.T) {
	spec := leaderSpec("t", 1, 0)
	spec.Config.MaxMessageBytes = 200
	_, p := openLeader(t, spec)
	now := time.Now().UnixMilli()

	transactional := idem(7, 0, 0, 1)
	transactional.attrs = 0x10
	control := idem(7, 0, 0, 1)
	control.attrs = 0x20
	big := plain(1, now)
	big.valueSize = 200
	corrupt := encodeBatch(plain(1, now))
	corrupt[len(corrupt)-1] ^= 0xff

	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"transactional", encodeBatch(transactional), kerr.InvalidRecord},
		{"control", encodeBatch(control), kerr.InvalidRecord},
		{"too large", encodeBatch(big), kerr.MessageTooLarge},
		{"corrupt", corrupt, kerr.CorruptMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Append(tt.payload, 1)
			wantErr(t, err, tt.want)
		})
	}
	if leo := p.LogEndOffset(); leo != 0 {
		t.Fatalf("log end offset %d after refused produces, want 0", leo)
	}
}

// TestIdempotentProduce checks KIP-98 idempotence end to end: a retried
// batch is answered with its original offsets and not written twice, and
// an out-of-order or fenced batch writes nothing.
func TestIdempotentProduce(t *testing.T) {
	_, p := openLeader(t, leaderSpec("t", 1, 0))
	produce(t, p, plain(2, time.Now().UnixMilli()), 1) // offsets 0-1
	a := produce(t, p, idem(7, 0, 0, 3), -1)           // offsets 2-4
	b := produce(t, p, idem(7, 0, 3, 2), -1)           // offsets 5-6

	for _, orig := range []AppendResult{a, b} {
		seq := int32(orig.BaseOffset - a.BaseOffset)
		n := int(orig.LastOffset-orig.BaseOffset) + 1
		dup, err := p.Append(encodeBatch(idem(7, 0, seq, n)), -1)
		if err != nil {
			t.Fatal(err)
		}
		if !dup.Duplicate || dup.BaseOffset != orig.BaseOffset || dup.LastOffset != orig.LastOffset {
			t.Fatalf("retry of sequence %d: %+v, want duplicate at %d-%d", seq, dup, orig.BaseOffset, orig.LastOffset)
		}
		if err := p.WaitAcked(context.Background(), dup, -1); err != nil {
			t.Fatal(err)
		}
	}
	_, err := p.Append(encodeBatch(idem(7, 0, 6, 1)), -1)
	wantErr(t, err, kerr.OutOfOrderSequenceNumber)
	if leo := p.LogEndOffset(); leo != 7 {
		t.Fatalf("log end offset %d, want 7: a retry or refused batch was written", leo)
	}
}

// TestIdempotentBatchMixedIntoPayload checks the one-batch rule of the
// produce path behind KIP-98's sequence check: an idempotent batch that
// is not alone in a partition's payload is refused, wherever it sits, so
// that it cannot skip the sequence check made on the first batch.
func TestIdempotentBatchMixedIntoPayload(t *testing.T) {
	_, p := openLeader(t, leaderSpec("t", 1, 0))
	produce(t, p, idem(7, 0, 0, 1), 1)

	now := time.Now().UnixMilli()
	for name, payload := range map[string][]byte{
		"idempotent first": append(encodeBatch(idem(7, 0, 1, 1)), encodeBatch(plain(1, now))...),
		"idempotent last":  append(encodeBatch(plain(1, now)), encodeBatch(idem(7, 0, 50, 1))...),
	} {
		_, err := p.Append(payload, 1)
		if !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("%s: err %v, want INVALID_RECORD", name, err)
		}
	}
	// Producer 7 continues at sequence 1; several plain batches are fine.
	produce(t, p, idem(7, 0, 1, 1), 1)
	two := append(encodeBatch(plain(1, now)), encodeBatch(plain(2, now))...)
	if _, err := p.Append(two, 1); err != nil {
		t.Fatalf("two plain batches: %v", err)
	}
}

// TestListOffsets checks ListOffsets (KIP-79 by timestamp, KIP-734 max
// timestamp): earliest is the log start, latest is the high watermark, a
// timestamp finds the first record in offset order at or after it, max
// timestamp the first record carrying the largest timestamp, and lookups
// only find committed offsets.
func TestListOffsets(t *testing.T) {
	_, p := openLeader(t, leaderSpec("t", 1, 2))
	a := plain(3, 1000) // offsets 0-2, timestamps 1000-1002
	a.tsStep = 1
	produce(t, p, a, 1)
	b := plain(2, 4000) // offsets 3-4, timestamps 4000, 5000
	b.tsStep = 1000
	produce(t, p, b, 1)
	produce(t, p, plain(1, 3000), 1) // offset 5

	type answer struct {
		offset, ts int64
		found      bool
	}
	check := func(timestamp int64, want answer) {
		t.Helper()
		off, ts, epoch, found, err := p.ListOffset(timestamp, noEpoch)
		if err != nil {
			t.Fatalf("timestamp %d: %v", timestamp, err)
		}
		if got := (answer{off, ts, found}); got != want || epoch != 2 {
			t.Fatalf("timestamp %d: %+v at epoch %d, want %+v at epoch 2", timestamp, got, epoch, want)
		}
	}
	check(ListEarliest, answer{0, -1, true})
	check(ListEarliestLocal, answer{0, -1, true})
	check(ListLatest, answer{6, -1, true})
	check(ListMaxTimestamp, answer{4, 5000, true})
	check(ListEarliestUpload, answer{-1, -1, false})
	check(0, answer{0, 1000, true})
	check(1001, answer{1, 1001, true})
	check(2000, answer{3, 4000, true}) // offset 3 comes before offset 5 (3000)
	check(4500, answer{4, 5000, true})
	check(5001, answer{-1, -1, false})

	// Appended but not committed: invisible to every lookup.
	if _, err := p.Append(encodeBatch(plain(1, 9000)), 1); err != nil {
		t.Fatal(err)
	}
	check(ListLatest, answer{6, -1, true})
	check(8000, answer{-1, -1, false})
	check(ListMaxTimestamp, answer{-1, -1, false})
	p.SyncInBackground()
	waitHW(t, p, 7, 10*time.Second)
	check(ListLatest, answer{7, -1, true})
	check(8000, answer{6, 9000, true})
	check(ListMaxTimestamp, answer{6, 9000, true})

	_, _, _, _, err := p.ListOffset(-6, noEpoch)
	wantErr(t, err, kerr.InvalidRequest)
}

// TestEndOffsetForEpoch checks OffsetForLeaderEpoch (KIP-101, KIP-279) as
// leadership moves through epochs: each epoch ends where the next one
// starts, an epoch between two known ones answers the older one, the
// current epoch ends at the log end even before its first append (Kafka
// records the epoch when the replica becomes leader), and an epoch above
// the current one is unknown.
func TestEndOffsetForEpoch(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	apply := func(epoch int32) *Partition {
		t.Helper()
		p, err := m.Apply(leaderSpec("t", 1, epoch))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := apply(1)
	produce(t, p, plain(3, time.Now().UnixMilli()), 1) // epoch 1: 0-2
	apply(2)
	produce(t, p, plain(2, time.Now().UnixMilli()), 1) // epoch 2: 3-4
	apply(4)

	type answer struct {
		epoch int32
		end   int64
	}
	check := func(p *Partition, requested int32, want answer) {
		t.Helper()
		e, end, err := p.EndOffsetForEpoch(requested, noEpoch)
		if err != nil {
			t.Fatalf("epoch %d: %v", requested, err)
		}
		if got := (answer{e, end}); got != want {
			t.Fatalf("epoch %d: %+v, want %+v", requested, got, want)
		}
	}
	check(p, 0, answer{0, 0})
	check(p, 1, answer{1, 3})
	check(p, 2, answer{2, 5})
	check(p, 3, answer{2, 5})
	check(p, 4, answer{4, 5})
	check(p, 5, answer{-1, -1})

	res := produce(t, p, plain(1, time.Now().UnixMilli()), 1)
	if h := headersAt(t, p, res.BaseOffset); h.PartitionLeaderEpoch != 4 {
		t.Fatalf("batch stamped with leader epoch %d, want 4", h.PartitionLeaderEpoch)
	}
	check(p, 4, answer{4, 6})

	_, _, err := p.EndOffsetForEpoch(2, 3)
	wantErr(t, err, kerr.FencedLeaderEpoch)

	// The epochs survive a restart.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = newTestManager(t, dir)
	p = apply(4)
	check(p, 1, answer{1, 3})
	check(p, 3, answer{2, 5})
	check(p, 4, answer{4, 6})
}

// headersAt returns the header of the committed batch holding offset.
func headersAt(t *testing.T, p *Partition, offset int64) storage.BatchHeader {
	t.Helper()
	res, err := p.Read(offset, 1, noEpoch)
	if err != nil {
		t.Fatal(err)
	}
	hs := headers(t, res.Records)
	if len(hs) == 0 {
		t.Fatalf("no committed batch at offset %d", offset)
	}
	return hs[0]
}

// TestConcurrentProducers checks the invariant that offsets are assigned
// under the append lock together with the KIP-98 sequence check:
// concurrent idempotent producers get disjoint offset ranges, each in its
// own sequence order, and acks=all returns only once the high watermark
// covers the batch.
func TestConcurrentProducers(t *testing.T) {
	_, p := openLeader(t, leaderSpec("t", 1, 0))
	const producers, batches, size = 4, 20, 2
	results := make([][]AppendResult, producers)
	errs := make(chan error, producers)
	var wg sync.WaitGroup
	for i := range producers {
		wg.Go(func() {
			for seq := range batches {
				res, err := p.Append(encodeBatch(idem(int64(100+i), 0, int32(size*seq), size)), -1)
				if err == nil {
					err = p.WaitAcked(t.Context(), res, -1)
				}
				if err == nil && p.HighWatermark() <= res.LastOffset {
					err = fmt.Errorf("acks=all returned with high watermark %d, batch ends at %d", p.HighWatermark(), res.LastOffset)
				}
				if err != nil {
					errs <- fmt.Errorf("producer %d batch %d: %w", i, seq, err)
					return
				}
				results[i] = append(results[i], res)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	owner := make(map[int64]int)
	for i, rs := range results {
		for j, r := range rs {
			if r.LastOffset-r.BaseOffset != size-1 || j > 0 && r.BaseOffset <= rs[j-1].LastOffset {
				t.Fatalf("producer %d batch %d at %d-%d, after %d", i, j, r.BaseOffset, r.LastOffset, rs[max(j-1, 0)].LastOffset)
			}
			for o := r.BaseOffset; o <= r.LastOffset; o++ {
				if prev, taken := owner[o]; taken {
					t.Fatalf("offset %d given to producers %d and %d", o, prev, i)
				}
				owner[o] = i
			}
		}
	}
	if total := int64(producers * batches * size); len(owner) != int(total) || p.HighWatermark() != total {
		t.Fatalf("%d offsets assigned, high watermark %d; want %d", len(owner), p.HighWatermark(), total)
	}
}

// TestWaitersWokenByStateChange checks the delayed-fetch contract of
// AddWaiter: a leadership change wakes the registered waiters, so a long
// poll re-reads and answers NOT_LEADER_OR_FOLLOWER at once instead of
// waiting out max.wait.ms; a removed waiter is not woken.
func TestWaitersWokenByStateChange(t *testing.T) {
	spec := leaderSpec("t", 1, 1)
	m, p := openLeader(t, spec)
	ch := make(chan struct{}, 1)
	p.AddWaiter(ch)

	spec.State.Leader, spec.State.LeaderEpoch = 2, 2
	if _, err := m.Apply(spec); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("leadership change did not wake the waiter")
	}
	_, err := p.Read(0, 1<<20, noEpoch)
	wantErr(t, err, kerr.NotLeaderForPartition)

	p.RemoveWaiter(ch)
	spec.State.Leader, spec.State.LeaderEpoch = testNode, 3
	if _, err := m.Apply(spec); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("removed waiter was woken")
	default:
	}
	if res := produce(t, p, plain(1, time.Now().UnixMilli()), -1); res.BaseOffset != 0 {
		t.Fatalf("produce after regaining leadership at offset %d, want 0", res.BaseOffset)
	}
}

// TestDuplicateAnswersOriginalLogAppendTime checks that an idempotent retry
// of a batch on a LogAppendTime topic is answered with the original
// batch's offsets and append time (KIP-98 duplicates, KIP-32 times), also
// after a restart rebuilt the producer state from the log.
func TestDuplicateAnswersOriginalLogAppendTime(t *testing.T) {
	dir := t.TempDir()
	spec := leaderSpec("t", 1, 0)
	spec.Config.LogAppendTime = true
	m := newTestManager(t, dir)
	p, err := m.Apply(spec)
	if err != nil {
		t.Fatal(err)
	}
	first := produce(t, p, idem(9, 0, 0, 3), -1)
	if first.LogAppendTime < 0 {
		t.Fatalf("first append has no log append time")
	}
	dup := produce(t, p, idem(9, 0, 0, 3), -1)
	if !dup.Duplicate || dup.BaseOffset != first.BaseOffset || dup.LogAppendTime != first.LogAppendTime {
		t.Fatalf("duplicate answered %+v, want the original %+v", dup, first)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := newTestManager(t, dir)
	p2, err := m2.Apply(spec)
	if err != nil {
		t.Fatal(err)
	}
	again := produce(t, p2, idem(9, 0, 0, 3), -1)
	if !again.Duplicate || again.LogAppendTime != first.LogAppendTime {
		t.Fatalf("after restart the duplicate answered %+v, want append time %d", again, first.LogAppendTime)
	}
}
