package test

// Consumer groups with sarama, kafka-go and confluent-kafka-python: the
// partitions split across members, a member leaving hands its partitions
// to the others, and a restarted consumer resumes from the committed
// offsets with no committed record delivered again.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
)

// groupScenario runs the scenario shared by the client tests: two members
// split a six-partition topic and consume it; one leaves and the other
// takes everything; the last one stops; a new member resumes after the
// committed offsets. start starts a member recording into got and returns
// its stop function.
func groupScenario(t *testing.T, group string, start func(t *testing.T, bootstrap, topic string, got *delivered) (stop func())) {
	n := startGroupNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic, partitions = "client-group-topic", 6
	createTopic(t, adm, topic, partitions, nil)
	ends := produceSpread(t, n.Bootstrap(), topic, partitions, 10, "first")

	got := newDelivered()
	stopA := start(t, n.Bootstrap(), topic, got)
	stopB := start(t, n.Bootstrap(), topic, got)
	waitAssignment(t, adm, group, topic, partitions, 2)
	eventually(t, opTimeout, "the first records to be delivered", func() error { return got.reached(ends) })
	waitCommitted(t, adm, group, topic, ends)

	stopB()
	waitAssignment(t, adm, group, topic, partitions, 1)
	ends = produceSpread(t, n.Bootstrap(), topic, partitions, 5, "second")
	eventually(t, opTimeout, "the second records to be delivered", func() error { return got.reached(ends) })
	waitCommitted(t, adm, group, topic, ends)
	stopA()

	final := produceSpread(t, n.Bootstrap(), topic, partitions, 5, "third")
	again := newDelivered()
	stop := start(t, n.Bootstrap(), topic, again)
	defer stop()
	eventually(t, opTimeout, "the restarted consumer to read the third records", func() error { return again.reached(final) })
	if dup := again.below(ends); len(dup) > 0 {
		t.Fatalf("the restarted consumer was given %d committed records again: %v", len(dup), dup)
	}
}

type saramaGroupHandler struct{ got *delivered }

func (saramaGroupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaGroupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h saramaGroupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.got.add(msg.Partition, msg.Offset)
		sess.MarkMessage(msg, "")
	}
	return nil
}

// sarama's consumer group (range strategy, autocommit), at the newest
// protocol versions sarama knows.
func TestSaramaConsumerGroup(t *testing.T) {
	const group = "sarama-group"
	groupScenario(t, group, func(t *testing.T, bootstrap, topic string, got *delivered) func() {
		cfg := saramaConfig()
		cfg.Consumer.Return.Errors = false
		cfg.Consumer.Group.Session.Timeout = groupSession
		cfg.Consumer.Group.Heartbeat.Interval = groupHeartbeat
		cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
		g, err := sarama.NewConsumerGroup([]string{bootstrap}, group, cfg)
		if err != nil {
			t.Fatalf("sarama.NewConsumerGroup: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{topic}, saramaGroupHandler{got}); errors.Is(err, sarama.ErrClosedConsumerGroup) {
					return
				}
			}
		}()
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			<-done
			if err := g.Close(); err != nil {
				t.Errorf("closing the sarama consumer group: %v", err)
			}
		}
		t.Cleanup(stop)
		return stop
	})
}

// kafka-go's Reader with a GroupID, committing each message as it is read.
func TestKafkaGoReaderGroup(t *testing.T) {
	const group = "kafkago-group"
	groupScenario(t, group, func(t *testing.T, bootstrap, topic string, got *delivered) func() {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: []string{bootstrap}, GroupID: group, Topic: topic,
			MaxWait: 100 * time.Millisecond, StartOffset: kafka.FirstOffset,
			SessionTimeout: groupSession, HeartbeatInterval: groupHeartbeat, RebalanceTimeout: 5 * time.Second,
			JoinGroupBackoff: 100 * time.Millisecond, ReadBackoffMin: 10 * time.Millisecond, ReadBackoffMax: 100 * time.Millisecond,
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				got.add(int32(m.Partition), m.Offset)
			}
		}()
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			<-done
			if err := r.Close(); err != nil {
				t.Errorf("closing the kafka-go reader: %v", err)
			}
		}
		t.Cleanup(stop)
		return stop
	})
}

// groupPySummary is the JSON line group.py prints.
type groupPySummary struct {
	OK            bool       `json:"ok"`
	Library       string     `json:"library"`
	Delivered     [][2]int64 `json:"delivered"`
	Assigned      []int32    `json:"assigned"`
	ConsumeErrors []string   `json:"consume_errors"`
	ClientErrors  []string   `json:"client_errors"`
	CommitError   *string    `json:"commit_error"`
}

// confluent-kafka-python (librdkafka) subscribes in a group, is assigned
// every partition, reads, commits and closes; run again, it resumes after
// what it committed.
func TestPythonConfluentKafkaGroup(t *testing.T) {
	py := pythonWithConfluentKafka(t)
	n := startGroupNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic, partitions, group = "python-group", 3, "python-group"
	createTopic(t, adm, topic, partitions, nil)

	run := func(expect int) groupPySummary {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, filepath.Join("python", "group.py"), "--bootstrap", n.Bootstrap(),
			"--topic", topic, "--group", group, "--expect", strconv.Itoa(expect))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var s groupPySummary
		if jerr := json.Unmarshal(bytes.TrimSpace(out), &s); jerr != nil {
			t.Fatalf("group.py: %v (output %q, stderr %q)", err, out, stderr.String())
		}
		t.Logf("%s: delivered %d, assigned %v", s.Library, len(s.Delivered), s.Assigned)
		if !s.OK || err != nil {
			t.Fatalf("group.py failed: %v: %+v (stderr %q)", err, s, stderr.String())
		}
		return s
	}
	ends := produceSpread(t, n.Bootstrap(), topic, partitions, 10, "first")
	first := run(30)
	if len(first.Assigned) != partitions {
		t.Fatalf("assigned %v, want all %d partitions", first.Assigned, partitions)
	}
	waitCommitted(t, adm, group, topic, ends)
	produceSpread(t, n.Bootstrap(), topic, partitions, 5, "second")
	for _, d := range run(15).Delivered {
		if d[1] < ends[int32(d[0])] {
			t.Fatalf("the second run was given committed record %d@%d again", d[0], d[1])
		}
	}
}
