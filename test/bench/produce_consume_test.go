// Package bench holds end-to-end benchmarks: franz-go (kgo) producing to and
// consuming from an in-process Samsa node over real loopback sockets, with
// the node's logs on real files in b.TempDir() and the default durability
// (fsync before acks=1 and acks=all answer). `make bench` runs them; the
// figures and how to read them are in docs/benchmarks.md.
//
// One b.N is one record. MB/s (b.SetBytes) counts record values only, in
// 10^6 bytes as the testing package does; records/s is reported beside it.
// -benchmem counts the allocations of the whole process, so the client's and
// the broker's allocations per record are summed.
package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/test/harness"
)

// The producer matches the peer load generator (shared perf/cmd/kload): 1 ms
// linger, no compression, a 10,000-record buffer as the backpressure window,
// and for acks=1 the non-idempotent producer with 5 requests in flight.
const (
	linger      = time.Millisecond
	maxBuffered = 10_000
	// phaseTimeout bounds one produce or consume phase: a broker that stops
	// answering fails the benchmark instead of hanging `make bench`.
	phaseTimeout = 2 * time.Minute
	// maxBytes caps b.N x record size, so an explicit -benchtime Nx (or a
	// much faster machine) fails fast instead of filling the disk. A
	// sub-benchmark's topic is deleted when it ends.
	maxBytes = 4 << 30
	// consumeCorpusBytes is the payload BenchmarkConsume reads, and rereads.
	consumeCorpusBytes = 256 << 20
)

type shape struct {
	name       string
	recordSize int
}

var (
	shapes     = []shape{{"100B", 100}, {"1KiB", 1024}}
	partitions = []int32{1, 6}
)

type ackMode struct {
	name string
	acks kgo.Acks
}

var ackModes = []ackMode{{"acks1", kgo.LeaderAck()}, {"acksall", kgo.AllISRAcks()}}

// BenchmarkProduce: records/s until every record is acknowledged, for each
// record size, partition count and acks level, on one node with a fresh
// topic per sub-benchmark.
func BenchmarkProduce(b *testing.B) {
	n := harness.StartNode(b)
	adm := newAdmin(b, n.Bootstrap())
	for _, s := range shapes {
		for _, parts := range partitions {
			for _, am := range ackModes {
				name := fmt.Sprintf("%s/p%d/%s", s.name, parts, am.name)
				topic := "bench-produce-" + sanitize(name)
				createTopic(b, adm, topic, parts)
				b.Run(name, func(b *testing.B) {
					capN(b, s.recordSize)
					produceN(b, n.Bootstrap(), topic, s.recordSize, am.acks, b.N, true)
				})
				deleteTopic(b, adm, topic)
			}
		}
	}
}

// BenchmarkConsume: records/s reading back records already on the node (and
// in the page cache), for each record size and partition count. A corpus of
// consumeCorpusBytes is produced once per sub-benchmark, untimed, with
// acks=all; a run of b.N records reads it from the start, as many passes as
// b.N needs, with a fresh client per pass. Acks play no part in reading.
func BenchmarkConsume(b *testing.B) {
	n := harness.StartNode(b)
	adm := newAdmin(b, n.Bootstrap())
	for _, s := range shapes {
		for _, parts := range partitions {
			name := fmt.Sprintf("%s/p%d", s.name, parts)
			topic := "bench-consume-" + sanitize(name)
			createTopic(b, adm, topic, parts)
			var from, to map[int32]int64
			b.Run(name, func(b *testing.B) {
				capN(b, s.recordSize)
				if from == nil { // the first run of this sub-benchmark
					from = endOffsets(b, adm, topic)
					produceN(b, n.Bootstrap(), topic, s.recordSize, kgo.AllISRAcks(), consumeCorpusBytes/s.recordSize, false)
					to = endOffsets(b, adm, topic)
				}
				b.SetBytes(int64(s.recordSize))
				b.ResetTimer()
				for left := int64(b.N); left > 0; {
					left -= consumeRange(b, n.Bootstrap(), topic, from, to, left)
				}
				b.StopTimer()
				reportRate(b)
			})
			deleteTopic(b, adm, topic)
		}
	}
}

