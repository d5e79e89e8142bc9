package test

// Compatibility with IBM/sarama: its sync producer, its partition consumer
// and its cluster admin, as an application built on sarama uses them.
// Its consumer group is in groups_clients_test.go.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/samsa-io/samsa/test/harness"
)

// saramaVersion is the newest Kafka version sarama knows. sarama picks each
// request's version from it and then clamps it to the range the broker
// advertised in ApiVersions (for example DescribeCluster v2 at 4.x becomes
// v1 against Samsa), so the newest is the strongest test.
var saramaVersion = sarama.MaxVersion

func saramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = saramaVersion
	c.ClientID = "samsa-sarama-test"
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Retry.Max = 3
	c.Metadata.AllowAutoTopicCreation = false
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 250 * time.Millisecond
	c.Admin.Timeout = 20 * time.Second
	return c
}

// The sync producer with keys, headers and explicit timestamps, with each
// codec (none, gzip, snappy, lz4, zstd) at acks=all (WaitForAll) and acks=1
// (WaitForLocal); the partition consumer from OffsetOldest reads back
// exactly what was acknowledged, at the acknowledged partitions and offsets.
func TestSaramaProduceAndConsumeRoundTrip(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "sarama-roundtrip"
	createTopic(t, adm, topic, 2, nil)

	codecs := []struct {
		name  string
		codec sarama.CompressionCodec
	}{
		{"none", sarama.CompressionNone},
		{"gzip", sarama.CompressionGZIP},
		{"snappy", sarama.CompressionSnappy},
		{"lz4", sarama.CompressionLZ4},
		{"zstd", sarama.CompressionZSTD},
	}
	acks := []struct {
		name string
		acks sarama.RequiredAcks
	}{{"all", sarama.WaitForAll}, {"local", sarama.WaitForLocal}}

	type pos struct {
		partition int32
		offset    int64
	}
	produced := map[pos]*sarama.ProducerMessage{}
	ts := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for _, c := range codecs {
		for _, a := range acks {
			cfg := saramaConfig()
			cfg.Producer.Compression = c.codec
			cfg.Producer.RequiredAcks = a.acks
			p, err := sarama.NewSyncProducer([]string{n.Bootstrap()}, cfg)
			if err != nil {
				t.Fatalf("%s/%s: NewSyncProducer: %v", c.name, a.name, err)
			}
			var msgs []*sarama.ProducerMessage
			for i := 0; i < 10; i++ {
				msgs = append(msgs, &sarama.ProducerMessage{
					Topic:     topic,
					Key:       sarama.StringEncoder(fmt.Sprintf("%s-%s-%d", c.name, a.name, i)),
					Value:     sarama.StringEncoder(strings.Repeat(c.name+" sarama value ", 10+i)),
					Headers:   []sarama.RecordHeader{{Key: []byte("codec"), Value: []byte(c.name)}, {Key: []byte("acks"), Value: []byte(a.name)}},
					Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
				})
			}
			if err := p.SendMessages(msgs); err != nil {
				var pe sarama.ProducerErrors
				if errors.As(err, &pe) && len(pe) > 0 {
					err = fmt.Errorf("%d failed, first: %w", len(pe), pe[0].Err)
				}
				t.Fatalf("%s/%s: SendMessages: %v", c.name, a.name, err)
			}
			if err := p.Close(); err != nil {
				t.Errorf("%s/%s: closing producer: %v", c.name, a.name, err)
			}
			for _, m := range msgs {
				k := pos{m.Partition, m.Offset}
				if _, dup := produced[k]; dup {
					t.Fatalf("two messages acknowledged at %d/%d", m.Partition, m.Offset)
				}
				produced[k] = m
			}
		}
	}

	ends := endOffsets(t, adm, topic)
	var total int64
	for _, e := range ends {
		total += e
	}
	if total != int64(len(produced)) {
		t.Fatalf("end offsets %v add up to %d, want %d", ends, total, len(produced))
	}

	consumer, err := sarama.NewConsumer([]string{n.Bootstrap()}, saramaConfig())
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer consumer.Close()
	for part, end := range ends {
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition %d: %v", part, err)
		}
		timeout := time.After(opTimeout)
		for next := int64(0); next < end; next++ {
			var m *sarama.ConsumerMessage
			select {
			case m = <-pc.Messages():
			case cerr := <-pc.Errors():
				t.Fatalf("partition %d: consumer error: %v", part, cerr)
			case <-timeout:
				t.Fatalf("partition %d: read up to offset %d of %d within %s", part, next, end, opTimeout)
			}
			if m.Offset != next {
				t.Errorf("partition %d: got offset %d, want %d", part, m.Offset, next)
			}
			want, ok := produced[pos{part, m.Offset}]
			if !ok {
				t.Errorf("partition %d offset %d: not acknowledged to the producer", part, m.Offset)
				continue
			}
			if err := sameSaramaMessage(want, m); err != nil {
				t.Errorf("partition %d offset %d: %v", part, m.Offset, err)
			}
		}
		pc.Close()
	}
}

