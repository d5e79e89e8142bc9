package test

// kill -9 of a real `samsa dev` process while segments roll, retention
// deletes old segments and the cleaner compacts: kill -9 during a roll, a
// retention delete or a compaction swap. The client
// history (which records were acknowledged, at which offset) is recorded
// and checked against what the process serves after the last restart.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/test/harness"
)

// crashPad makes every value about 1 KiB, so 1 MiB segments roll every
// thousand records or so.
var crashPad = strings.Repeat("x", 1000)

// readPartition reads partition 0 of topic from offset from up to end with a
// direct consumer, returning an error (not failing the test) on a fetch
// error or a timeout, so that a caller can retry when retention moved the
// log start meanwhile.
func readPartition(t *testing.T, bootstrap, topic string, from, end int64) ([]*kgo.Record, error) {
	t.Helper()
	if from >= end {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	next := from
	for next < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: at offset %d after 10s, want %d", topic, next, end)
		}
		for _, fe := range fs.Errors() {
			return nil, fmt.Errorf("%s: fetch error: %v", topic, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end {
				return
			}
			out = append(out, r)
			next = r.Offset + 1
		})
	}
	return out, nil
}

// logStartOffset is partition 0's earliest offset, or -1 if it cannot be
// listed now.
func logStartOffset(adm *kadm.Client, topic string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return -1
	}
	o, ok := starts.Lookup(topic, 0)
	if !ok || o.Err != nil {
		return -1
	}
	return o.Offset
}

func parseSeq(t *testing.T, prefix string, v []byte) int {
	t.Helper()
	s, _, _ := strings.Cut(string(v), "|")
	s, ok := strings.CutPrefix(s, prefix)
	n, err := strconv.Atoi(s)
	if !ok || err != nil {
		t.Fatalf("unexpected record value %q", trunc(v))
	}
	return n
}

