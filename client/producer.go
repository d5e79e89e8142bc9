package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Acks is how many replicas must have a record before the cluster answers a
// produce.
type Acks int8

// The acks levels, with Kafka's numbers.
const (
	AcksNone   Acks = 0  // no answer is awaited; records can be lost silently
	AcksLeader Acks = 1  // the leader wrote it; lost if the leader dies before followers copy it
	AcksAll    Acks = -1 // every in-sync replica has it (the default)
)

// ParseAcks reads "0", "1", "all" or "-1" (also "none" and "leader").
func ParseAcks(s string) (Acks, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "0", "none":
		return AcksNone, nil
	case "1", "leader":
		return AcksLeader, nil
	case "all", "-1":
		return AcksAll, nil
	}
	return 0, invalidf("acks %q: want 0, 1 or all", s)
}

func (a Acks) String() string {
	switch a {
	case AcksNone:
		return "0"
	case AcksLeader:
		return "1"
	case AcksAll:
		return "all"
	}
	return fmt.Sprintf("Acks(%d)", int8(a))
}

func (a Acks) kgo() kgo.Acks {
	switch a {
	case AcksNone:
		return kgo.NoAck()
	case AcksLeader:
		return kgo.LeaderAck()
	}
	return kgo.AllISRAcks()
}

// Compression is the codec record batches are compressed with.
type Compression int8

// The codecs, with Kafka's attribute numbers.
const (
	CompressionNone   Compression = 0
	CompressionGzip   Compression = 1
	CompressionSnappy Compression = 2
	CompressionLZ4    Compression = 3
	CompressionZstd   Compression = 4
)

var compressionNames = [...]string{"none", "gzip", "snappy", "lz4", "zstd"}

// ParseCompression reads none, gzip, snappy, lz4 or zstd.
func ParseCompression(s string) (Compression, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range compressionNames {
		if s == n {
			return Compression(i), nil
		}
	}
	return 0, invalidf("compression %q: want one of %s", s, strings.Join(compressionNames[:], ", "))
}

func (c Compression) String() string {
	if c >= 0 && int(c) < len(compressionNames) {
		return compressionNames[c]
	}
	return fmt.Sprintf("Compression(%d)", int8(c))
}