func sameSaramaMessage(want *sarama.ProducerMessage, got *sarama.ConsumerMessage) error {
	wk, _ := want.Key.Encode()
	wv, _ := want.Value.Encode()
	if string(got.Key) != string(wk) {
		return fmt.Errorf("key %q, want %q", got.Key, wk)
	}
	if string(got.Value) != string(wv) {
		return fmt.Errorf("value %q, want %q", got.Value, wv)
	}
	if len(got.Headers) != len(want.Headers) {
		return fmt.Errorf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i, h := range want.Headers {
		if string(got.Headers[i].Key) != string(h.Key) || string(got.Headers[i].Value) != string(h.Value) {
			return fmt.Errorf("header %d %q=%q, want %q=%q", i, got.Headers[i].Key, got.Headers[i].Value, h.Key, h.Value)
		}
	}
	if !got.Timestamp.Equal(want.Timestamp) {
		return fmt.Errorf("timestamp %v, want %v", got.Timestamp, want.Timestamp)
	}
	return nil
}

// sarama's ClusterAdmin: CreateTopic with partitions and configs,
// ListTopics showing both, a duplicate create refused with
// TOPIC_ALREADY_EXISTS, DescribeCluster, and DeleteTopic.
func TestSaramaClusterAdminTopicLifecycle(t *testing.T) {
	n := harness.StartNode(t)
	ca, err := sarama.NewClusterAdmin([]string{n.Bootstrap()}, saramaConfig())
	if err != nil {
		t.Fatalf("NewClusterAdmin: %v", err)
	}
	defer ca.Close()
	const topic = "sarama-admin"
	detail := &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": strp("7200000")}}
	if err := ca.CreateTopic(topic, detail, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	eventually(t, opTimeout, "ListTopics to show "+topic, func() error {
		topics, err := ca.ListTopics()
		if err != nil {
			return err
		}
		d, ok := topics[topic]
		switch {
		case !ok:
			return errors.New("not listed")
		case d.NumPartitions != 3:
			return fmt.Errorf("%d partitions, want 3", d.NumPartitions)
		case d.ConfigEntries["retention.ms"] == nil || *d.ConfigEntries["retention.ms"] != "7200000":
			return fmt.Errorf("configs %v, want retention.ms=7200000", d.ConfigEntries)
		}
		return nil
	})
	err = ca.CreateTopic(topic, detail, false)
	if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Errorf("creating it again: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	brokers, controller, err := ca.DescribeCluster()
	if err != nil {
		t.Errorf("DescribeCluster: %v", err)
	} else if len(brokers) != 1 || controller < 0 {
		t.Errorf("DescribeCluster: %d brokers, controller %d; want 1 broker and a controller", len(brokers), controller)
	}

	if err := ca.DeleteTopic(topic); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	eventually(t, opTimeout, topic+" to leave ListTopics", func() error {
		topics, err := ca.ListTopics()
		if err != nil {
			return err
		}
		if _, ok := topics[topic]; ok {
			return errors.New("still listed")
		}
		return nil
	})
}
