package test

// A fault-injection run against three real samsa server processes. An
// idempotent franz-go producer writes unique, per-partition sequenced
// values with acks=all to a topic with three replicas and
// min.insync.replicas=2, and a consumer reads it, while faults are injected
// every few seconds: kill -9 of a partition leader, kill -9 of the active
// controller, SIGSTOP of a broker for 2, 6 or 15 s, a kill -9 of every
// node at once, and (where network namespaces are available: root and
// iproute2, see harness.WithNetworkIsolation) the isolation of a
// partition leader from the other nodes, but not from the clients, for 4
// to 12 s. After a fault-free window everything is read back and checked:
// no acknowledged write lost, none duplicated, per-partition order kept,
// every acknowledged offset holding its record, and nothing a consumer
// read during the faults later replaced by another record.
//
// Availability is checked too: after every fault of one node (kill,
// SIGSTOP, isolation), every partition acknowledges a record produced
// after the fault began within faultResumeBudget of its start, and
// before the fault ends if it lasts faultLong or more; none sooner than
// faultEarliestAck (acks=all cannot skip the faulty replica before it is
// fenced). Each such fault starts from a cluster in sync, and the next
// fault waits for the writes to resume (or for the budget to pass). One
// producer goroutine per partition, with its own bound on records in
// flight, so that a stalled partition does not hold the others back.
//
// The seed is printed; SAMSA_FAULT_SEED=N replays one (the same faults in
// the same order, given the same isolation availability; SAMSA_TEST_NETNS=off
// runs without isolation), and SAMSA_FAULT_DURATION (a Go duration, default
// 2m) sets the faulty part's length (`make fault` / `make fault-long`).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/test/harness"
)

const faultPartitions = 3

// faultLong: during a SIGSTOP or an isolation that lasts this long or
// more (SIGSTOP for 15 s, isolation for 10 to 12 s), every partition must
// make progress before it ends: fail-over, not the node's return.
const faultLong = 10 * time.Second

// faultEarliestAck: a write produced after a node in every ISR was
// stopped, killed or cut off cannot be acknowledged with acks=all before
// that node is out of the ISR, which takes the controller fencing it: gossip
// declares a node dead no sooner than gossip.suspicion.mult (6) probe
// intervals (500 ms) after a failed probe, 3 s. (The ISR shrink by
// replica.lag.time.max.ms takes 30 s.) An acknowledgement sooner than this
// means a leader counted a replica that cannot have the record.
const faultEarliestAck = time.Second

// faultRecoveryBudget bounds how long after a fault every replica may take
// to be back in every ISR. (A node cut off from the others stays fenced
// until gossip has it alive again, which may take up to memberlist's
// push-pull interval, 30 s, after the heal.)
const faultRecoveryBudget = 90 * time.Second

// faultResumeBudget bounds how long after the start of a fault of one
// node every partition must acknowledge writes again.
const faultResumeBudget = 15 * time.Second

func faultSettings(t *testing.T) (seed uint64, d time.Duration) {
	seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("SAMSA_FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SAMSA_FAULT_SEED: %v", err)
		}
		seed = v
	}
	d = 2 * time.Minute
	if s := os.Getenv("SAMSA_FAULT_DURATION"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SAMSA_FAULT_DURATION: %v", err)
		}
		d = v
	}
	return seed, d
}

type ackedWrite struct {
	partition int32
	seq       int
	offset    int64
	enqueued  time.Time // handed to the producer
	at        time.Time // acknowledged
}

// faultAcks records the acknowledged writes, in acknowledgement order per
// partition (the idempotent producer answers a partition's records in
// order).
type faultAcks struct {
	mu           sync.Mutex
	acked        []ackedWrite
	byPartition  [faultPartitions][]ackedWrite
	produced     int
	failed       int
	firstFailure error
}

func (a *faultAcks) add(w ackedWrite, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.produced++
	if err != nil {
		a.failed++
		if a.firstFailure == nil {
			a.firstFailure = fmt.Errorf("P%d-%d: %w", w.partition, w.seq, err)
		}
		return
	}
	a.acked = append(a.acked, w)
	a.byPartition[w.partition] = append(a.byPartition[w.partition], w)
}

// resumedAt returns, per partition, when the first record handed to the
// producer at or after t0 was acknowledged (zero: none yet).
func (a *faultAcks) resumedAt(t0 time.Time) [faultPartitions]time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out [faultPartitions]time.Time
	for p, ws := range a.byPartition {
		i := sort.Search(len(ws), func(i int) bool { return !ws[i].enqueued.Before(t0) })
		if i < len(ws) {
			out[p] = ws[i].at
		}
	}
	return out
}