func (c Compression) kgo() kgo.CompressionCodec {
	switch c {
	case CompressionGzip:
		return kgo.GzipCompression()
	case CompressionSnappy:
		return kgo.SnappyCompression()
	case CompressionLZ4:
		return kgo.Lz4Compression()
	case CompressionZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// ProducerOption configures a Producer.
type ProducerOption func(*producerConfig)

type producerConfig struct {
	acks            Acks
	compression     Compression
	idempotent      *bool // nil: on exactly when acks is all
	linger          time.Duration
	deliveryTimeout time.Duration
	onDelivery      func(Record, error)
	closeTimeout    time.Duration
	maxBuffered     int
	maxBatchBytes   int32
}

// DefaultCloseTimeout is how long Producer.Close waits for buffered records
// unless WithCloseTimeout changes it.
const DefaultCloseTimeout = 30 * time.Second

// WithCloseTimeout sets how long Close waits for buffered records to be
// delivered before it fails the rest; the default is DefaultCloseTimeout.
// Zero fails them at once. CloseContext takes its bound from its context
// instead.
func WithCloseTimeout(d time.Duration) ProducerOption {
	return func(c *producerConfig) { c.closeTimeout = d }
}

// WithMaxBufferedRecords bounds how many records may wait in the producer;
// Produce and ProduceAsync block while it is full. The default is kgo's
// (50,000).
func WithMaxBufferedRecords(n int) ProducerOption {
	return func(c *producerConfig) { c.maxBuffered = n }
}

// WithMaxBatchBytes bounds one record batch (a partition's records in one
// produce request), measured before compression. The default is
// 1,000,012 bytes, the default of the topic config max.message.bytes; set
// it to a topic's max.message.bytes when that is lower, or batches of
// small records are refused with MESSAGE_TOO_LARGE. A single record
// larger than the bound fails with MESSAGE_TOO_LARGE. It must be between
// 512 bytes and 1 GiB.
func WithMaxBatchBytes(n int32) ProducerOption {
	return func(c *producerConfig) { c.maxBatchBytes = n }
}

// WithAcks sets the acks level; the default is AcksAll.
func WithAcks(a Acks) ProducerOption { return func(c *producerConfig) { c.acks = a } }

// WithCompression sets the batch codec; the default is CompressionNone, as
// in the Java client.
func WithCompression(comp Compression) ProducerOption {
	return func(c *producerConfig) { c.compression = comp }
}

// WithIdempotence turns idempotent writes (KIP-98: no duplicates from
// retries, order kept per partition) on or off. By default it is on when
// acks is all and off otherwise; asking for it with other acks is an error.
func WithIdempotence(on bool) ProducerOption {
	return func(c *producerConfig) { c.idempotent = &on }
}

// WithLinger sets how long a batch waits for more records before it is
// sent; the default is kgo's (10ms).
func WithLinger(d time.Duration) ProducerOption {
	return func(c *producerConfig) { c.linger = d }
}

// WithDeliveryTimeout bounds how long a record may wait for delivery,
// retries included, before it fails. The default is no bound: records are
// retried until they land or the context given to Produce is done.
func WithDeliveryTimeout(d time.Duration) ProducerOption {
	return func(c *producerConfig) { c.deliveryTimeout = d }
}

// WithDeliveryHandler sets a function called once for every record given to
// Produce, with the record as written (partition and offset set) and nil,
// or with the error that failed it. It runs on the producer's single
// callback goroutine: it must be quick and must not call the Producer.
func WithDeliveryHandler(fn func(Record, error)) ProducerOption {
	return func(c *producerConfig) { c.onDelivery = fn }
}

func (c *producerConfig) kgoOpts() ([]kgo.Opt, error) {
	idempotent := c.acks == AcksAll
	if c.idempotent != nil {
		idempotent = *c.idempotent
	}
	switch {
	case c.acks != AcksNone && c.acks != AcksLeader && c.acks != AcksAll:
		return nil, invalidf("acks %d", int8(c.acks))
	case c.compression < CompressionNone || c.compression > CompressionZstd:
		return nil, invalidf("compression %d", int8(c.compression))
	case idempotent && c.acks != AcksAll:
		return nil, invalidf("idempotence needs acks=all, not acks=%s", c.acks)
	case c.linger < 0 || c.deliveryTimeout < 0 || c.closeTimeout < 0:
		return nil, invalidf("negative linger, delivery or close timeout")
	case c.maxBuffered < 0:
		return nil, invalidf("max buffered records %d", c.maxBuffered)
	case c.maxBatchBytes != 0 && (c.maxBatchBytes < 512 || c.maxBatchBytes > 1<<30):
		return nil, invalidf("max batch bytes %d, want 512 to 1 GiB", c.maxBatchBytes)
	}
	opts := []kgo.Opt{
		kgo.RequiredAcks(c.acks.kgo()),
		kgo.ProducerBatchCompression(c.compression.kgo()),
		kgo.RecordPartitioner(defaultPartitioner()),
	}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if c.linger > 0 {
		opts = append(opts, kgo.ProducerLinger(c.linger))
	}
	if c.deliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(c.deliveryTimeout))
	}
	if c.maxBuffered > 0 {
		opts = append(opts, kgo.MaxBufferedRecords(c.maxBuffered))
	}
	if c.maxBatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(c.maxBatchBytes))
	}
	return opts, nil
}

// maxReportedRecords bounds DeliveryError.Records, so that a producer whose
// records keep failing between two Flushes does not keep them all.
const maxReportedRecords = 1000