// produceN produces count records of size bytes to topic and waits for every
// ack. With timed set it owns the benchmark timer: one warm-up record
// connects the client and obtains its producer ID before the timer starts.
func produceN(b *testing.B, bootstrap, topic string, size int, acks kgo.Acks, count int, timed bool) {
	b.Helper()
	opts := []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.ClientID("samsa-bench-producer"),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(linger),
		kgo.MaxBufferedRecords(maxBuffered),
	}
	if acks != kgo.AllISRAcks() {
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.Fatalf("kgo.NewClient: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()

	if timed {
		// Warm up: metadata, connection, producer ID. Not counted.
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, size)}).FirstErr(); err != nil {
			b.Fatalf("warm-up produce to %s: %v", topic, err)
		}
	}
	val := make([]byte, size)
	rand.Read(val) // incompressible, as kload's payload
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	done := func(_ *kgo.Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			firstErr.Store(&err)
		}
	}
	if timed {
		b.SetBytes(int64(size))
		b.ResetTimer()
	}
	for i := 0; i < count; i++ {
		cl.Produce(ctx, &kgo.Record{Value: val}, done)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatalf("waiting for %d acks from %s: %v", count, topic, err)
	}
	if timed {
		b.StopTimer()
	}
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d records to %s failed, first: %v", f, count, topic, *firstErr.Load())
	}
	if timed {
		reportRate(b)
	}
}

// consumeRange reads the records in [from, to) per partition, at most limit
// of them, with a fresh client assigned the partitions directly (no group),
// as kload does. It returns how many it read.
func consumeRange(b *testing.B, bootstrap, topic string, from, to map[int32]int64, limit int64) int64 {
	b.Helper()
	var want int64
	offsets := map[int32]kgo.Offset{}
	for p, o := range from {
		want += to[p] - o
		offsets[p] = kgo.NewOffset().At(o)
	}
	if want == 0 {
		b.Fatalf("nothing to consume in %s", topic)
	}
	want = min(want, limit)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.ClientID("samsa-bench-consumer"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(64<<20),
		kgo.FetchMaxPartitionBytes(8<<20),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		b.Fatalf("kgo.NewClient: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	var got int64
	for got < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("consumed %d of %d records from %s within %v", got, want, topic, phaseTimeout)
		}
		if err := fs.Err(); err != nil {
			b.Fatalf("fetching %s: %v", topic, err)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if r.Offset < to[p.Partition] && got < want {
					got++
				}
			}
		})
	}
	return got
}

func capN(b *testing.B, size int) {
	if int64(b.N)*int64(size) > maxBytes {
		b.Fatalf("b.N = %d records of %d B exceeds the cap of %d B; lower -benchtime", b.N, size, int64(maxBytes))
	}
}

func reportRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "records/s")
	}
}

func newAdmin(b *testing.B, bootstrap string) *kadm.Client {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ClientID("samsa-bench-admin"))
	if err != nil {
		b.Fatalf("kgo.NewClient: %v", err)
	}
	b.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// createTopic creates topic with rf 1 and waits until every partition has a
// leader.
func createTopic(b *testing.B, adm *kadm.Client, topic string, parts int32) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		b.Fatalf("creating %s with %d partitions: %v %s", topic, parts, err, resp.ErrMessage)
	}
	var last error
	for ctx.Err() == nil {
		if last = topicReady(ctx, adm, topic, parts); last == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("topic %s not ready within 30s: %v", topic, last)
}

func topicReady(ctx context.Context, adm *kadm.Client, topic string, parts int32) error {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return err
	}
	td, ok := md.Topics[topic]
	switch {
	case !ok:
		return errors.New("not in metadata")
	case td.Err != nil:
		return td.Err
	case len(td.Partitions) != int(parts):
		return fmt.Errorf("%d partitions in metadata, want %d", len(td.Partitions), parts)
	}
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return fmt.Errorf("partition %d: leader %d, %v", p.Partition, p.Leader, p.Err)
		}
	}
	return nil
}

// deleteTopic removes a finished sub-benchmark's data so one node's
// directory stays small over the whole run.
func deleteTopic(b *testing.B, adm *kadm.Client, topic string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.Errorf("deleting %s: %v", topic, err)
	}
}

func endOffsets(b *testing.B, adm *kadm.Client, topic string) map[int32]int64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lo, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		b.Fatalf("listing end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// sanitize turns a sub-benchmark name into a legal topic name.
func sanitize(name string) string {
	out := []byte(name)
	for i, c := range out {
		if c == '/' {
			out[i] = '.'
		}
	}
	return string(out)
}
