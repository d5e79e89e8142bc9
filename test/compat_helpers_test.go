package test

// Helpers shared by the client-compatibility, restart, crash and bad-input
// tests: a condition waiter, franz-go clients bound to the test, a
// read-everything consumer, and a raw Kafka-protocol connection that sends
// exactly the bytes a test wants (pinned versions, corrupt batches, garbage).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// opTimeout bounds one client operation (a create, a produce, a read-back).
const opTimeout = 30 * time.Second

// eventually retries check every 25ms until it returns nil, and fails the
// test with what and the last error once timeout passes. Metadata reaches the
// broker through the metadata log, so what a create or delete changes may
// take a moment to show.
func eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %s for %s: %v", timeout, what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// testCtx is a context bounded by opTimeout and cancelled at test end.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newKgo returns a franz-go client seeded with bootstrap, closed at test end.
func newKgo(t testing.TB, bootstrap string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.ClientID("samsa-compat-test")}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// newAdmin returns a kadm client on its own kgo client. kadm answers
// metadata questions from the client's cache when it is younger than
// MetadataMinAge (5s by default); the tests want what the broker says now.
func newAdmin(t testing.TB, bootstrap string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newKgo(t, bootstrap, kgo.MetadataMinAge(10*time.Millisecond)))
}

// strp returns a pointer to s (config values are *string in kadm).
func strp(s string) *string { return &s }

// createTopic creates topic with partitions and configs through CreateTopics
// and waits until Metadata shows every partition with a leader.
func createTopic(t testing.TB, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	t.Helper()
	resp, err := adm.CreateTopic(testCtx(t), partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("CreateTopics %s (%d partitions, configs %v): %v %s", topic, partitions, configs, err, resp.ErrMessage)
	}
	waitTopicReady(t, adm, topic, partitions)
	return resp
}

// waitTopicReady waits until Metadata lists topic with n partitions, each
// with a leader.
func waitTopicReady(t testing.TB, adm *kadm.Client, topic string, n int32) kadm.TopicDetail {
	t.Helper()
	var detail kadm.TopicDetail
	eventually(t, opTimeout, "topic "+topic+" to be ready", func() error {
		tds, err := adm.ListTopics(testCtx(t), topic)
		if err != nil {
			return err
		}
		td, ok := tds[topic]
		if !ok {
			return fmt.Errorf("not in metadata")
		}
		if td.Err != nil {
			return td.Err
		}
		if len(td.Partitions) != int(n) {
			return fmt.Errorf("%d partitions, want %d", len(td.Partitions), n)
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return fmt.Errorf("partition %d: leader %d, err %v", p.Partition, p.Leader, p.Err)
			}
		}
		detail = td
		return nil
	})
	return detail
}

// endOffsets lists the latest offsets of topic (high watermarks).
func endOffsets(t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	lo, err := adm.ListEndOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatalf("ListOffsets(latest) %s: %v", topic, err)
	}
	out := make(map[int32]int64)
	for p, o := range lo[topic] {
		if o.Err != nil {
			t.Fatalf("ListOffsets(latest) %s-%d: %v", topic, p, o.Err)
		}
		out[p] = o.Offset
	}
	return out
}

// consumeAll reads every record of topic, from the log start of every
// partition up to the end offsets listed when it is called, with a kgo
// direct (group-less) consumer. Records come back in partition order, then
// offset order.
func consumeAll(t testing.TB, bootstrap, topic string, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	adm := newAdmin(t, bootstrap)
	ends := endOffsets(t, adm, topic)
	return consumeUntil(t, bootstrap, topic, ends, opts...)
}

// consumeUntil reads topic from the start of every partition until each
// partition p has reached ends[p]; it fails the test after opTimeout.
func consumeUntil(t testing.TB, bootstrap, topic string, ends map[int32]int64, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	parts := make(map[int32]kgo.Offset)
	remaining := 0
	for p, end := range ends {
		if end > 0 {
			parts[p] = kgo.NewOffset().AtStart()
			remaining++
		}
	}
	if remaining == 0 {
		return nil
	}
	all := append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts})}, opts...)
	cl := newKgo(t, bootstrap, all...)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	next := make(map[int32]int64)
	byPart := make(map[int32][]*kgo.Record)
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s back: still missing records after %s: at %v, want %v", topic, opTimeout, next, ends)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("reading %s back: fetch error on partition %d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[r.Partition] {
				return
			}
			byPart[r.Partition] = append(byPart[r.Partition], r)
			next[r.Partition] = r.Offset + 1
			if next[r.Partition] == ends[r.Partition] {
				remaining--
			}
		})
	}
	var ps []int32
	for p := range byPart {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	var out []*kgo.Record
	for _, p := range ps {
		out = append(out, byPart[p]...)
	}
	return out
}

