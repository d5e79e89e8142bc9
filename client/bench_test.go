package client_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
	"github.com/samsa-io/samsa/client/serde"
)

// BenchmarkProduce compares the SDK's Producer (untyped, and typed with
// the String and Bytes serdes) with a raw kgo client
// producing the same records — keyed, 100 B or 1 KiB random values,
// acks=all, idempotent, no compression (the SDK's default; kgo's own is
// snappy), kgo's default linger and partitioner — to one samsatest node
// in the same run. Each sub-benchmark writes to a fresh 6-partition topic;
// one op is one record, produced asynchronously, and the timed part ends
// with a Flush, so every record counted was acknowledged.
//
//	go test -run '^$' -bench . ./client/
func BenchmarkProduce(b *testing.B) {
	node := samsatest.Start(b)
	ctx := context.Background()
	cl, err := client.New(ctx, client.WithBootstrap(node.Bootstrap()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()

	topics := 0
	freshTopic := func(b *testing.B) string {
		b.Helper()
		topics++
		name := fmt.Sprintf("bench-%d", topics)
		if _, err := cl.Admin().CreateTopic(ctx, name, 6, 1, nil); err != nil {
			b.Fatal(err)
		}
		return name
	}
	keys := make([][]byte, 1000)
	stringKeys := make([]string, len(keys))
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key-%d", i)
		stringKeys[i] = string(keys[i])
	}

	for _, size := range []int{100, 1024} {
		value := make([]byte, size)
		rand.Read(value) // incompressible, like most payloads
		b.Run(fmt.Sprintf("sdk-Produce/%dB", size), func(b *testing.B) {
			topic := freshTopic(b)
			p, err := cl.NewProducer()
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			run(b, size, func(i int) {
				if err := p.Produce(ctx, client.NewRecord(topic, keys[i%len(keys)], value)); err != nil {
					b.Fatal(err)
				}
			}, func() error { return p.Flush(ctx) })
		})
		b.Run(fmt.Sprintf("sdk-ProduceAsync/%dB", size), func(b *testing.B) {
			topic := freshTopic(b)
			p, err := cl.NewProducer()
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			done := func(_ client.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			}
			run(b, size, func(i int) {
				if err := p.ProduceAsync(ctx, client.NewRecord(topic, keys[i%len(keys)], value), done); err != nil {
					b.Fatal(err)
				}
			}, func() error { return p.Flush(ctx) })
		})
		b.Run(fmt.Sprintf("sdk-TypedProduceAsync/%dB", size), func(b *testing.B) {
			topic := freshTopic(b)
			p, err := cl.NewProducer()
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			tp := client.NewTypedProducer(p, serde.String{}, serde.Bytes{})
			done := func(_ client.TypedRecord[string, []byte], err error) {
				if err != nil {
					b.Error(err)
				}
			}
			run(b, size, func(i int) {
				if err := tp.ProduceAsync(ctx, topic, stringKeys[i%len(stringKeys)], value, done); err != nil {
					b.Fatal(err)
				}
			}, func() error { return p.Flush(ctx) })
		})
		b.Run(fmt.Sprintf("kgo/%dB", size), func(b *testing.B) {
			topic := freshTopic(b)
			kcl, err := kgo.NewClient(kgo.SeedBrokers(node.Bootstrap()),
				kgo.ProducerBatchCompression(kgo.NoCompression()))
			if err != nil {
				b.Fatal(err)
			}
			defer kcl.Close()
			promise := func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			}
			run(b, size, func(i int) {
				kcl.Produce(ctx, &kgo.Record{Topic: topic, Key: keys[i%len(keys)], Value: value}, promise)
			}, func() error { return kcl.Flush(ctx) })
		})
	}
}

// run times b.N calls of produce and the flush after them, and reports
// records per second and the process's CPU time per record. The broker
// runs in the same process and does the same work for every variant, so
// differences in cpu-ns/record are the client's; on a shared machine they
// vary much less than records/s, which moves with scheduling and fsync
// timing.
func run(b *testing.B, size int, produce func(i int), flush func() error) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	for i := range b.N {
		produce(i)
	}
	if err := flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