// DeliveryError is what Flush and Close return when records given to
// Produce or ProduceAsync since the previous Flush failed. It unwraps to
// the first failure, so errors.Is(err, kerr.…) asks about that one.
type DeliveryError struct {
	Failed int   // how many records failed
	First  error // the first failure, a *PartitionError
	// Records are the failed records, in the order they failed, up to
	// the first 1,000 (Failed counts them all): write them elsewhere, or
	// produce them again once the cause is fixed.
	Records []Record
}

func (e *DeliveryError) Error() string {
	if e.Failed == 1 {
		return fmt.Sprintf("1 record failed: %v", e.First)
	}
	return fmt.Sprintf("%d records failed, first: %v", e.Failed, e.First)
}

func (e *DeliveryError) Unwrap() error { return e.First }

// Producer writes records. Produce and ProduceAsync buffer and return at
// once; batches go out in the background; Flush waits for them;
// ProduceSync waits for its own records. Records to one partition are
// written in the order given.
//
// Every record accepted (Produce or ProduceAsync returned nil) is reported
// exactly once: to its ProduceAsync callback or to the delivery handler,
// and, if it failed, in the *DeliveryError of the next Flush or Close.
// Close never drops a record silently.
type Producer struct {
	parent       *Client
	kcl          *kgo.Client
	onDelivery   func(Record, error)
	closeTimeout time.Duration
	// The kgo promises, bound once so that producing allocates no
	// closure: producePromise for Produce, asyncDelivered for ProduceAsync.
	promise      func(*kgo.Record, error)
	asyncPromise func(*kgo.Record, error)
	closed       atomic.Bool
	closeOnce    sync.Once
	closeErr     error

	mu struct {
		sync.Mutex
		failed  int
		first   error
		records []Record
	}
}

// NewProducer builds a Producer owned by c.
func (c *Client) NewProducer(opts ...ProducerOption) (*Producer, error) {
	cfg := producerConfig{acks: AcksAll, closeTimeout: DefaultCloseTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	kopts, err := cfg.kgoOpts()
	if err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	kcl, err := c.newKgo(kopts...)
	if err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	p := &Producer{parent: c, kcl: kcl, onDelivery: cfg.onDelivery, closeTimeout: cfg.closeTimeout}
	p.promise, p.asyncPromise = p.producePromise, p.asyncDelivered
	if err := c.adopt(p); err != nil {
		kcl.Close()
		return nil, fmt.Errorf("new producer: %w", err)
	}
	return p, nil
}

// Produce buffers rec to be sent and returns without waiting for the
// cluster. It blocks only while the buffer is full, until ctx is done.
// It returns an error only for a record refused before buffering (no topic,
// bad partition, closed producer); every other outcome goes to the delivery
// handler and, for failures, to the next Flush. Canceling ctx fails the
// record if it has not been sent yet.
func (p *Producer) Produce(ctx context.Context, rec Record) error {
	if err := p.check(rec.Topic, rec.Partition); err != nil {
		return err
	}
	p.kcl.Produce(ctx, rec.toKgo(), p.promise)
	return nil
}

// producePromise is the kgo promise of records given to Produce, bound once in
// NewProducer so that Produce allocates no closure.
func (p *Producer) producePromise(kr *kgo.Record, err error) {
	rec, err := p.delivered(kr, err)
	if p.onDelivery != nil {
		p.onDelivery(rec, err)
	}
}

// ProduceAsync buffers rec to be sent, as Produce, and calls done once
// the cluster has acknowledged it — with the record as written (Partition,
// Offset and Timestamp set) and nil — or once it failed, with a
// *PartitionError saying where it was going and why. A failure is also
// counted by the next Flush or Close. The delivery handler is not called
// for it.
//
// It returns an error, and never calls done, only for a record refused
// before buffering (no topic, bad partition, closed producer). It blocks
// only while the buffer is full, until ctx is done; canceling ctx fails
// the record if it has not been sent yet.
//
// done runs on the producer's single callback goroutine, in order for
// records of one partition: it must be quick, and must not call Flush,
// Close or ProduceSync, which wait for that goroutine. To produce again
// from done (a retry), use ProduceAsync or Produce.
func (p *Producer) ProduceAsync(ctx context.Context, rec Record, done func(Record, error)) error {
	if done == nil {
		return invalidf("ProduceAsync without a callback: use Produce")
	}
	if err := p.check(rec.Topic, rec.Partition); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	pr := &pendingRecord{Context: ctx, done: done}
	rec.fillKgo(&pr.kr)
	pr.kr.Context = pr
	p.kcl.Produce(ctx, &pr.kr, p.asyncPromise)
	return nil
}

// pendingRecord is a record given to ProduceAsync with its callback, in one
// allocation. It travels through kgo as the record's Context (kgo's field
// for enriching records, which it leaves alone when set), so that one
// promise, bound in NewProducer, serves every record: no closure per
// record. It answers as a context with the ctx given to ProduceAsync.
type pendingRecord struct {
	context.Context
	kr   kgo.Record
	done func(Record, error)
}

// asyncDelivered is the kgo promise of records given to ProduceAsync.
func (p *Producer) asyncDelivered(kr *kgo.Record, err error) {
	pr := kr.Context.(*pendingRecord)
	pr.done(p.delivered(kr, err))
}

// ProduceSync sends recs and waits until each is written or failed. It
// returns the records as written (partition, offset and timestamp set), in
// the order given, and, if any failed, all the failures joined in that
// order. Records given to ProduceSync do
// not go to the delivery handler or to Flush.
func (p *Producer) ProduceSync(ctx context.Context, recs ...Record) ([]Record, error) {
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		if err := p.check(r.Topic, r.Partition); err != nil {
			return nil, err
		}
		krs[i] = r.toKgo()
	}
	// kgo reports results in the order they complete; answer in the
	// order given.
	index := make(map[*kgo.Record]int, len(krs))
	for i, kr := range krs {
		index[kr] = i
	}
	out := make([]Record, len(recs))
	errs := make([]error, len(recs))
	for _, res := range p.kcl.ProduceSync(ctx, krs...) {
		i := index[res.Record]
		out[i] = fromKgo(res.Record)
		if res.Err != nil {
			errs[i] = produceErr(out[i], res.Err)
		}
	}
	return out, errors.Join(errs...)
}

