package test

// Failover benchmarks on a three-node harness cluster (real samsa server
// processes): how long after a kill -9 the cluster serves admin requests
// again (controller failover) and how long until a dead broker is fenced.
// They are slow (each iteration kills and restarts a process), so run them
// with a small -benchtime, e.g.
//
//	go test -run '^$' -bench 'ControllerFailover|BrokerFencing' -benchtime 3x ./test/
//
// The figures are in docs/benchmarks.md ("Cluster failover").

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/test/harness"
)

// BenchmarkControllerFailover measures, per iteration, the time from kill -9
// of the active controller to the first successful CreateTopics sent to
// another node (forwarded to the newly elected controller). The killed
// node is then restarted and waited for (serving, and seeing the topic
// created while it was down) outside the timed part. Reported as
// failover-ms/op (mean) and max-failover-ms.
func BenchmarkControllerFailover(b *testing.B) {
	c := harness.StartCluster(b, 3)
	var total, worst time.Duration
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		ctrl := c.WaitActiveController(30 * time.Second)
		survivor := c.Others(ctrl)[0]
		adm := newAdmin(b, survivor.Bootstrap())
		topic := fmt.Sprintf("failover-%d", i)

		b.StartTimer()
		c.Node(ctrl).Kill()
		killedAt := time.Now()
		eventually(b, failoverBudget, "CreateTopics after the active controller was killed", func() error {
			_, err := adm.CreateTopic(testCtx(b), 1, 1, nil, topic)
			if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
				return nil
			}
			return err
		})
		took := time.Since(killedAt)
		b.StopTimer()
		total += took
		worst = max(worst, took)
		b.Logf("iteration %d: kill -9 of controller %d to CreateTopics through node %d: %v", i, ctrl, survivor.ID(), took)

		// Rejoin: the killed node serves again and has caught up with the
		// metadata log (it lists the topic created in its absence).
		c.Node(ctrl).Restart()
		waitTopicOnAll(b, []*harness.ClusterNode{c.Node(ctrl)}, topic, 1)
		if next := c.WaitActiveController(30 * time.Second); next == ctrl && i == 0 {
			b.Logf("node %d is the active controller again after restarting", ctrl)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "failover-ms/op")
	b.ReportMetric(float64(worst.Milliseconds()), "max-failover-ms")
}

// BenchmarkBrokerFencing measures, per iteration, the time from kill -9 of a
// broker that is not the active controller until the controller's own
// Metadata no longer lists it and the partition it led shows leader -1
// (fenced; with replication factor 1 there is no other replica to take
// over). The broker is then restarted and waited for until it is
// unfenced and leads its partition again, outside the timed part.
// Reported as fence-ms/op (mean) and max-fence-ms.
func BenchmarkBrokerFencing(b *testing.B) {
	c := harness.StartCluster(b, 3)
	ctrl := c.WaitActiveController(30 * time.Second)
	watcher := c.Node(ctrl)
	const topic = "fencing-bench"
	createTopic(b, newAdmin(b, watcher.Bootstrap()), topic, 3, nil)
	waitTopicOnAll(b, []*harness.ClusterNode{watcher}, topic, 3)

	var total, worst time.Duration
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		// The controller may have moved (it should not: only brokers are
		// killed); watch whichever node leads now, kill another.
		ctrl = c.WaitActiveController(30 * time.Second)
		watcher = c.Node(ctrl)
		others := c.Others(ctrl)
		victim := others[i%len(others)]
		td, err := topicOn(b, watcher, topic)
		if err != nil {
			b.Fatal(err)
		}
		part := partitionLedBy(td, victim.ID())
		if part < 0 {
			b.Fatalf("no partition led by node %d: %+v", victim.ID(), td.Partitions)
		}

		b.StartTimer()
		victim.Kill()
		killedAt := time.Now()
		eventually(b, 15*time.Second, fmt.Sprintf("node %d fenced", victim.ID()), func() error {
			ids, err := brokersOn(b, watcher)
			if err != nil {
				return err
			}
			if slices.Contains(ids, victim.ID()) {
				return fmt.Errorf("Metadata still lists brokers %v", ids)
			}
			td, err := topicOn(b, watcher, topic)
			if err != nil {
				return err
			}
			if p := td.Partitions[part]; p.Leader != -1 {
				return fmt.Errorf("partition %d: leader %d", part, p.Leader)
			}
			return nil
		})
		took := time.Since(killedAt)
		b.StopTimer()
		total += took
		worst = max(worst, took)
		b.Logf("iteration %d: kill -9 of broker %d to fenced (partition %d leaderless) on node %d: %v", i, victim.ID(), part, ctrl, took)

		victim.Restart()
		eventually(b, 30*time.Second, fmt.Sprintf("node %d unfenced and leading again", victim.ID()), func() error {
			ids, err := brokersOn(b, watcher)
			if err != nil {
				return err
			}
			if !slices.Contains(ids, victim.ID()) {
				return fmt.Errorf("Metadata lists brokers %v", ids)
			}
			td, err := topicOn(b, watcher, topic)
			if err != nil {
				return err
			}
			if p := td.Partitions[part]; p.Leader != victim.ID() {
				return fmt.Errorf("partition %d: leader %d", part, p.Leader)
			}
			return nil
		})
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "fence-ms/op")
	b.ReportMetric(float64(worst.Milliseconds()), "max-fence-ms")
}
