package test

// Replication benchmarks on a three-node harness cluster (real samsa server
// processes on one machine): produce throughput and latency with three
// replicas and acks=all against one replica and acks=1, in the same run, and
// the time from kill -9 of a partition leader to the next acknowledged
// acks=all write.
//
//	go test -run '^$' -bench 'Replicated|LeaderKill' -benchtime 3x ./test/
//
// The figures are in docs/benchmarks.md ("Replication").

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/test/harness"
)

// replicatedBenchRecords is how many 1 KiB records one iteration produces.
const replicatedBenchRecords = 100000

// BenchmarkReplicatedProduce produces replicatedBenchRecords 1 KiB records
// per iteration as fast as one franz-go client can (6 partitions, up to
// 8192 records buffered), in two setups on the same cluster: rf1-acks1 (one
// replica, acks=1) and rf3-acksall (three replicas, min.insync.replicas=2,
// acks=all). It reports records/s, and the p50/p99 latency of
// latencyBenchRecords produces sent one at a time (ProduceSync), so that
// the latency is the round trip of one acknowledged write, not queueing.
func BenchmarkReplicatedProduce(b *testing.B) {
	c := harness.StartCluster(b, 3)
	adm := newAdmin(b, c.Node(1).Bootstrap())
	runs := 0
	for _, setup := range []struct {
		name string
		rf   int16
		acks kgo.Acks
	}{{"rf1-acks1", 1, kgo.LeaderAck()}, {"rf3-acksall", 3, kgo.AllISRAcks()}} {
		b.Run(setup.name, func(b *testing.B) {
			runs++
			topic := fmt.Sprintf("bench-%s-%d", setup.name, runs)
			if _, err := adm.CreateTopic(testCtx(b), 6, setup.rf, map[string]*string{"min.insync.replicas": strp("2")}, topic); err != nil {
				b.Fatal(err)
			}
			waitTopicReady(b, adm, topic, 6)
			if setup.rf == 3 {
				waitISR(b, c.Node(1), topic, []int32{1, 2, 3}, 30*time.Second)
			}
			opts := []kgo.Opt{kgo.RequiredAcks(setup.acks), kgo.DefaultProduceTopic(topic),
				kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(8192)}
			if setup.acks != kgo.AllISRAcks() {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			cl := newKgo(b, c.Node(1).Bootstrap(), opts...)
			value := make([]byte, 1024)
			// Learn the new topic's metadata outside the timed part (a node
			// that follows the metadata log may not list it yet).
			eventually(b, 30*time.Second, "a first record", func() error {
				return cl.ProduceSync(testCtx(b), &kgo.Record{Value: value}).FirstErr()
			})
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				var wg sync.WaitGroup
				for range replicatedBenchRecords {
					wg.Add(1)
					cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
						defer wg.Done()
						if err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			elapsed := time.Since(start)
			b.StopTimer()
			var lat []time.Duration
			for range latencyBenchRecords {
				sent := time.Now()
				if err := cl.ProduceSync(testCtx(b), &kgo.Record{Value: value}).FirstErr(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(sent))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N*replicatedBenchRecords)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// latencyBenchRecords is how many one-at-a-time produces measure latency.
const latencyBenchRecords = 500

// BenchmarkLeaderKillToWrite measures, per iteration, the time from kill -9
// of the leader of a replicated partition (three replicas,
// min.insync.replicas=2) to the next acknowledged acks=all write to it,
// sent by a producer that keeps writing throughout. The killed node is
// restarted and back in the ISR outside the timed part.
func BenchmarkLeaderKillToWrite(b *testing.B) {
	c := harness.StartCluster(b, 3)
	adm := newAdmin(b, c.Node(1).Bootstrap())
	if _, err := adm.CreateTopic(testCtx(b), 1, 3, map[string]*string{"min.insync.replicas": strp("2")}, "killbench"); err != nil {
		b.Fatal(err)
	}
	waitTopicReady(b, adm, "killbench", 1)
	var seeds []string
	for _, n := range c.Nodes() {
		seeds = append(seeds, n.Bootstrap())
	}
	cl := newKgo(b, seeds[0], kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("killbench"), kgo.RecordDeliveryTimeout(60*time.Second))
	var total, worst time.Duration
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		waitISR(b, c.Node(1), "killbench", []int32{1, 2, 3}, 60*time.Second)
		leader := leaderOfAny(b, c, "killbench", 0)
		b.StartTimer()
		c.Node(leader).Kill()
		killed := time.Now()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr()
			cancel()
			if err == nil {
				break
			}
		}
		took := time.Since(killed)
		b.StopTimer()
		total += took
		worst = max(worst, took)
		b.Logf("iteration %d: kill -9 of leader %d to the next acks=all write: %v", i, leader, took)
		c.Node(leader).Restart()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "resume-ms/op")
	b.ReportMetric(float64(worst.Milliseconds()), "max-resume-ms")
}