// Flush waits until every record given to Produce or ProduceAsync so far
// is written or failed, or ctx is done. It returns a *DeliveryError if any
// of those records failed since the previous Flush, and then forgets them.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.kcl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return p.takeFailures()
}

// Close stops the producer: as CloseContext, waiting at most the close
// timeout (WithCloseTimeout, DefaultCloseTimeout by default) for buffered
// records.
func (p *Producer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.closeTimeout)
	defer cancel()
	return p.CloseContext(ctx)
}

// CloseContext stops the producer. New records are refused with ErrClosed
// at once; records already buffered are sent, and CloseContext waits for
// them until ctx is done. Records still unsent then fail with ErrClosed;
// requests already in flight are waited for (a few seconds at most), so
// that no record is reported failed that the cluster may still write.
//
// It returns a *DeliveryError for every record given to Produce or
// ProduceAsync that failed since the previous Flush — including those
// Close failed — or nil if all were delivered. Each of them has also
// reached its callback or the delivery handler. Calls after the first
// return the first call's result.
func (p *Producer) CloseContext(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.closeErr = p.shutdown(ctx)
		p.parent.release(p)
	})
	return p.closeErr
}

// closeFromParent is Client.Close closing p: as Close, with the failures
// logged since nobody receives Close's error.
func (p *Producer) closeFromParent() {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), p.closeTimeout)
		defer cancel()
		p.closeErr = p.shutdown(ctx)
		if p.closeErr != nil {
			p.parent.cfg.logger.Error().Err(p.closeErr).Msg("client closed with undelivered records")
		}
	})
}

// abortWait bounds how long Close waits for produce requests in flight
// after it stopped waiting for the buffer to drain.
const abortWait = 5 * time.Second