func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs for minutes; skipped with -short")
	}
	seed, duration := faultSettings(t)
	var opts []harness.ClusterOption
	isolation := "on"
	if err := harness.NetworkIsolationAvailable(); err == nil {
		opts = append(opts, harness.WithNetworkIsolation())
	} else {
		isolation = fmt.Sprintf("off (%v)", err)
	}
	t.Logf("fault injection: seed %d (replay with SAMSA_FAULT_SEED=%d), %v of faults; leader isolation %s",
		seed, seed, duration, isolation)
	rng := rand.New(rand.NewPCG(seed, seed^0x5a5a))

	c := harness.StartCluster(t, 3, opts...)
	adm := newAdmin(t, c.Node(1).Bootstrap())
	createReplicatedTopic(t, adm, "fault", faultPartitions, map[string]*string{"min.insync.replicas": strp("2")})
	waitISR(t, c.Node(1), "fault", []int32{1, 2, 3}, 30*time.Second)
	var seeds []string
	for _, n := range c.Nodes() {
		seeds = append(seeds, n.Bootstrap())
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	// Producer: one goroutine and sequence per partition; values name
	// partition and sequence so that order and uniqueness can be checked.
	// Its timeouts are short, as a client that wants fail-over within
	// faultResumeBudget sets them: a produce request to a broker that has
	// stopped answering (SIGSTOP, isolation) is given up after 4+2 s
	// instead of franz-go's 10+10 s (the broker's acks=all wait ends
	// with the 4 s too), and metadata is refreshed every second (franz-go
	// retries a timed-out request on the same broker without asking for
	// metadata, so without this a partition whose leader was paused
	// waits for one timeout after another) and may be asked for again
	// 250 ms after a refresh instead of 5 s.
	prod := newKgo(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic("fault"),
		kgo.RecordDeliveryTimeout(45*time.Second), kgo.RetryTimeout(45*time.Second), kgo.ProducerLinger(2*time.Millisecond),
		kgo.ProduceRequestTimeout(4*time.Second), kgo.RequestTimeoutOverhead(2*time.Second),
		kgo.MetadataMaxAge(time.Second), kgo.MetadataMinAge(250*time.Millisecond))
	var acks faultAcks
	var prodWG sync.WaitGroup
	for p := range int32(faultPartitions) {
		prodWG.Add(1)
		go func() {
			defer prodWG.Done()
			inflight := make(chan struct{}, 32)
			for s := 0; ; s++ {
				took := false
				select {
				case inflight <- struct{}{}:
					took = true
				case <-ctx.Done():
				}
				if ctx.Err() != nil {
					if took {
						<-inflight
					}
					break
				}
				r := &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("P%d-%d", p, s))}
				w := ackedWrite{partition: p, seq: s, enqueued: time.Now()}
				prod.Produce(context.Background(), r, func(r *kgo.Record, err error) {
					w.offset, w.at = r.Offset, time.Now()
					acks.add(w, err)
					<-inflight
				})
				time.Sleep(6 * time.Millisecond)
			}
			// Wait for every record in flight: the callbacks free their
			// slots.
			for len(inflight) > 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}

	// Consumer: remembers what it read at each offset.
	var readMu sync.Mutex
	read := make([]map[int64]string, faultPartitions)
	for i := range read {
		read[i] = map[int64]string{}
	}
	cons := newKgo(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("fault"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	var consWG sync.WaitGroup
	consWG.Add(1)
	go func() {
		defer consWG.Done()
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				readMu.Lock()
				read[r.Partition][r.Offset] = string(r.Value)
				readMu.Unlock()
			})
		}
	}()

	// awaitResume waits until every partition acknowledged a record
	// handed to the producer after the fault of one node that began at
	// t0, or until the budget is spent, and reports a partition that did
	// not resume in time.
	var resumes []string
	awaitResume := func(fault string, t0, ended time.Time, long bool) {
		for {
			at := acks.resumedAt(t0)
			done := true
			for _, a := range at {
				done = done && !a.IsZero()
			}
			if done || time.Since(t0) > faultResumeBudget {
				var parts []string
				var bad, early []int
				for p, a := range at {
					switch {
					case a.IsZero():
						parts = append(parts, fmt.Sprintf("P%d -", p))
						bad = append(bad, p)
					default:
						if a.Sub(t0) < faultEarliestAck {
							early = append(early, p)
						}
						when := "during"
						if a.After(ended) {
							when = "after"
						}
						parts = append(parts, fmt.Sprintf("P%d %.1fs (%s)", p, a.Sub(t0).Seconds(), when))
						if a.Sub(t0) > faultResumeBudget || (long && a.After(ended)) {
							bad = append(bad, p)
						}
					}
				}
				line := fmt.Sprintf("%s %s: writes resumed: %s", t0.Format("15:04:05.000"), fault, strings.Join(parts, ", "))
				resumes = append(resumes, line)
				if len(bad) > 0 {
					t.Errorf("seed %d: %s: partitions %v acknowledged no write produced after the fault began within %v, "+
						"or, the fault lasting %v or more, before it ended (%s)",
						seed, fault, bad, faultResumeBudget, faultLong, strings.Join(parts, ", "))
				}
				if len(early) > 0 {
					t.Errorf("seed %d: %s: partitions %v acknowledged (acks=all) a write produced after the fault began "+
						"sooner than the node can have left their ISRs (%s)", seed, fault, early, strings.Join(parts, ", "))
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Faults. The fault set and every random choice come from rng alone,
	// so that a seed replays the same sequence.
	kinds := 4
	if c.Isolatable() {
		kinds = 5
	}
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(3+rng.IntN(5)) * time.Second)
		f := rng.IntN(kinds)
		if f != 3 {
			// A fault of one node starts from a cluster in sync, so that
			// it is one fault: with a replica still out of the ISR after
			// the previous fault, acks=all (min.insync.replicas=2) would
			// rightly stop until it is back.
			waitStart := time.Now()
			if err := waitFaultInSync(t, c, "fault", faultRecoveryBudget); err != nil {
				t.Fatalf("seed %d: not back in sync within %v after the previous fault: %v", seed, faultRecoveryBudget, err)
			}
			if w := time.Since(waitStart); w > time.Second {
				t.Logf("%s: back in sync after %v more", time.Now().Format("15:04:05.000"), w.Round(100*time.Millisecond))
			}
		}
		switch f {
		case 0:
			p := int32(rng.IntN(faultPartitions))
			leader := leaderOfAny(t, c, "fault", p)
			if leader < 0 {
				continue
			}
			fault := fmt.Sprintf("kill -9 of node %d, leader of partition %d", leader, p)
			t.Logf("%s: %s", time.Now().Format("15:04:05.000"), fault)
			c.Node(leader).Kill()
			t0 := time.Now() // the fault is in effect
			time.Sleep(3 * time.Second)
			c.Node(leader).Restart()
			awaitResume(fault, t0, time.Now(), false)
		case 1:
			active, err := c.ActiveController(testCtx(t))
			if err != nil {
				continue
			}
			fault := fmt.Sprintf("kill -9 of node %d, the active controller", active)
			t.Logf("%s: %s", time.Now().Format("15:04:05.000"), fault)
			c.Node(active).Kill()
			t0 := time.Now() // the fault is in effect
			time.Sleep(3 * time.Second)
			c.Node(active).Restart()
			awaitResume(fault, t0, time.Now(), false)
		case 2:
			n := c.Nodes()[rng.IntN(3)]
			pause := []time.Duration{2 * time.Second, 6 * time.Second, 15 * time.Second}[rng.IntN(3)]
			fault := fmt.Sprintf("SIGSTOP of node %d for %v", n.ID(), pause)
			t.Logf("%s: %s", time.Now().Format("15:04:05.000"), fault)
			n.Pause()
			t0 := time.Now() // the fault is in effect
			time.Sleep(pause)
			n.Resume()
			awaitResume(fault, t0, time.Now(), pause >= faultLong)
		case 3:
			t.Logf("%s: kill -9 of every node, then restart", time.Now().Format("15:04:05.000"))
			for _, n := range c.Nodes() {
				n.Kill()
			}
			for _, n := range c.Nodes() {
				n.Launch()
			}
			for _, n := range c.Nodes() {
				n.WaitServing()
			}
		case 4:
			p := int32(rng.IntN(faultPartitions))
			d := time.Duration(4+rng.IntN(9)) * time.Second
			leader := leaderOfAny(t, c, "fault", p)
			if leader < 0 {
				continue
			}
			fault := fmt.Sprintf("isolation of node %d, leader of partition %d, from the other nodes for %v", leader, p, d)
			t.Logf("%s: %s", time.Now().Format("15:04:05.000"), fault)
			c.Node(leader).Isolate()
			t0 := time.Now() // the fault is in effect
			time.Sleep(d)
			c.Node(leader).Heal()
			awaitResume(fault, t0, time.Now(), d >= faultLong)
		}
	}
	t.Logf("%s: faults over; fault-free window", time.Now().Format("15:04:05.000"))
	time.Sleep(5 * time.Second)
	stop()
	prodWG.Wait()
	consWG.Wait()
	waitISR(t, c.Node(1), "fault", []int32{1, 2, 3}, 60*time.Second)
	t.Logf("resumption after each fault of one node (from its start; during/after: before or after the fault ended):\n%s",
		strings.Join(resumes, "\n"))

	// Read everything back and check.
	final := make([]map[int64]string, faultPartitions)
	for i := range final {
		final[i] = map[int64]string{}
	}
	values := consumeAllAvailableRecords(t, seeds[0], "fault")
	seen := map[string]int{}
	lastSeq := make([]int, faultPartitions)
	for i := range lastSeq {
		lastSeq[i] = -1
	}
	for _, r := range values {
		final[r.Partition][r.Offset] = string(r.Value)
		seen[string(r.Value)]++
		p, s := parseFaultValue(t, string(r.Value))
		if p != r.Partition {
			t.Errorf("seed %d: value %s in partition %d", seed, r.Value, r.Partition)
		}
		if s <= lastSeq[p] {
			t.Errorf("seed %d: partition %d: sequence %d at offset %d after %d (order broken)", seed, p, s, r.Offset, lastSeq[p])
		}
		lastSeq[p] = s
	}
	for v, n := range seen {
		if n > 1 {
			t.Errorf("seed %d: value %s stored %d times", seed, v, n)
		}
	}
	acks.mu.Lock()
	defer acks.mu.Unlock()
	for _, a := range acks.acked {
		want := fmt.Sprintf("P%d-%d", a.partition, a.seq)
		if got, ok := final[a.partition][a.offset]; !ok || got != want {
			t.Errorf("seed %d: acknowledged %s at %d-%d: the log holds %q there", seed, want, a.partition, a.offset, got)
		}
	}
	readMu.Lock()
	defer readMu.Unlock()
	for p := range read {
		for off, v := range read[p] {
			if got, ok := final[p][off]; ok && got != v {
				t.Errorf("seed %d: partition %d offset %d: a consumer read %q, the log now holds %q", seed, p, off, v, got)
			} else if !ok {
				t.Errorf("seed %d: partition %d offset %d: a consumer read %q, which is gone", seed, p, off, v)
			}
		}
	}
	t.Logf("%d produced, %d acknowledged, %d failed (first: %v); %d records in the log; %d read during faults",
		acks.produced, len(acks.acked), acks.failed, acks.firstFailure, len(values), totalRead(read))
	if len(acks.acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
}

// waitFaultInSync waits until every node runs and its own Metadata lists
// every partition of topic with a leader and all three replicas in the
// ISR.
func waitFaultInSync(t testing.TB, c *harness.Cluster, topic string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := faultInSync(t, c, topic)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func faultInSync(t testing.TB, c *harness.Cluster, topic string) error {
	for _, n := range c.Nodes() {
		if !n.Running() {
			return fmt.Errorf("node %d is down", n.ID())
		}
		td, err := topicOn(t, n, topic)
		if err != nil {
			return err
		}
		if len(td.Partitions) != faultPartitions {
			return fmt.Errorf("node %d: %d partitions", n.ID(), len(td.Partitions))
		}
		for _, p := range td.Partitions {
			if p.Leader < 0 || len(p.ISR) != 3 {
				return fmt.Errorf("node %d: partition %d: leader %d, ISR %v", n.ID(), p.Partition, p.Leader, p.ISR)
			}
		}
	}
	return nil
}

func totalRead(read []map[int64]string) int {
	n := 0
	for _, m := range read {
		n += len(m)
	}
	return n
}

func parseFaultValue(t *testing.T, v string) (int32, int) {
	t.Helper()
	ps, ss, ok := strings.Cut(strings.TrimPrefix(v, "P"), "-")
	p, err1 := strconv.Atoi(ps)
	s, err2 := strconv.Atoi(ss)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("unexpected value %q", v)
	}
	return int32(p), s
}

// leaderOfAny asks the nodes in turn for a partition's leader.
func leaderOfAny(t testing.TB, c *harness.Cluster, topic string, partition int32) int32 {
	for _, n := range c.Nodes() {
		if !n.Running() {
			continue
		}
		td, err := topicOn(t, n, topic)
		if err != nil {
			continue
		}
		for _, p := range td.Partitions {
			if p.Partition == partition {
				return p.Leader
			}
		}
	}
	return -1
}

// consumeAllAvailableRecords reads topic from the start up to the end
// offsets at the time of the call.
func consumeAllAvailableRecords(t *testing.T, bootstrap, topic string) []*kgo.Record {
	t.Helper()
	adm := newAdmin(t, bootstrap)
	var total int64
	eventually(t, 60*time.Second, "end offsets of "+topic, func() error {
		ends, err := adm.ListEndOffsets(testCtx(t), topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return err
		}
		total = 0
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		return nil
	})
	cl := newKgo(t, bootstrap, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out []*kgo.Record
	for int64(len(out)) < total {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s before the deadline", len(out), total, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}