// sameRecord reports how got differs from want in key, value, headers and
// (when want has one) timestamp, keeping null apart from empty.
func sameRecord(want, got *kgo.Record) error {
	if err := sameBytes("key", want.Key, got.Key); err != nil {
		return err
	}
	if err := sameBytes("value", want.Value, got.Value); err != nil {
		return err
	}
	if len(want.Headers) != len(got.Headers) {
		return fmt.Errorf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i, h := range want.Headers {
		g := got.Headers[i]
		if g.Key != h.Key {
			return fmt.Errorf("header %d key %q, want %q", i, g.Key, h.Key)
		}
		if err := sameBytes(fmt.Sprintf("header %q value", h.Key), h.Value, g.Value); err != nil {
			return err
		}
	}
	if !want.Timestamp.IsZero() && want.Timestamp.UnixMilli() != got.Timestamp.UnixMilli() {
		return fmt.Errorf("timestamp %d, want %d", got.Timestamp.UnixMilli(), want.Timestamp.UnixMilli())
	}
	return nil
}

func sameBytes(what string, want, got []byte) error {
	if (want == nil) != (got == nil) {
		return fmt.Errorf("%s: got null=%v, want null=%v", what, got == nil, want == nil)
	}
	if !bytes.Equal(want, got) {
		return fmt.Errorf("%s: got %d bytes %q, want %d bytes %q", what, len(got), trunc(got), len(want), trunc(want))
	}
	return nil
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// ---- raw Kafka protocol -------------------------------------------------

// rawConn is one TCP connection speaking the Kafka protocol by hand, so a
// test controls versions and bytes exactly.
type rawConn struct {
	t    testing.TB
	nc   net.Conn
	corr int32
	fmt  *kmsg.RequestFormatter
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("samsa-raw-test"))}
}