func (p *Producer) shutdown(ctx context.Context) error {
	if p.kcl.Flush(ctx) != nil {
		// Fail what is unsent; wait for what is in flight to be
		// answered, so its outcome is known rather than guessed.
		actx, cancel := context.WithTimeout(context.Background(), abortWait)
		_ = p.kcl.AbortBufferedRecords(actx)
		cancel()
	}
	// Anything left (a request unanswered after abortWait) fails with
	// kgo.ErrClientClosed here, reported as ErrClosed.
	p.kcl.Close()
	return p.takeFailures()
}

// takeFailures returns and forgets the failures since the last call.
func (p *Producer) takeFailures() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.failed == 0 {
		return nil
	}
	err := &DeliveryError{Failed: p.mu.failed, First: p.mu.first, Records: p.mu.records}
	p.mu.failed, p.mu.first, p.mu.records = 0, nil, nil
	return err
}

// check refuses a record before buffering: the producer is closed, or the
// record has no topic or an impossible partition.
func (p *Producer) check(topic string, partition int32) error {
	switch {
	case p.closed.Load():
		return ErrClosed
	case topic == "":
		return invalidf("record without topic")
	case partition < AnyPartition:
		return invalidf("partition %d", partition)
	}
	return nil
}

// delivered converts a kgo outcome for a record given to Produce or
// ProduceAsync, counting a failure for Flush.
func (p *Producer) delivered(kr *kgo.Record, err error) (Record, error) {
	rec := fromKgo(kr)
	if err == nil {
		return rec, nil
	}
	err = produceErr(rec, err)
	p.mu.Lock()
	if p.mu.failed == 0 {
		p.mu.first = err
	}
	p.mu.failed++
	if len(p.mu.records) < maxReportedRecords {
		p.mu.records = append(p.mu.records, rec)
	}
	p.mu.Unlock()
	return rec, err
}

// produceErr wraps a delivery failure with where the record was going, and
// turns kgo's closed-client and aborting errors into ErrClosed.
func produceErr(r Record, err error) error {
	if errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, kgo.ErrAborting) {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return &PartitionError{Op: "produce to", Topic: r.Topic, Partition: r.Partition, Offset: -1, Err: err}
}

// choosingPartitioner sends a record whose Partition is set to that
// partition and lets base choose for AnyPartition.
type choosingPartitioner struct{ base kgo.Partitioner }

func (p choosingPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return &choosingTopicPartitioner{base: p.base.ForTopic(topic)}
}

// choosingTopicPartitioner is called by kgo under a per-topic lock, so its
// field needs no lock of its own.
//
// A record with a set Partition requires consistency, so kgo offers every
// partition (not only the writable ones) and the index it picks is the
// partition number itself.
type choosingTopicPartitioner struct {
	base         kgo.TopicPartitioner
	lastExplicit bool // the last record partitioned had Partition set
}

func (p *choosingTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.base.RequiresConsistency(r)
}

func (p *choosingTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if p.lastExplicit = r.Partition >= 0; p.lastExplicit {
		return int(r.Partition)
	}
	return p.base.Partition(r, n)
}

func (p *choosingTopicPartitioner) PartitionByBackup(r *kgo.Record, n int, it kgo.TopicBackupIter) int {
	if p.lastExplicit = r.Partition >= 0; p.lastExplicit {
		return int(r.Partition)
	}
	if bp, ok := p.base.(kgo.TopicBackupPartitioner); ok {
		return bp.PartitionByBackup(r, n, it)
	}
	return p.base.Partition(r, n)
}

// OnNewBatch passes the signal on to a sticky base partitioner, unless the
// batch is for an explicitly partitioned record, which must not move the
// base's sticky choice.
func (p *choosingTopicPartitioner) OnNewBatch() {
	if nb, ok := p.base.(kgo.TopicPartitionerOnNewBatch); ok && !p.lastExplicit {
		nb.OnNewBatch()
	}
}
