package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/storage"
)

// PartitionConfig is the part of a topic's configuration that the produce
// and fetch paths enforce.
type PartitionConfig struct {
	// MaxMessageBytes is max.message.bytes: the largest record batch.
	MaxMessageBytes int
	// LogAppendTime is message.timestamp.type=LogAppendTime.
	LogAppendTime bool
	// TimestampBeforeMaxMs and TimestampAfterMaxMs bound how far a
	// CreateTime timestamp may be behind or ahead of the broker's clock.
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
	// MinInsyncReplicas is min.insync.replicas, checked for acks=all.
	MinInsyncReplicas int
	// RetentionMs and RetentionBytes are retention.ms and retention.bytes
	// (-1: unlimited), enforced by the Manager's retention loop.
	RetentionMs    int64
	RetentionBytes int64
	// Delete and Compact are cleanup.policy: delete applies retention.ms
	// and retention.bytes; compact keeps the latest record per key (the
	// Manager's loop runs storage.Log.Compact with Compaction) and refuses
	// records without a key. Both may be set.
	Delete     bool
	Compact    bool
	Compaction storage.CompactionConfig
}

// DefaultPartitionConfig returns Kafka's topic defaults.
func DefaultPartitionConfig() PartitionConfig {
	return PartitionConfig{
		MaxMessageBytes:      1048588,
		TimestampBeforeMaxMs: 1<<63 - 1,
		TimestampAfterMaxMs:  3600000,
		MinInsyncReplicas:    1,
		RetentionMs:          7 * 24 * 3600 * 1000,
		RetentionBytes:       -1,
		Delete:               true,
		Compaction:           storage.DefaultCompactionConfig(),
	}
}

// LeaderState is what the metadata image says about a partition.
type LeaderState struct {
	Leader      int32
	LeaderEpoch int32
	ISR         []int32
	Replicas    []int32
}

// AppendResult describes where a produced payload landed.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	// Duplicate is set when the payload was a producer retry of batches
	// already in the log; the offsets are the original ones.
	Duplicate bool
}

// Partition is one replica of a partition hosted by this broker.
//
// Offsets are assigned under appendMu, which also guards the producer state:
// the sequence check and the offset assignment of a batch are one step. The
// high watermark (mu.hw) only ratchets up and never passes the durable end
// offset of the log; with the single in-sync replica of this release it is
// exactly that durable end offset.
type Partition struct {
	Topic   string
	Index   int32
	TopicID [16]byte

	nodeID int32
	log    *storage.Log
	logger zerolog.Logger

	appendMu  sync.Mutex
	producers producerState // guarded by appendMu

	// segmentSettings are the storage settings last applied; read and
	// written only under Manager.mu.
	segmentSettings storage.Config

	mu struct {
		sync.Mutex
		state   LeaderState
		cfg     PartitionConfig
		hw      int64
		waiters map[chan struct{}]struct{}
		closed  bool
	}

	// background syncs for acks=0 appends, which no request waits for.
	syncKick chan struct{}
	stop     chan struct{}
	done     chan struct{}
}