// write sends b as is.
func (c *rawConn) write(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

// send writes req at its set version and returns its correlation id.
func (c *rawConn) send(req kmsg.Request) (int32, error) {
	c.corr++
	return c.corr, c.write(c.fmt.AppendRequest(nil, req, c.corr))
}

// readFrame reads one response frame (without its length prefix).
func (c *rawConn) readFrame(timeout time.Duration) ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	var lenBuf [4]byte
	if _, err := io.ReadFull(c.nc, lenBuf[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(lenBuf[:]))
	if n < 4 || n > 256<<20 {
		return nil, fmt.Errorf("response frame length %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.nc, buf); err != nil {
		return nil, fmt.Errorf("reading %d-byte response: %w", n, err)
	}
	return buf, nil
}

// roundTrip sends req at the version set on it and decodes the response at
// the same version.
func (c *rawConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	corr, err := c.send(req)
	if err != nil {
		return nil, fmt.Errorf("writing %s v%d: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return c.readResponse(req, corr)
}

func (c *rawConn) readResponse(req kmsg.Request, corr int32) (kmsg.Response, error) {
	name := fmt.Sprintf("%s v%d", kmsg.NameForKey(req.Key()), req.GetVersion())
	frame, err := c.readFrame(30 * time.Second)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s: %w", name, err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	return resp, decodeResponse(frame, corr, resp, name)
}

// decodeResponse checks the correlation id, skips the flexible response
// header's tags (every flexible response but ApiVersions has them) and
// decodes the body into resp.
func decodeResponse(frame []byte, corr int32, resp kmsg.Response, name string) error {
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return fmt.Errorf("%s: correlation id %d, want %d", name, got, corr)
	}
	body := frame[4:]
	if resp.IsFlexible() && resp.Key() != 18 {
		var err error
		if body, err = skipTags(body); err != nil {
			return fmt.Errorf("%s: response header: %w", name, err)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("%s: decoding response body (%d bytes): %w", name, len(body), err)
	}
	return nil
}

func skipTags(b []byte) ([]byte, error) {
	n, used := binary.Uvarint(b)
	if used <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[used:]
	for i := uint64(0); i < n; i++ {
		if _, used = binary.Uvarint(b); used <= 0 {
			return nil, errors.New("bad tag key")
		}
		b = b[used:]
		size, used := binary.Uvarint(b)
		if used <= 0 || size > uint64(len(b)-used) {
			return nil, errors.New("bad tag size")
		}
		b = b[used+int(size):]
	}
	return b, nil
}

// expectClosed waits up to timeout for the server to close the connection:
// nil once a read returns EOF or a reset, an error if the server sends data
// instead or keeps the connection open.
func (c *rawConn) expectClosed(timeout time.Duration) error {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	var buf [512]byte
	n, err := c.nc.Read(buf[:])
	switch {
	case n > 0:
		return fmt.Errorf("server answered %d bytes (%x) instead of closing", n, trunc(buf[:n]))
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return nil
	case err != nil && isTimeout(err):
		return fmt.Errorf("connection still open after %s", timeout)
	case err != nil:
		return nil // reset by peer: closed
	}
	return errors.New("read returned nothing")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ---- hand-built record batches -------------------------------------------

// rawRecord is one record for encodeBatch.
type rawRecord struct {
	key, value []byte // nil is null
	tsDelta    int64
}

// batchSpec is the producer side of a RecordBatch v2 header.
type batchSpec struct {
	producerID    int64
	producerEpoch int16
	baseSequence  int32
	firstTs       int64
	attributes    int16
}

// encodeBatch encodes a RecordBatch v2 (magic 2) with a valid CRC-32C,
// base offset 0 and partition leader epoch -1, as a producer sends it.
func encodeBatch(spec batchSpec, recs []rawRecord) []byte {
	var records []byte
	maxTs := spec.firstTs
	for i, r := range recs {
		var body []byte
		body = append(body, 0) // attributes
		body = binary.AppendVarint(body, r.tsDelta)
		body = binary.AppendVarint(body, int64(i))
		body = appendVarBytes(body, r.key)
		body = appendVarBytes(body, r.value)
		body = binary.AppendVarint(body, 0) // headers
		records = binary.AppendVarint(records, int64(len(body)))
		records = append(records, body...)
		maxTs = max(maxTs, spec.firstTs+r.tsDelta)
	}
	b := make([]byte, 0, 61+len(records))
	b = binary.BigEndian.AppendUint64(b, 0)                          // base offset
	b = binary.BigEndian.AppendUint32(b, uint32(49+len(records)))    // batch length
	b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)                 // partition leader epoch
	b = append(b, 2)                                                 // magic
	b = binary.BigEndian.AppendUint32(b, 0)                          // crc, below
	b = binary.BigEndian.AppendUint16(b, uint16(spec.attributes))    // attributes
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)-1))        // last offset delta
	b = binary.BigEndian.AppendUint64(b, uint64(spec.firstTs))       // first timestamp
	b = binary.BigEndian.AppendUint64(b, uint64(maxTs))              // max timestamp
	b = binary.BigEndian.AppendUint64(b, uint64(spec.producerID))    // producer id
	b = binary.BigEndian.AppendUint16(b, uint16(spec.producerEpoch)) // producer epoch
	b = binary.BigEndian.AppendUint32(b, uint32(spec.baseSequence))  // base sequence
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)))          // record count
	b = append(b, records...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func appendVarBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

// plainBatch is a non-idempotent batch of n records with the given values.
func plainBatch(values ...string) []byte {
	recs := make([]rawRecord, len(values))
	for i, v := range values {
		recs[i] = rawRecord{key: []byte(fmt.Sprintf("k%d", i)), value: []byte(v)}
	}
	return encodeBatch(batchSpec{producerID: -1, producerEpoch: -1, baseSequence: -1, firstTs: time.Now().UnixMilli()}, recs)
}

// produceRaw sends one Produce (acks=all) of batch to topic/partition at
// version v and returns that partition's answer.
func produceRaw(t testing.TB, c *rawConn, v int16, topic string, partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(v)
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.roundTrip(req)
	if err != nil {
		t.Fatalf("raw Produce v%d to %s-%d: %v", v, topic, partition, err)
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		t.Fatalf("raw Produce v%d to %s-%d: answer has %d topics, want 1 with 1 partition", v, topic, partition, len(pr.Topics))
	}
	return pr.Topics[0].Partitions[0]
}

// errName renders a Kafka error code with its name.
func errName(code int16) string {
	if code == 0 {
		return "NONE(0)"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return fmt.Sprintf("%s(%d)", ke.Message, code)
		}
	}
	return fmt.Sprintf("code %d", code)
}

// fetchBatches reads the raw record batches of topic/partition from offset
// with a Fetch v12 (topic names) over c.
func fetchBatches(t testing.TB, c *rawConn, topic string, partition int32, offset int64) []kmsg.RecordBatch {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxWaitMillis = 0
	req.MinBytes = 0
	req.MaxBytes = 64 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 64 << 20
	rp.CurrentLeaderEpoch = -1
	rp.LastFetchedEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.roundTrip(req)
	if err != nil {
		t.Fatalf("raw Fetch %s-%d: %v", topic, partition, err)
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 {
		t.Fatalf("raw Fetch %s-%d: top-level error %s", topic, partition, errName(fr.ErrorCode))
	}
	if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		t.Fatalf("raw Fetch %s-%d: %d topics in the answer", topic, partition, len(fr.Topics))
	}
	fp := fr.Topics[0].Partitions[0]
	if fp.ErrorCode != 0 {
		t.Fatalf("raw Fetch %s-%d: %s", topic, partition, errName(fp.ErrorCode))
	}
	var batches []kmsg.RecordBatch
	for b := fp.RecordBatches; len(b) >= 12; {
		size := 12 + int(int32(binary.BigEndian.Uint32(b[8:])))
		if size > len(b) {
			break // a partial batch at the end is allowed
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:size]); err != nil {
			t.Fatalf("raw Fetch %s-%d: batch does not decode: %v", topic, partition, err)
		}
		batches = append(batches, rb)
		b = b[size:]
	}
	return batches
}
