package test

// Compatibility with segmentio/kafka-go: its Writer (which negotiates
// versions through ApiVersions), its group-less partition Reader and its
// Conn admin calls.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/samsa-io/samsa/test/harness"
)

// kafka-go's Conn creates a topic through the controller it finds in
// Metadata; the Writer at RequiredAcks all and one with every codec writes
// keyed messages with headers; a Reader without a GroupID, one per
// partition from FirstOffset, reads back exactly those messages, in order
// per key.
func TestKafkaGoWriterAndPartitionReaderRoundTrip(t *testing.T) {
	n := harness.StartNode(t)
	const topic, partitions = "kafkago-roundtrip", 2

	conn, err := kafka.Dial("tcp", n.Bootstrap())
	if err != nil {
		t.Fatalf("kafka.Dial: %v", err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatalf("Conn.Controller: %v", err)
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatalf("dialing the controller %s:%d: %v", ctrl.Host, ctrl.Port, err)
	}
	defer cc.Close()
	err = cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}}})
	if err != nil {
		t.Fatalf("Conn.CreateTopics: %v", err)
	}
	adm := newAdmin(t, n.Bootstrap())
	waitTopicReady(t, adm, topic, partitions)
	eventually(t, opTimeout, "kafka-go to see the partitions", func() error {
		ps, err := conn.ReadPartitions(topic)
		if err != nil {
			return err
		}
		if len(ps) != partitions {
			return fmt.Errorf("%d partitions", len(ps))
		}
		return nil
	})

	codecs := []struct {
		name  string
		codec kafka.Compression
	}{{"none", 0}, {"gzip", kafka.Gzip}, {"snappy", kafka.Snappy}, {"lz4", kafka.Lz4}, {"zstd", kafka.Zstd}}
	acks := []struct {
		name string
		acks kafka.RequiredAcks
	}{{"all", kafka.RequireAll}, {"one", kafka.RequireOne}}

	want := map[string][]kafka.Message{} // by key, in write order
	total := 0
	ts := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for _, c := range codecs {
		for _, a := range acks {
			w := &kafka.Writer{
				Addr: kafka.TCP(n.Bootstrap()), Topic: topic, Balancer: &kafka.Hash{},
				RequiredAcks: a.acks, Compression: c.codec, BatchTimeout: 5 * time.Millisecond,
				WriteTimeout: 20 * time.Second, ReadTimeout: 20 * time.Second,
			}
			var msgs []kafka.Message
			for i := 0; i < 12; i++ {
				key := fmt.Sprintf("key-%d", i%4)
				msgs = append(msgs, kafka.Message{
					Key:     []byte(key),
					Value:   []byte(fmt.Sprintf("%s/%s/%d %s", c.name, a.name, i, strings.Repeat("payload ", 8))),
					Headers: []kafka.Header{{Key: "codec", Value: []byte(c.name)}, {Key: "acks", Value: []byte(a.name)}},
					Time:    ts.Add(time.Duration(total+i) * time.Millisecond),
				})
			}
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			err := w.WriteMessages(ctx, msgs...)
			cancel()
			if err != nil {
				t.Fatalf("%s/%s: WriteMessages: %v", c.name, a.name, err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("%s/%s: closing the writer: %v", c.name, a.name, err)
			}
			for _, m := range msgs {
				want[string(m.Key)] = append(want[string(m.Key)], m)
			}
			total += len(msgs)
		}
	}

	ends := endOffsets(t, adm, topic)
	got := map[string][]kafka.Message{}
	read := 0
	for p := 0; p < partitions; p++ {
		end := ends[int32(p)]
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{n.Bootstrap()}, Topic: topic, Partition: p,
			MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		for next := int64(0); next < end; next++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				cancel()
				r.Close()
				t.Fatalf("partition %d: ReadMessage at %d of %d: %v", p, next, end, err)
			}
			if m.Offset != next {
				t.Errorf("partition %d: offset %d, want %d", p, m.Offset, next)
			}
			got[string(m.Key)] = append(got[string(m.Key)], m)
			read++
		}
		cancel()
		r.Close()
	}
	if read != total {
		t.Fatalf("read %d messages, wrote %d", read, total)
	}
	for key, ws := range want {
		gs := got[key]
		if len(gs) != len(ws) {
			t.Errorf("key %s: read %d messages, wrote %d", key, len(gs), len(ws))
			continue
		}
		for i := range ws {
			if err := sameKafkaGoMessage(ws[i], gs[i]); err != nil {
				t.Errorf("key %s message %d: %v", key, i, err)
			}
		}
	}
}

func sameKafkaGoMessage(want, got kafka.Message) error {
	if string(got.Value) != string(want.Value) {
		return fmt.Errorf("value %q, want %q", got.Value, want.Value)
	}
	if len(got.Headers) != len(want.Headers) {
		return fmt.Errorf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i, h := range want.Headers {
		if got.Headers[i].Key != h.Key || string(got.Headers[i].Value) != string(h.Value) {
			return fmt.Errorf("header %d %s=%q, want %s=%q", i, got.Headers[i].Key, got.Headers[i].Value, h.Key, h.Value)
		}
	}
	if !got.Time.Equal(want.Time) {
		return fmt.Errorf("time %v, want %v", got.Time, want.Time)
	}
	return nil
}

// kafka-go's Conn.CreateTopics answers an existing topic without error (the
// client ignores TOPIC_ALREADY_EXISTS) and an illegal name with
// INVALID_TOPIC_EXCEPTION.
func TestKafkaGoConnCreateTopicsErrors(t *testing.T) {
	n := harness.StartNode(t)
	conn, err := kafka.Dial("tcp", n.Bootstrap())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfg := kafka.TopicConfig{Topic: "kafkago-twice", NumPartitions: 1, ReplicationFactor: 1}
	if err := conn.CreateTopics(cfg); err != nil {
		t.Fatalf("first create: %v", err)
	}
	if err := conn.CreateTopics(cfg); err != nil {
		t.Errorf("second create (TOPIC_ALREADY_EXISTS is ignored by kafka-go): %v", err)
	}
	err = conn.CreateTopics(kafka.TopicConfig{Topic: "bad name!", NumPartitions: 1, ReplicationFactor: 1})
	if !errors.Is(err, kafka.InvalidTopic) {
		t.Errorf("illegal name: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
}