func newPartition(topic string, index int32, topicID [16]byte, nodeID int32, log *storage.Log, logger zerolog.Logger) (*Partition, error) {
	p := &Partition{
		Topic: topic, Index: index, TopicID: topicID,
		nodeID: nodeID, log: log,
		logger:    logger.With().Str("topic", topic).Int32("partition", index).Logger(),
		producers: make(producerState),
		syncKick:  make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	p.mu.cfg = DefaultPartitionConfig()
	p.mu.waiters = make(map[chan struct{}]struct{})
	p.mu.state = LeaderState{Leader: -1, LeaderEpoch: -1}
	// Everything that survived recovery was durable before the crash or
	// has been fsynced by Open, so it is committed.
	p.mu.hw = log.DurableOffset()
	if err := p.rebuildProducerState(); err != nil {
		return nil, err
	}
	go p.backgroundSync()
	return p, nil
}

// rebuildProducerState replays batch headers so that idempotent producers
// keep their duplicate detection across restarts.
func (p *Partition) rebuildProducerState() error {
	err := p.log.ScanBatchHeaders(p.log.LogStartOffset(), func(h storage.BatchHeader) error {
		p.producers.record(h)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuilding producer state of %s-%d: %w", p.Topic, p.Index, err)
	}
	return nil
}

// setState applies a new leader state and configuration from metadata. A
// replica that becomes leader records its epoch in the log's epoch cache at
// the log end offset, as Kafka does (KIP-101), so that OffsetForLeaderEpoch
// answers for the current epoch, and for the epochs between the last one
// with data and it, before the first append of the epoch.
func (p *Partition) setState(st LeaderState, cfg PartitionConfig) {
	if st.Leader == p.nodeID && st.LeaderEpoch >= 0 {
		if err := p.log.AssignLeaderEpoch(st.LeaderEpoch); err != nil {
			p.logger.Error().Err(err).Int32("epoch", st.LeaderEpoch).Msg("recording the leader epoch failed")
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st.LeaderEpoch != p.mu.state.LeaderEpoch || st.Leader != p.mu.state.Leader {
		p.logger.Info().Int32("epoch", st.LeaderEpoch).Int32("leader", st.Leader).
			Bool("is_leader", st.Leader == p.nodeID).Msg("partition leadership changed")
	}
	p.mu.state = st
	p.mu.cfg = cfg
	p.wakeWaitersLocked()
}

// LeaderEpoch returns the current leader epoch, -1 if unknown.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.state.LeaderEpoch
}

// State returns the current leader state.
func (p *Partition) State() LeaderState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.state
}

// HighWatermark is the offset below which records are committed.
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.hw
}

// LogStartOffset and LogEndOffset report the log's bounds.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset is the offset the next appended record will get.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// errNotLeader is returned when this replica cannot serve leader requests.
var errNotLeader = fmt.Errorf("replication: this broker is not the partition leader: %w", kerr.NotLeaderForPartition)

// ErrClosed is returned by a partition that has been closed or deleted.
var ErrClosed = fmt.Errorf("replication: partition closed: %w", kerr.NotLeaderForPartition)

// checkLeaderLocked verifies this replica leads the partition and, when the
// client sent one (>= 0), that its leader epoch is current (KIP-320).
func (p *Partition) checkLeaderLocked(clientEpoch int32) error {
	switch {
	case p.mu.closed:
		return ErrClosed
	case p.mu.state.Leader != p.nodeID:
		return errNotLeader
	case clientEpoch < 0 || clientEpoch == p.mu.state.LeaderEpoch:
		return nil
	case clientEpoch < p.mu.state.LeaderEpoch:
		return fmt.Errorf("leader epoch %d is older than %d: %w", clientEpoch, p.mu.state.LeaderEpoch, kerr.FencedLeaderEpoch)
	default:
		return fmt.Errorf("leader epoch %d is newer than %d: %w", clientEpoch, p.mu.state.LeaderEpoch, kerr.UnknownLeaderEpoch)
	}
}

// CheckLeader verifies that this replica is the leader at clientEpoch (-1
// skips the epoch check).
func (p *Partition) CheckLeader(clientEpoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkLeaderLocked(clientEpoch)
}

// Append validates a produce payload and appends it. It does not wait for
// durability: the caller follows with WaitAcked (acks 1 and all) or
// SyncInBackground (acks 0). acks is checked against min.insync.replicas
// before anything is written.
func (p *Partition) Append(payload []byte, acks int16) (AppendResult, error) {
	p.mu.Lock()
	cfg, state := p.mu.cfg, p.mu.state
	err := p.checkLeaderLocked(-1)
	p.mu.Unlock()
	if err != nil {
		return AppendResult{}, err
	}
	if acks == -1 && len(state.ISR) < cfg.MinInsyncReplicas {
		return AppendResult{}, fmt.Errorf("%d in-sync replicas, min.insync.replicas is %d: %w",
			len(state.ISR), cfg.MinInsyncReplicas, kerr.NotEnoughReplicas)
	}
	headers, err := storage.ValidateBatches(payload, cfg.MaxMessageBytes)
	if err != nil {
		return AppendResult{}, err
	}
	appendTime := int64(-1)
	now := time.Now().UnixMilli()
	if cfg.LogAppendTime {
		appendTime = now
	} else if err := checkTimestamps(headers, now, cfg); err != nil {
		return AppendResult{}, err
	}
	if err := checkClientBatches(headers); err != nil {
		return AppendResult{}, err
	}
	if err := checkProducerBatches(headers); err != nil {
		return AppendResult{}, err
	}
	if cfg.Compact {
		if err := storage.CheckRecordKeys(payload); err != nil {
			return AppendResult{}, err
		}
	}

	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	verdict, orig, err := p.producers.check(headers[0])
	if err != nil {
		return AppendResult{}, err
	}
	if verdict == seqDuplicate {
		return AppendResult{BaseOffset: orig.firstOffset, LastOffset: orig.lastOffset,
			LogAppendTime: orig.appendTime, LogStartOffset: p.log.LogStartOffset(), Duplicate: true}, nil
	}
	info, err := p.log.Append(payload, state.LeaderEpoch, appendTime)
	if err != nil {
		return AppendResult{}, fmt.Errorf("appending to %s-%d: %w", p.Topic, p.Index, err)
	}
	offset := info.BaseOffset
	for _, h := range headers {
		h.BaseOffset = offset
		if info.LogAppendTime >= 0 {
			// The headers were parsed before the log stamped the batch.
			h.MaxTimestamp = info.LogAppendTime
			h.Attributes |= logAppendTimeAttribute
		}
		p.producers.record(h)
		offset = h.NextOffset()
	}
	return AppendResult{BaseOffset: info.BaseOffset, LastOffset: info.LastOffset,
		LogAppendTime: info.LogAppendTime, LogStartOffset: p.log.LogStartOffset()}, nil
}

// logAppendTimeAttribute is the timestamp-type bit of a batch's attributes.
const logAppendTimeAttribute = 0x08

// errTransactionalBatch refuses transactional and control batches: clients
// never write control batches, and transactions are not implemented yet.
var errTransactionalBatch = fmt.Errorf("transactional and control batches are not accepted (transactions are not supported yet): %w", kerr.InvalidRecord)

func checkClientBatches(headers []storage.BatchHeader) error {
	for _, h := range headers {
		if h.IsTransactional() || h.IsControl() {
			return errTransactionalBatch
		}
	}
	return nil
}

// checkProducerBatches rejects payloads that mix producers: an idempotent
// producer sends one batch per partition and request, and the sequence check
// is made on the first batch, so an idempotent batch anywhere in a payload of
// several would escape it.
func checkProducerBatches(headers []storage.BatchHeader) error {
	if len(headers) == 1 {
		return nil
	}
	for _, h := range headers {
		if h.ProducerID >= 0 {
			return fmt.Errorf("%d batches in one idempotent produce for one partition: %w", len(headers), kerr.InvalidRecord)
		}
	}
	return nil
}

func checkTimestamps(headers []storage.BatchHeader, now int64, cfg PartitionConfig) error {
	for _, h := range headers {
		for _, ts := range [2]int64{h.FirstTimestamp, h.MaxTimestamp} {
			if ts < 0 {
				continue // no timestamp (-1) is allowed, as in Kafka
			}
			if now-ts > cfg.TimestampBeforeMaxMs || ts-now > cfg.TimestampAfterMaxMs {
				return fmt.Errorf("timestamp %d is outside [now-%d, now+%d]ms: %w",
					ts, cfg.TimestampBeforeMaxMs, cfg.TimestampAfterMaxMs, kerr.InvalidTimestamp)
			}
		}
	}
	return nil
}

// WaitAcked blocks until res is acknowledged at the given acks level: for
// acks=1 durable on this broker, for acks=all below the high watermark. An
// error from ctx means only that the wait ended; the records may still
// become durable and committed.
func (p *Partition) WaitAcked(ctx context.Context, res AppendResult, acks int16) error {
	next := res.LastOffset + 1
	if p.HighWatermark() >= next {
		return nil // already durable and committed (e.g. a duplicate)
	}
	if err := p.log.Sync(ctx, next); err != nil {
		return fmt.Errorf("waiting for %s-%d to be durable: %w", p.Topic, p.Index, err)
	}
	p.advanceHighWatermark()
	if acks != -1 {
		return nil
	}
	return p.waitHighWatermark(ctx, next)
}

// SyncInBackground makes sure appended records become durable and committed
// even when no request waits for them (acks=0).
func (p *Partition) SyncInBackground() {
	select {
	case p.syncKick <- struct{}{}:
	default:
	}
}

func (p *Partition) backgroundSync() {
	defer close(p.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-p.stop; cancel() }()
	for {
		select {
		case <-p.stop:
			return
		case <-p.syncKick:
		}
		if err := p.log.Sync(ctx, p.log.LogEndOffset()); err != nil {
			if !errors.Is(err, context.Canceled) {
				p.logger.Error().Err(err).Msg("background sync failed")
			}
			continue
		}
		p.advanceHighWatermark()
	}
}

// advanceHighWatermark moves the high watermark to the minimum durable end
// offset over the ISR. With a single in-sync replica that is this log's
// durable offset; it never moves back.
func (p *Partition) advanceHighWatermark() {
	durable := p.log.DurableOffset()
	p.mu.Lock()
	defer p.mu.Unlock()
	if durable > p.mu.hw {
		p.mu.hw = durable
		p.wakeWaitersLocked()
	}
}

func (p *Partition) waitHighWatermark(ctx context.Context, offset int64) error {
	ch := make(chan struct{}, 1)
	p.AddWaiter(ch)
	defer p.RemoveWaiter(ch)
	for {
		p.mu.Lock()
		hw, err := p.mu.hw, p.checkLeaderLocked(-1)
		p.mu.Unlock()
		if hw >= offset {
			return nil
		}
		if err != nil {
			return fmt.Errorf("waiting for the high watermark of %s-%d: %w", p.Topic, p.Index, err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the high watermark of %s-%d: %w", p.Topic, p.Index, ctx.Err())
		}
	}
}

// AddWaiter registers ch to receive a non-blocking send whenever the high
// watermark advances or the partition's state changes. A delayed fetch
// registers one channel on every partition it reads.
func (p *Partition) AddWaiter(ch chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.waiters[ch] = struct{}{}
}

// RemoveWaiter undoes AddWaiter.
func (p *Partition) RemoveWaiter(ch chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.mu.waiters, ch)
}

func (p *Partition) wakeWaitersLocked() {
	for ch := range p.mu.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// FetchResult is what a read returns with the partition's offsets.
type FetchResult struct {
	// Records holds the batches read as bytes (Read), Pinned as file
	// regions (ReadPinned); only one is set.
	Records        []byte
	Pinned         storage.Pinned
	HighWatermark  int64
	LogStartOffset int64
	LeaderEpoch    int32
}

// Read returns committed record batches from offset, at most maxBytes unless
// the first batch alone is larger (KIP-74). clientEpoch (-1 for none) is the
// consumer's view of the leader epoch.
func (p *Partition) Read(offset int64, maxBytes int32, clientEpoch int32) (FetchResult, error) {
	return p.read(offset, maxBytes, clientEpoch, false)
}

// ReadPinned is Read for zero-copy sending: the batches come as pinned file
// regions (FetchResult.Pinned) instead of bytes, where the platform allows.
// The caller must call FetchResult.Release once they are sent.
func (p *Partition) ReadPinned(offset int64, maxBytes int32, clientEpoch int32) (FetchResult, error) {
	return p.read(offset, maxBytes, clientEpoch, true)
}

func (p *Partition) read(offset int64, maxBytes int32, clientEpoch int32, pin bool) (FetchResult, error) {
	p.mu.Lock()
	err := p.checkLeaderLocked(clientEpoch)
	res := FetchResult{HighWatermark: p.mu.hw, LeaderEpoch: p.mu.state.LeaderEpoch}
	p.mu.Unlock()
	res.LogStartOffset = p.log.LogStartOffset()
	if err != nil {
		return res, err
	}
	if offset > res.HighWatermark && offset <= p.log.LogEndOffset() {
		// Past the high watermark but inside the log: nothing to read yet;
		// Kafka answers empty rather than out of range here.
		return res, nil
	}
	// A compaction swap between Read and Bytes/Pin invalidates the result
	// (storage.ErrTruncated); reading again sees the new segment.
	for attempt := 0; ; attempt++ {
		err = p.readLog(&res, offset, maxBytes, pin)
		if err == nil || !errors.Is(err, storage.ErrTruncated) || attempt == 2 {
			break
		}
	}
	if err != nil {
		return res, fmt.Errorf("reading %s-%d at %d: %w", p.Topic, p.Index, offset, err)
	}
	return res, nil
}

func (p *Partition) readLog(res *FetchResult, offset int64, maxBytes int32, pin bool) error {
	rr, err := p.log.Read(offset, maxBytes, res.HighWatermark)
	if err != nil || rr.Size == 0 {
		return err
	}
	if pin {
		res.Pinned, err = rr.Pin()
		if !errors.Is(err, storage.ErrPinUnsupported) {
			return err
		}
	}
	res.Records, err = rr.Bytes()
	return err
}

// Size is the number of record bytes in the result.
func (r *FetchResult) Size() int64 { return int64(len(r.Records)) + r.Pinned.Size }

// Release frees pinned regions; a no-op for bytes.
func (r *FetchResult) Release() { r.Pinned.Release() }

// DropRecords releases and forgets the records, keeping the offsets.
func (r *FetchResult) DropRecords() {
	r.Release()
	r.Records, r.Pinned = nil, storage.Pinned{}
}

// Special ListOffsets timestamps (Kafka protocol).
const (
	ListLatest         = -1
	ListEarliest       = -2
	ListMaxTimestamp   = -3
	ListEarliestLocal  = -4
	ListEarliestUpload = -5
)

// ListOffset answers ListOffsets for one timestamp. found is false when no
// record matches (Kafka answers offset -1 then).
func (p *Partition) ListOffset(timestamp int64, clientEpoch int32) (offset, ts int64, epoch int32, found bool, err error) {
	p.mu.Lock()
	err = p.checkLeaderLocked(clientEpoch)
	hw, epoch := p.mu.hw, p.mu.state.LeaderEpoch
	p.mu.Unlock()
	if err != nil {
		return 0, 0, epoch, false, err
	}
	switch timestamp {
	case ListLatest:
		return hw, -1, epoch, true, nil
	case ListEarliest, ListEarliestLocal:
		return p.log.LogStartOffset(), -1, epoch, true, nil
	case ListEarliestUpload:
		return -1, -1, epoch, false, nil // no tiered storage: nothing pending upload
	case ListMaxTimestamp:
		ts, off := p.log.MaxTimestamp()
		if off < 0 || off >= hw {
			return -1, -1, epoch, false, nil
		}
		return off, ts, epoch, true, nil
	}
	if timestamp < 0 {
		return 0, 0, epoch, false, fmt.Errorf("unknown special timestamp %d: %w", timestamp, kerr.InvalidRequest)
	}
	off, foundTS, ok, err := p.log.OffsetForTimestamp(timestamp)
	if err != nil {
		return 0, 0, epoch, false, fmt.Errorf("looking up timestamp %d in %s-%d: %w", timestamp, p.Topic, p.Index, err)
	}
	if !ok || off >= hw {
		return -1, -1, epoch, false, nil
	}
	return off, foundTS, epoch, true, nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (KIP-101/279): the largest
// epoch not above the requested one and the offset where it ended.
func (p *Partition) EndOffsetForEpoch(epoch, clientEpoch int32) (int32, int64, error) {
	if err := p.CheckLeader(clientEpoch); err != nil {
		return -1, -1, err
	}
	e, off := p.log.EndOffsetForEpoch(epoch)
	return e, off, nil
}

// DeleteRecords moves the log start offset up to offset (DeleteRecords,
// KIP-107) and returns the new low watermark, the log start offset (with a
// single replica, the lowest over the replicas). offset -1 means the high
// watermark; an offset above the high watermark, or another negative one,
// is OFFSET_OUT_OF_RANGE; an offset at or below the log start changes
// nothing. Only the leader deletes (NOT_LEADER_OR_FOLLOWER), and not in a
// topic whose cleanup.policy lacks delete (POLICY_VIOLATION, as Kafka).
// Whole segments below the new start are deleted at once; the call is
// synchronous.
func (p *Partition) DeleteRecords(offset int64) (lowWatermark int64, err error) {
	p.mu.Lock()
	err = p.checkLeaderLocked(-1)
	hw, cfg := p.mu.hw, p.mu.cfg
	p.mu.Unlock()
	if err != nil {
		return -1, err
	}
	if !cfg.Delete {
		return -1, fmt.Errorf("records of %s-%d cannot be deleted: cleanup.policy is compact: %w", p.Topic, p.Index, kerr.PolicyViolation)
	}
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, fmt.Errorf("delete records of %s-%d before %d: the high watermark is %d: %w", p.Topic, p.Index, offset, hw, kerr.OffsetOutOfRange)
	}
	low, err := p.log.DeleteRecordsBefore(offset)
	if err != nil {
		return -1, fmt.Errorf("deleting records of %s-%d before %d: %w", p.Topic, p.Index, offset, err)
	}
	return low, nil
}

// applyRetention deletes whole segments past retention.ms/retention.bytes
// if cleanup.policy has delete (and, whatever the policy, segments wholly
// below the log start offset), never at or above the high watermark, and
// returns how many it deleted.
func (p *Partition) applyRetention(now time.Time) (int, error) {
	p.mu.Lock()
	cfg, hw, closed := p.mu.cfg, p.mu.hw, p.mu.closed
	p.mu.Unlock()
	if closed {
		return 0, nil
	}
	if !cfg.Delete {
		cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	}
	n, err := p.log.ApplyRetention(now, cfg.RetentionMs, cfg.RetentionBytes, hw)
	if err != nil {
		return n, fmt.Errorf("retention of %s-%d: %w", p.Topic, p.Index, err)
	}
	if n > 0 {
		p.logger.Info().Int("segments", n).Int64("log_start_offset", p.log.LogStartOffset()).
			Int32("epoch", p.LeaderEpoch()).Msg("deleted segments past retention")
	}
	return n, nil
}

// compact runs one compaction pass if cleanup.policy has compact, never
// at or above the high watermark. ctx ends a running pass early.
func (p *Partition) compact(ctx context.Context, now time.Time) (storage.CompactionResult, error) {
	p.mu.Lock()
	cfg, hw, closed := p.mu.cfg, p.mu.hw, p.mu.closed
	p.mu.Unlock()
	if closed || !cfg.Compact {
		return storage.CompactionResult{}, nil
	}
	res, err := p.log.CompactContext(ctx, now, cfg.Compaction, hw)
	if err != nil {
		return res, fmt.Errorf("compaction of %s-%d: %w", p.Topic, p.Index, err)
	}
	return res, nil
}

// close stops the background syncer and closes (or, if remove, deletes) the
// log. It is called by the Manager only.
func (p *Partition) close(remove bool) error {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return nil
	}
	p.mu.closed = true
	p.wakeWaitersLocked()
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if remove {
		return p.log.Delete()
	}
	return p.log.Close()
}