// Three kill -9s while two idempotent acks=all producers write ~1 KiB
// records to a topic with 1 MiB segments and retention.bytes 3 MiB (so
// segments roll and get deleted all the time) and to a compacted topic with
// 1 MiB segments and 40 keys (so the cleaner swaps segments all the time),
// with the cleaner running every 50ms. After each kill the process starts
// again on the same data directory; after the last one:
//   - retention topic: every acknowledged record at or above the log start
//     offset is there exactly once, at the offset its ack named, and offsets
//     (and ids) strictly increase;
//   - compacted topic: the newest value of every key is the last
//     acknowledged one for that key or a later (unacknowledged) one.
func TestKill9DuringRollsRetentionAndCompaction(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "samsa.yaml")
	if err := os.WriteFile(cfg, []byte("log.retention.check.interval.ms: 50\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const (
		retTopic, cmpTopic = "crash-retention", "crash-compacted"
		keys               = 40
		kills              = 3
		acksPerRound       = 1800 // per topic: ~1.8 MiB, almost two segments
	)

	p := harness.StartProcess(t, dir, "--config", cfg)
	adm := newAdmin(t, p.Bootstrap())
	createTopic(t, adm, retTopic, 1, map[string]*string{
		"segment.bytes":   strp("1048576"),
		"retention.bytes": strp("3145728"),
	})
	createTopic(t, adm, cmpTopic, 1, map[string]*string{
		"cleanup.policy":            strp("compact"),
		"segment.bytes":             strp("1048576"),
		"min.cleanable.dirty.ratio": strp("0.01"),
		"delete.retention.ms":       strp("0"),
	})

	var (
		mu         sync.Mutex
		ackedAt    = map[int]int64{} // retention topic: id -> offset
		lastAcked  = map[int]int{}   // compacted topic: key -> highest acked seq
		nextID     int               // retention topic ids, across rounds
		nextSeq    int               // compacted topic sequence, across rounds
		failedRecs int
	)
	for round := 0; round < kills; round++ {
		if round > 0 {
			p = harness.StartProcess(t, dir, "--config", cfg)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.Bootstrap()),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(10*time.Second),
			kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(500),
			// Uncompressed, so that the padding takes the bytes it says.
			kgo.ProducerBatchCompression(kgo.NoCompression()))
		if err != nil {
			t.Fatal(err)
		}
		var (
			retAcks, cmpAcks atomic.Int64
			produced         sync.WaitGroup
			writing          sync.WaitGroup
		)
		ctx, cancel := context.WithCancel(context.Background())
		writing.Add(2)
		go func() { // retention topic, ids in order
			defer writing.Done()
			for ctx.Err() == nil {
				mu.Lock()
				id := nextID
				nextID++
				mu.Unlock()
				produced.Add(1)
				cl.Produce(ctx, &kgo.Record{Topic: retTopic, Value: []byte(fmt.Sprintf("id-%d|%s", id, crashPad))},
					func(r *kgo.Record, err error) {
						defer produced.Done()
						mu.Lock()
						if err != nil {
							failedRecs++
						} else {
							ackedAt[id] = r.Offset
						}
						mu.Unlock()
						if err == nil {
							retAcks.Add(1)
						}
					})
			}
		}()
		go func() { // compacted topic, sequence increasing per key
			defer writing.Done()
			for ctx.Err() == nil {
				mu.Lock()
				seq := nextSeq
				nextSeq++
				mu.Unlock()
				key := seq % keys
				produced.Add(1)
				cl.Produce(ctx, &kgo.Record{Topic: cmpTopic, Key: []byte(fmt.Sprintf("k%02d", key)),
					Value: []byte(fmt.Sprintf("seq-%d|%s", seq, crashPad))},
					func(_ *kgo.Record, err error) {
						defer produced.Done()
						mu.Lock()
						if err != nil {
							failedRecs++
						} else if seq > lastAcked[key] {
							lastAcked[key] = seq
						}
						mu.Unlock()
						if err == nil {
							cmpAcks.Add(1)
						}
					})
			}
		}()
		// Kill once both topics have taken acksPerRound acks in this round
		// and, after the first round, retention has deleted segments since
		// this start (the cleaner runs retention and compaction in turn).
		roundAdm := newAdmin(t, p.Bootstrap())
		startBefore := max(logStartOffset(roundAdm, retTopic), 0)
		deadline := time.Now().Add(60 * time.Second)
		for retAcks.Load() < acksPerRound || cmpAcks.Load() < acksPerRound ||
			(round > 0 && logStartOffset(roundAdm, retTopic) <= startBefore) {
			if time.Now().After(deadline) {
				cancel()
				p.Kill()
				cl.Close()
				t.Fatalf("round %d: %d+%d records acknowledged, log start %d (was %d) after 60s",
					round, retAcks.Load(), cmpAcks.Load(), logStartOffset(roundAdm, retTopic), startBefore)
			}
			time.Sleep(25 * time.Millisecond)
		}
		p.Kill()
		cancel()
		writing.Wait()
		// The idempotent producer only fails what is in flight once closed.
		cl.Close()
		produced.Wait()
		t.Logf("round %d: killed after %d+%d acks, retention log start %d", round, retAcks.Load(), cmpAcks.Load(), startBefore)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("acknowledged %d retention records, %d compacted-topic records sent, %d failed at kills", len(ackedAt), nextSeq, failedRecs)

	// The last start must not refuse any partition.
	p = harness.StartProcess(t, dir, "--config", cfg)
	adm = newAdmin(t, p.Bootstrap())
	waitTopicReady(t, adm, retTopic, 1)
	waitTopicReady(t, adm, cmpTopic, 1)

	// Retention topic. Retention may still move the log start while this
	// reads, so a read that races it is retried.
	var start, end int64
	var got []*kgo.Record
	eventually(t, opTimeout, "reading the retention topic", func() error {
		starts, err := adm.ListStartOffsets(testCtx(t), retTopic)
		if err != nil {
			return err
		}
		so, _ := starts.Lookup(retTopic, 0)
		if so.Err != nil {
			return so.Err
		}
		ends, err := adm.ListEndOffsets(testCtx(t), retTopic)
		if err != nil {
			return err
		}
		eo, _ := ends.Lookup(retTopic, 0)
		if eo.Err != nil {
			return eo.Err
		}
		start, end = so.Offset, eo.Offset
		got, err = readPartition(t, p.Bootstrap(), retTopic, start, end)
		return err
	})
	if start == 0 {
		t.Errorf("precondition: retention deleted nothing (log start 0, end %d)", end)
	}
	byID := map[int][]int64{}
	prevOff, prevID := int64(-1), -1
	for _, r := range got {
		id := parseSeq(t, "id-", r.Value)
		if r.Offset <= prevOff || id <= prevID {
			t.Errorf("record id %d at offset %d after id %d at offset %d", id, r.Offset, prevID, prevOff)
		}
		prevOff, prevID = r.Offset, id
		byID[id] = append(byID[id], r.Offset)
	}
	var lost, moved, dup []int
	checked := 0
	for id, off := range ackedAt {
		if off < start {
			continue
		}
		checked++
		switch offs := byID[id]; {
		case len(offs) == 0:
			lost = append(lost, id)
		case len(offs) > 1:
			dup = append(dup, id)
		case offs[0] != off:
			moved = append(moved, id)
		}
	}
	t.Logf("retention topic: log start %d, end %d, %d records read, %d acknowledged ones at or above the start", start, end, len(got), checked)
	if checked == 0 {
		t.Errorf("precondition: no acknowledged record left above the log start")
	}
	if len(lost) > 0 {
		t.Errorf("%d acknowledged records at or above the log start lost, e.g. %v", len(lost), head(lost))
	}
	if len(dup) > 0 {
		t.Errorf("%d acknowledged records stored more than once, e.g. %v", len(dup), head(dup))
	}
	if len(moved) > 0 {
		t.Errorf("%d acknowledged records not at the offset their ack named, e.g. %v", len(moved), head(moved))
	}

	// Compacted topic: the newest value of each key.
	var cmp []*kgo.Record
	eventually(t, opTimeout, "reading the compacted topic", func() error {
		starts, err := adm.ListStartOffsets(testCtx(t), cmpTopic)
		if err != nil {
			return err
		}
		so, _ := starts.Lookup(cmpTopic, 0)
		ends, err := adm.ListEndOffsets(testCtx(t), cmpTopic)
		if err != nil {
			return err
		}
		eo, _ := ends.Lookup(cmpTopic, 0)
		if so.Err != nil || eo.Err != nil {
			return fmt.Errorf("list offsets: %v %v", so.Err, eo.Err)
		}
		cmp, err = readPartition(t, p.Bootstrap(), cmpTopic, so.Offset, eo.Offset)
		return err
	})
	newest := map[int]int{}
	prevOff = -1
	for _, r := range cmp {
		if r.Offset <= prevOff {
			t.Errorf("compacted topic: offset %d after %d", r.Offset, prevOff)
		}
		prevOff = r.Offset
		k, err := strconv.Atoi(strings.TrimPrefix(string(r.Key), "k"))
		seq := parseSeq(t, "seq-", r.Value)
		if err != nil || seq%keys != k {
			t.Fatalf("compacted topic: record %q=%q at %d", r.Key, trunc(r.Value), r.Offset)
		}
		if prev, ok := newest[k]; ok && seq <= prev {
			t.Errorf("compacted topic: key k%02d has seq %d after seq %d", k, seq, prev)
		}
		newest[k] = seq
	}
	t.Logf("compacted topic: %d records read for %d keys (%d sent)", len(cmp), len(newest), nextSeq)
	for k, want := range lastAcked {
		if got, ok := newest[k]; !ok || got < want {
			t.Errorf("compacted topic: key k%02d newest seq %d (present %v), last acknowledged %d", k, got, ok, want)
		}
	}
	if len(cmp) >= nextSeq {
		t.Logf("note: nothing was compacted away (%d records)", len(cmp))
	}
}
