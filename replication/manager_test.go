package replication

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/storage"
)

// segmentFiles lists the .log files of a partition directory.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			out = append(out, e.Name())
		}
	}
	return out
}

func partitionDir(logDir, topic string) string {
	return filepath.Join(logDir, storage.PartitionDirName(topic, 0))
}

// TestIdempotenceSurvivesRestart checks KIP-98 idempotence across a broker
// restart: the producer state is loaded from the snapshot the clean close
// wrote (or, with every snapshot damaged, rebuilt from the batch headers in
// the log), so a retry sent to the restarted broker is still a duplicate
// and a gap is still out of order.
func TestIdempotenceSurvivesRestart(t *testing.T) {
	for _, damage := range []bool{false, true} {
		t.Run(fmt.Sprintf("damaged-snapshots=%v", damage), func(t *testing.T) { idempotenceSurvivesRestart(t, damage) })
	}
}

func idempotenceSurvivesRestart(t *testing.T, damage bool) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	p, err := m.Apply(leaderSpec("t", 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	produce(t, p, idem(7, 0, 0, 3), -1)                // offsets 0-2
	produce(t, p, idem(7, 0, 3, 2), -1)                // offsets 3-4
	produce(t, p, plain(1, time.Now().UnixMilli()), 1) // offset 5
	produce(t, p, idem(8, 2, 40, 1), 1)                // offset 6
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, err := filepath.Glob(filepath.Join(partitionDir(dir, "t"), "*.snapshot"))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("no producer-state snapshot after a clean close (%v)", err)
	}
	if damage {
		for _, f := range snaps {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0xff
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	m = newTestManager(t, dir)
	p, err = m.Apply(leaderSpec("t", 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if hw, leo := p.HighWatermark(), p.LogEndOffset(); hw != 7 || leo != 7 {
		t.Fatalf("after restart: high watermark %d, log end %d; want 7, 7", hw, leo)
	}
	for _, tt := range []struct {
		s           batchSpec
		first, last int64
	}{
		{idem(7, 0, 3, 2), 3, 4},
		{idem(7, 0, 0, 3), 0, 2},
		{idem(8, 2, 40, 1), 6, 6},
	} {
		res, err := p.Append(encodeBatch(tt.s), -1)
		if err != nil {
			t.Fatalf("retry of producer %d sequence %d: %v", tt.s.pid, tt.s.seq, err)
		}
		if !res.Duplicate || res.BaseOffset != tt.first || res.LastOffset != tt.last {
			t.Fatalf("retry of producer %d sequence %d: %+v, want duplicate at %d-%d",
				tt.s.pid, tt.s.seq, res, tt.first, tt.last)
		}
	}
	_, err = p.Append(encodeBatch(idem(7, 0, 6, 1)), 1)
	wantErr(t, err, kerr.OutOfOrderSequenceNumber)
	_, err = p.Append(encodeBatch(idem(8, 1, 0, 1)), 1)
	wantErr(t, err, kerr.InvalidProducerEpoch)
	if res := produce(t, p, idem(7, 0, 5, 1), 1); res.BaseOffset != 7 || res.Duplicate {
		t.Fatalf("next batch of producer 7: %+v, want new at offset 7", res)
	}
}

// TestRetention checks retention.ms (Kafka log retention, cleanup.policy=
// delete): sealed segments whose records are older than retention are
// deleted and the log start offset moves up, but never past the high
// watermark and never the active segment; recent segments stay.
func TestRetention(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	spec := leaderSpec("old", 1, 0)
	spec.Storage.SegmentBytes = 100 // one batch per segment
	spec.Config.RetentionMs = 60_000
	p, err := m.Apply(spec)
	if err != nil {
		t.Fatal(err)
	}
	fresh := leaderSpec("fresh", 2, 0)
	fresh.Storage.SegmentBytes = 100
	fresh.Config.RetentionMs = 60_000
	q, err := m.Apply(fresh)
	if err != nil {
		t.Fatal(err)
	}

	old := time.Now().Add(-time.Hour).UnixMilli()
	produce(t, p, plain(1, old), 1)
	produce(t, p, plain(1, old), 1)
	for range 3 {
		produce(t, q, plain(1, time.Now().UnixMilli()), 1)
	}
	// Two more appended and not synced by any request. Each roll fsyncs
	// the segment it seals, so offset 2 is durable (and, with this single
	// replica, committed) while offset 3, in the active segment, is not.
	if _, err := p.Append(encodeBatch(plain(1, old)), 1); err != nil {
		t.Fatal(err)
	}
	last, err := p.Append(encodeBatch(plain(1, old)), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(segmentFiles(t, partitionDir(dir, "old"))); got != 4 {
		t.Fatalf("%d segments, want 4 (segment.bytes 100, one batch each)", got)
	}
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d, want 3 (the sealed segments are fsynced by the roll)", hw)
	}

	now := time.Now()
	if n := m.ApplyRetention(now); n != 3 {
		t.Fatalf("retention deleted %d segments, want 3 (those below the high watermark 3)", n)
	}
	if start, hw := p.LogStartOffset(), p.HighWatermark(); start != 3 || hw != 3 {
		t.Fatalf("log start %d, high watermark %d; want 3, 3", start, hw)
	}
	if got := len(segmentFiles(t, partitionDir(dir, "old"))); got != 1 {
		t.Fatalf("%d segments left, want 1", got)
	}
	if got := len(segmentFiles(t, partitionDir(dir, "fresh"))); got != 3 {
		t.Fatalf("fresh topic has %d segments, want all 3", got)
	}
	_, err = p.Read(0, 1<<20, noEpoch)
	wantErr(t, err, kerr.OffsetOutOfRange)
	if off, _, _, _, err := p.ListOffset(ListEarliest, noEpoch); err != nil || off != 3 {
		t.Fatalf("earliest offset %d, err %v; want 3", off, err)
	}
	if n := m.ApplyRetention(now); n != 0 {
		t.Fatalf("second pass deleted %d segments, want 0: the rest is at or above the high watermark", n)
	}

	if err := p.WaitAcked(t.Context(), last, 1); err != nil {
		t.Fatal(err)
	}
	if n := m.ApplyRetention(now); n != 0 {
		t.Fatalf("retention after commit deleted %d segments, want 0 (never the active one)", n)
	}
	if start := p.LogStartOffset(); start != 3 {
		t.Fatalf("log start %d, want 3", start)
	}
	if h := headersAt(t, p, 3); h.BaseOffset != 3 {
		t.Fatalf("active segment batch at %d, want 3", h.BaseOffset)
	}
}

// TestApplyReplacesRecreatedTopic checks KIP-516 topic ids: when the
// metadata names a partition with a new topic id (the topic was deleted
// and recreated under the same name), the old replica and its data are
// removed, whether the partition was open or left on disk by a broker that
// stopped before the deletion finished.
func TestApplyReplacesRecreatedTopic(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	old, err := m.Apply(leaderSpec("t", 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	produce(t, old, plain(3, time.Now().UnixMilli()), 1)

	p, err := m.Apply(leaderSpec("t", 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if p == old || p.TopicID != leaderSpec("t", 2, 0).TopicID || p.LogEndOffset() != 0 || p.HighWatermark() != 0 {
		t.Fatalf("recreated topic: id %x, log end %d, hw %d; want a fresh log", p.TopicID, p.LogEndOffset(), p.HighWatermark())
	}
	_, err = old.Append(encodeBatch(plain(1, time.Now().UnixMilli())), 1)
	wantErr(t, err, ErrClosed)
	produce(t, p, plain(1, time.Now().UnixMilli()), 1)

	// The same after a restart: the directory on disk has the old id.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = newTestManager(t, dir)
	p, err = m.Apply(leaderSpec("t", 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	if p.LogEndOffset() != 0 {
		t.Fatalf("recreated topic after restart: log end %d, want 0", p.LogEndOffset())
	}
	// And the same id keeps its data.
	produce(t, p, plain(2, time.Now().UnixMilli()), 1)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = newTestManager(t, dir)
	if p, err = m.Apply(leaderSpec("t", 3, 0)); err != nil || p.LogEndOffset() != 2 {
		t.Fatalf("reopened topic: err %v; want log end 2", err)
	}
}

// TestRemove checks partition reassignment and topic deletion: Remove
// without delete closes the replica and keeps its data for a later Apply;
// with delete it removes the partition directory. A removed replica
// answers NOT_LEADER_OR_FOLLOWER.
func TestRemove(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	moved, err := m.Apply(leaderSpec("moved", 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := m.Apply(leaderSpec("deleted", 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	produce(t, moved, plain(1, time.Now().UnixMilli()), 1)
	produce(t, deleted, plain(1, time.Now().UnixMilli()), 1)
	if got := m.Partitions(); !slices.Equal(got, []TopicPartition{{"deleted", 0}, {"moved", 0}}) {
		t.Fatalf("partitions %v", got)
	}

	if err := m.Remove(TopicPartition{moved.Topic, moved.Index}, false); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(TopicPartition{deleted.Topic, deleted.Index}, true); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(TopicPartition{"absent", 0}, true); err != nil {
		t.Fatalf("removing an absent partition: %v", err)
	}
	if _, ok := m.Get(TopicPartition{"moved", 0}); ok {
		t.Fatal("removed partition still hosted")
	}
	if _, err := os.Stat(partitionDir(dir, "deleted")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted partition directory: %v, want it gone", err)
	}
	_, err = moved.Append(encodeBatch(plain(1, time.Now().UnixMilli())), 1)
	wantErr(t, err, kerr.NotLeaderForPartition)
	_, err = deleted.Read(0, 1<<20, noEpoch)
	wantErr(t, err, kerr.NotLeaderForPartition)

	back, err := m.Apply(leaderSpec("moved", 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if back.LogEndOffset() != 1 || back.HighWatermark() != 1 {
		t.Fatalf("moved back: log end %d, hw %d; want 1, 1", back.LogEndOffset(), back.HighWatermark())
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = m.Apply(leaderSpec("moved", 1, 0))
	wantErr(t, err, ErrClosed)
}

// A change of flush.messages or flush.ms alone reaches the open log.
func TestSegmentSettingsChangedFlush(t *testing.T) {
	a := storage.DefaultConfig("")
	for _, change := range []func(*storage.Config){
		func(c *storage.Config) { c.FlushMessages = 1 },
		func(c *storage.Config) { c.FlushMs = 0 },
	} {
		b := a
		change(&b)
		if !segmentSettingsChanged(a, b) {
			t.Errorf("change %+v not detected", b)
		}
	}
	if segmentSettingsChanged(a, a) {
		t.Error("no change detected as a change")
	}
}

// RemoveStrays deletes only partition directories that are neither open
// nor claimed; other names in the log directory stay.
func TestManagerRemoveStrays(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	if _, err := m.Apply(leaderSpec("open", 1, 1)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stray-0", "stray-1", "claimed-0", "orders-3.0b1c-delete", "not_a-partition-x"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "00000000000000000000.log"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "gone-9"), []byte("a file, not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	keep := func(tp TopicPartition) bool { return tp == TopicPartition{Topic: "claimed", Partition: 0} }
	removed, err := m.RemoveStrays(keep)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "stray-0"), filepath.Join(dir, "stray-1")}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, name := range []string{"open-0", "claimed-0", "orders-3.0b1c-delete", "not_a-partition-x", "gone-9"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v, want it kept", name, err)
		}
	}
	for _, name := range []string{"stray-0", "stray-1"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed", name, err)
		}
	}
	// The open partition still works.
	if p, ok := m.Get(TopicPartition{Topic: "open"}); !ok || p.log == nil {
		t.Error("the open partition is gone")
	}
}

// The low watermark is the lowest log start among the leader and its live
// followers, as the followers report it in their fetches; a live follower
// that has not reported one in this leader epoch makes it unknown.
func TestPartitionLowWatermark(t *testing.T) {
	spec := leaderSpec("low", 1, 1)
	spec.State.Replicas, spec.State.ISR = []int32{testNode, 2, 3}, []int32{testNode, 2, 3}
	m, p := openLeader(t, spec)
	res := produce(t, p, plain(10, 0), 1)
	all := func(int32) bool { return true }
	if low, err := p.LowWatermark(all); err != nil || low != -1 {
		t.Fatalf("before any follower fetch: %d, %v; want -1", low, err)
	}
	fetch := func(replica int32, logStart int64) {
		t.Helper()
		if _, err := p.RecordFollowerFetch(replica, res.LastOffset+1, logStart, -1, 1, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	fetch(2, 0)
	fetch(3, 0)
	waitHW(t, p, 10, time.Second)
	if low, err := p.LowWatermark(all); err != nil || low != 0 {
		t.Fatalf("followers at 0: %d, %v", low, err)
	}
	if start, err := p.DeleteRecords(5); err != nil || start != 5 {
		t.Fatalf("DeleteRecords(5): %d, %v", start, err)
	}
	fetch(2, 5)
	if low, _ := p.LowWatermark(all); low != 0 {
		t.Errorf("follower 3 still at 0: low watermark %d, want 0", low)
	}
	if low, _ := p.LowWatermark(func(r int32) bool { return r != 3 }); low != 5 {
		t.Errorf("follower 3 not alive: low watermark %d, want 5", low)
	}
	fetch(3, 5)
	if low, _ := p.LowWatermark(all); low != 5 {
		t.Errorf("both followers at 5: low watermark %d, want 5", low)
	}

	// A new leader epoch forgets what was reported to the old one.
	spec.State.LeaderEpoch = 2
	if _, err := m.Apply(spec); err != nil {
		t.Fatal(err)
	}
	if low, _ := p.LowWatermark(all); low != -1 {
		t.Errorf("after a new leader epoch: %d, want -1", low)
	}
	// A follower is not the leader's to answer for.
	spec.State.Leader = 2
	if _, err := m.Apply(spec); err != nil {
		t.Fatal(err)
	}
	if _, err := p.LowWatermark(all); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("as a follower: %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
}

// CatchingUp: this broker is throttled as a follower only while a
// reassignment is adding it and it is not in the ISR.
func TestPartitionCatchingUp(t *testing.T) {
	spec := leaderSpec("moving", 1, 1)
	spec.State.Leader, spec.State.Replicas, spec.State.ISR = 2, []int32{2, 3, testNode}, []int32{2, 3}
	spec.State.AddingReplicas = []int32{testNode}
	m, p := openLeader(t, spec)
	if !p.CatchingUp() {
		t.Error("an adding replica outside the ISR is not catching up")
	}
	spec.State.ISR = []int32{2, 3, testNode}
	if _, err := m.Apply(spec); err != nil {
		t.Fatal(err)
	}
	if p.CatchingUp() {
		t.Error("an adding replica in the ISR is still catching up")
	}
	spec.State.ISR, spec.State.AddingReplicas = []int32{2, 3}, nil
	if _, err := m.Apply(spec); err != nil {
		t.Fatal(err)
	}
	if p.CatchingUp() {
		t.Error("a replica out of the ISR that no reassignment adds is catching up")
	}
}
