package test

// Durability of a real `samsa dev` process: kill -9 in the middle of an
// acks=all stream, and a clean SIGTERM stop. The client history (which ids
// were acknowledged) is recorded and checked against what the restarted
// process serves.

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/test/harness"
)

// recordIDs counts how often each "id-N" value appears in records.
func recordIDs(t *testing.T, records []*kgo.Record) map[int]int {
	t.Helper()
	seen := make(map[int]int, len(records))
	for _, r := range records {
		s, ok := strings.CutPrefix(string(r.Value), "id-")
		id, err := strconv.Atoi(s)
		if !ok || err != nil {
			t.Fatalf("unexpected record value %q at %d/%d", r.Value, r.Partition, r.Offset)
		}
		seen[id]++
	}
	return seen
}

// kill -9 while several goroutines stream acks=all records through an
// idempotent producer (KIP-98): after a restart on the same data directory
// every acknowledged record is there (acks=all means durable: the ack comes
// after fsync), no acknowledged record is there twice, and the topic keeps
// its id and partitions. Unacknowledged records may or may not be there.
func TestCrashKill9KeepsEveryAcknowledgedRecord(t *testing.T) {
	dir := t.TempDir()
	p := harness.StartProcess(t, dir)
	const topic, total, writers, killAfter = "crash-stream", 20000, 4, 3000
	admBefore := newAdmin(t, p.Bootstrap())
	idBefore := createTopic(t, admBefore, topic, 3, nil).ID

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Bootstrap()), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(5*time.Second),
		kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(2000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	var (
		mu       sync.Mutex
		acked    = make(map[int]bool)
		failed   = 0
		ackCount atomic.Int64
		reached  = make(chan struct{})
		once     sync.Once
		produced sync.WaitGroup
		writing  sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := 0; w < writers; w++ {
		writing.Add(1)
		go func() {
			defer writing.Done()
			for i := w; i < total; i += writers {
				if ctx.Err() != nil {
					return
				}
				id := i
				produced.Add(1)
				cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(id % 100)), Value: []byte(fmt.Sprintf("id-%d", id))},
					func(_ *kgo.Record, err error) {
						defer produced.Done()
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							failed++
							return
						}
						acked[id] = true
						if ackCount.Add(1) == killAfter {
							once.Do(func() { close(reached) })
						}
					})
			}
		}()
	}
	select {
	case <-reached:
	case <-time.After(90 * time.Second):
		t.Fatalf("only %d of %d records acknowledged within 90s", ackCount.Load(), total)
	}
	p.Kill()
	atKill := ackCount.Load()
	cancel() // writers stop producing
	writing.Wait()
	// An idempotent producer cannot fail a batch whose fate is unknown
	// until it can talk to a broker again, so records still buffered or in
	// flight only fail (ErrClientClosed) when the client closes.
	cl.Close()
	produced.Wait()
	mu.Lock()
	t.Logf("acknowledged %d records before kill -9 (%d when it was sent), %d failed", len(acked), atKill, failed)
	if len(acked) >= total {
		t.Fatalf("precondition: every record was acknowledged before the kill; nothing was in flight")
	}
	mu.Unlock()

	p2 := harness.StartProcess(t, dir)
	adm := newAdmin(t, p2.Bootstrap())
	td := waitTopicReady(t, adm, topic, 3)
	if td.ID != idBefore {
		t.Errorf("topic id %v after the crash, was %v", td.ID, idBefore)
	}
	seen := recordIDs(t, consumeAll(t, p2.Bootstrap(), topic))
	var lost, dupAcked, dupUnacked []int
	for id := range acked {
		switch c := seen[id]; {
		case c == 0:
			lost = append(lost, id)
		case c > 1:
			dupAcked = append(dupAcked, id)
		}
	}
	extra := 0
	for id, c := range seen {
		if !acked[id] {
			extra++
			if c > 1 {
				dupUnacked = append(dupUnacked, id)
			}
		}
	}
	sort.Ints(lost)
	sort.Ints(dupAcked)
	t.Logf("after restart: %d distinct ids, %d of them unacknowledged, %d unacknowledged ids duplicated",
		len(seen), extra, len(dupUnacked))
	if len(lost) > 0 {
		t.Errorf("%d acknowledged records lost by kill -9, first ids %v\nlogs of the killed process:\n%s", len(lost), head(lost), lastLines(p.Logs(), 40))
	}
	if len(dupAcked) > 0 {
		t.Errorf("%d acknowledged records stored more than once, first ids %v", len(dupAcked), head(dupAcked))
	}

	// The restarted node takes new writes after the recovered tail.
	cl2 := newKgo(t, p2.Bootstrap(), kgo.DefaultProduceTopic(topic))
	if err := cl2.ProduceSync(testCtx(t), kgo.StringRecord(fmt.Sprintf("id-%d", total))).FirstErr(); err != nil {
		t.Errorf("producing after recovery: %v", err)
	}
}

// A SIGTERM stop exits 0 after answering what it accepted, and a process
// started again on the same data directory serves every record, once, in
// order.
func TestCleanStopLosesNothing(t *testing.T) {
	dir := t.TempDir()
	p := harness.StartProcess(t, dir)
	const topic, total = "clean-stop", 5000
	createTopic(t, newAdmin(t, p.Bootstrap()), topic, 2, nil)
	cl := newKgo(t, p.Bootstrap(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	var rs []*kgo.Record
	for i := 0; i < total; i++ {
		rs = append(rs, &kgo.Record{Key: []byte(strconv.Itoa(i % 7)), Value: []byte(fmt.Sprintf("id-%d", i))})
	}
	if err := cl.ProduceSync(testCtx(t), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		// Go on: the records must be there whatever way the process ended.
		t.Errorf("SIGTERM: %v", err)
	}

	p2 := harness.StartProcess(t, dir)
	got := consumeAll(t, p2.Bootstrap(), topic)
	seen := recordIDs(t, got)
	if len(got) != total || len(seen) != total {
		t.Errorf("read %d records (%d distinct) after a clean stop, want %d", len(got), len(seen), total)
	}
	last := map[int32]int{}
	for _, r := range got {
		id, _ := strconv.Atoi(strings.TrimPrefix(string(r.Value), "id-"))
		if prev, ok := last[r.Partition]; ok && id <= prev {
			t.Errorf("partition %d: id %d after id %d", r.Partition, id, prev)
		}
		last[r.Partition] = id
	}
}

func head(ids []int) []int {
	if len(ids) > 10 {
		return ids[:10]
	}
	return ids
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
