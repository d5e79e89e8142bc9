package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
	Replicas       []int32
	// AddingReplicas are the replicas a reassignment is adding.
	AddingReplicas []int32
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
	// LeaderEpoch is the epoch the append was made in: an acks=all wait
	// ends with NOT_LEADER_OR_FOLLOWER once the epoch changes, since a
	// leadership lost and regained may have truncated the records.
	LeaderEpoch int32
}

// Partition is one replica of a partition hosted by this broker: the
// leader, which serves producers, consumers and followers, or a follower,
// which appends what its fetcher copies from the leader.
//
// Offsets are assigned under appendMu, which also guards the producer state:
// the sequence check and the offset assignment of a batch are one step.
// Role changes take appendMu too, so no append straddles one. The high
// watermark, the ISR decisions and acks=all come from the LeaderCore under
// mu (leader.go).
type Partition struct {
	Topic   string
	Index   int32
	TopicID [16]byte

	nodeID int32
	log    *storage.Log
	logger zerolog.Logger
	isr    ISRSender // nil: ISR changes are never sent (single-broker tests)

	appendMu  sync.Mutex
	producers producerState // guarded by appendMu

	// segmentSettings are the storage settings last applied; read and
	// written only under Manager.mu.
	segmentSettings storage.Config

	mu struct {
		sync.Mutex
		state LeaderState
		cfg   PartitionConfig
		core  *LeaderCore
		// waiters are woken when the high watermark advances or the state
		// changes; the value says whether an append wakes it too (the
		// delayed fetches of followers, which read past the HW).
		waiters map[chan struct{}]bool
		closed  bool
		// followerStarts are the log start offsets the followers last
		// reported in their fetches in this leader epoch, for the low
		// watermark that DeleteRecords waits for.
		followerStarts map[int32]int64
	}

	// stop is closed by close; it ends the ISR senders.
	stop chan struct{}
	// isrSends counts AlterPartition senders in flight; close waits.
	isrSends sync.WaitGroup
}

// partitionOptions are the broker-wide settings of every partition.
type partitionOptions struct {
	isr              ISRSender
	replicaLagTimeMs int64
}

func newPartition(topic string, index int32, topicID [16]byte, nodeID int32, log *storage.Log, logger zerolog.Logger, opts partitionOptions) (*Partition, error) {
	p := &Partition{
		Topic: topic, Index: index, TopicID: topicID,
		nodeID: nodeID, log: log, isr: opts.isr,
		logger:    logger.With().Str("topic", topic).Int32("partition", index).Logger(),
		producers: make(producerState),
		stop:      make(chan struct{}),
	}
	if opts.replicaLagTimeMs <= 0 {
		opts.replicaLagTimeMs = DefaultReplicaLagTimeMaxMs
	}
	p.mu.cfg = DefaultPartitionConfig()
	p.mu.waiters = make(map[chan struct{}]bool)
	p.mu.state = LeaderState{Leader: -1, LeaderEpoch: -1, PartitionEpoch: -1}
	// The high watermark starts at the log start: this replica cannot
	// know which of its records the ISR holds. As leader it learns the HW
	// from its followers' fetches (at once with a single in-sync replica),
	// as follower from the leader's fetch responses. Starting at the end
	// of the log would let consumers read records that an election may
	// take back.
	p.mu.core = NewLeaderCore(LeaderConfig{NodeID: nodeID, MinInsyncReplicas: 1, ReplicaLagTimeMaxMs: opts.replicaLagTimeMs},
		log.LogEndOffset(), log.DurableOffset(), log.LogStartOffset())
	if err := p.rebuildProducerState(); err != nil {
		return nil, err
	}
	// Storage writes a producer-state snapshot when a segment rolls and at
	// a clean close, both under its append lock, which is only ever taken
	// here under appendMu (Append, AppendFromLeader, close): the state read
	// is the one for offsets below the log end at that moment.
	log.SetSnapshotSource(func() (int64, []byte) {
		return p.log.LogEndOffset(), encodeProducerState(p.producers)
	})
	// Storage's shared sync workers report every durable advance (group
	// commits, acks=0 background syncs, rolls, page-cache flushes); an idle
	// partition costs no goroutine.
	log.SetDurableHook(func(int64) { p.durableAdvanced() })
	return p, nil
}

// rebuildProducerState loads the latest producer-state snapshot and replays
// the batch headers after it (all of them without a usable snapshot), so
// that idempotent producers keep their duplicate detection across restarts
// and truncations. A damaged snapshot is never trusted: storage skips it,
// and one that does not decode is ignored. Callers hold appendMu or own the
// partition exclusively.
func (p *Partition) rebuildProducerState() error {
	p.producers = make(producerState)
	from := p.log.LogStartOffset()
	off, data, ok, err := p.log.LatestProducerSnapshot()
	switch {
	case err != nil:
		p.logger.Warn().Err(err).Msg("reading producer-state snapshots failed; replaying the whole log")
	case ok && off <= p.log.LogEndOffset():
		st, derr := decodeProducerState(data)
		if derr != nil {
			p.logger.Warn().Err(derr).Int64("offset", off).Msg("ignoring a producer-state snapshot that does not decode")
			break
		}
		p.producers, from = st, max(from, off)
	}
	err = p.log.ScanBatchHeaders(from, func(h storage.BatchHeader) error {
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
// with data and it, before the first append of the epoch. appendMu keeps
// appends out while the role changes.
func (p *Partition) setState(st LeaderState, cfg PartitionConfig) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	leading := st.Leader == p.nodeID && st.LeaderEpoch >= 0
	if leading {
		if err := p.log.AssignLeaderEpoch(st.LeaderEpoch); err != nil {
			p.logger.Error().Err(err).Int32("epoch", st.LeaderEpoch).Msg("recording the leader epoch failed")
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st.LeaderEpoch != p.mu.state.LeaderEpoch || st.Leader != p.mu.state.Leader {
		p.logger.Info().Int32("epoch", st.LeaderEpoch).Int32("leader", st.Leader).
			Bool("is_leader", leading).Msg("partition leadership changed")
	}
	if st.LeaderEpoch != p.mu.state.LeaderEpoch || !leading {
		p.mu.followerStarts = nil // reported to an earlier leadership
	}
	p.mu.state = st
	p.mu.cfg = cfg
	core := p.mu.core
	p.handleReadyLocked(core.Reconfigure(cfg.MinInsyncReplicas, core.cfg.ReplicaLagTimeMaxMs))
	if leading {
		if !core.IsLeader() {
			// A follower's core tracked the log through FollowerLog; bring
			// it up to date before the epoch starts at the log end.
			core.FollowerLog(p.log.LogEndOffset(), p.log.DurableOffset(), core.HighWatermark())
		}
		rd, err := core.BecomeLeader(st.LeaderEpoch, st.PartitionEpoch, st.Replicas, st.ISR, time.Now().UnixMilli())
		if err != nil {
			p.logger.Warn().Err(err).Int32("epoch", st.LeaderEpoch).Int32("partition_epoch", st.PartitionEpoch).
				Msg("ignoring a stale leader state")
		}
		p.handleReadyLocked(rd)
	} else {
		core.BecomeFollower(st.LeaderEpoch)
		core.FollowerLog(p.log.LogEndOffset(), p.log.DurableOffset(), core.HighWatermark())
	}
	p.wakeWaitersLocked()
}

// handleReadyLocked acts on the leader core's decisions: wake waiters when
// the high watermark moved, send an ISR change it proposed.
func (p *Partition) handleReadyLocked(rd Ready) {
	if rd.Advanced {
		p.wakeWaitersLocked()
	}
	if rd.Propose != nil {
		p.sendISRChangeLocked(rd.Propose)
	}
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
	return p.mu.core.HighWatermark()
}

// ISR returns the in-sync replicas the leader works with (the committed
// ISR; the metadata image's for a follower).
func (p *Partition) ISR() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.core.IsLeader() {
		return p.mu.core.ISR()
	}
	return slices.Clone(p.mu.state.ISR)
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
	cfg := p.mu.cfg
	_, err := p.checkAppendLocked(acks)
	p.mu.Unlock()
	if err != nil {
		return AppendResult{}, err
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
	// The role may have changed while the payload was validated.
	p.mu.Lock()
	epoch, err := p.checkAppendLocked(acks)
	p.mu.Unlock()
	if err != nil {
		return AppendResult{}, err
	}
	verdict, orig, err := p.producers.check(headers[0])
	if err != nil {
		return AppendResult{}, err
	}
	if verdict == seqDuplicate {
		return AppendResult{BaseOffset: orig.firstOffset, LastOffset: orig.lastOffset,
			LogAppendTime: orig.appendTime, LogStartOffset: p.log.LogStartOffset(), Duplicate: true,
			LeaderEpoch: epoch}, nil
	}
	info, err := p.log.Append(payload, epoch, appendTime)
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
	p.mu.Lock()
	p.handleReadyLocked(p.mu.core.LeaderAppended(info.LastOffset + 1))
	p.wakeAppendWaitersLocked()
	p.mu.Unlock()
	return AppendResult{BaseOffset: info.BaseOffset, LastOffset: info.LastOffset,
		LogAppendTime: info.LogAppendTime, LogStartOffset: p.log.LogStartOffset(), LeaderEpoch: epoch}, nil
}

// checkAppendLocked verifies that this replica leads and may take an append
// at acks (NOT_ENOUGH_REPLICAS for acks=all with too small an ISR), and
// returns the leader epoch to append in.
func (p *Partition) checkAppendLocked(acks int16) (int32, error) {
	if err := p.checkLeaderLocked(-1); err != nil {
		return -1, err
	}
	if err := p.mu.core.CheckAppend(acks); err != nil {
		return -1, fmt.Errorf("appending to %s-%d: %w", p.Topic, p.Index, err)
	}
	return p.mu.state.LeaderEpoch, nil
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
// acks=1 durable on this broker, for acks=all below the high watermark,
// which also means durable on every in-sync replica. An error from ctx
// means only that the wait ended; the records may still become durable and
// committed.
func (p *Partition) WaitAcked(ctx context.Context, res AppendResult, acks int16) error {
	next := res.LastOffset + 1
	if p.HighWatermark() >= next {
		return nil // already durable and committed (e.g. a duplicate)
	}
	if err := p.log.Sync(ctx, next); err != nil {
		return fmt.Errorf("waiting for %s-%d to be durable: %w", p.Topic, p.Index, err)
	}
	p.durableAdvanced()
	if acks != -1 {
		return nil
	}
	return p.waitCommitted(ctx, res)
}

// SyncInBackground makes sure appended records become durable and committed
// even when no request waits for them (acks=0).
func (p *Partition) SyncInBackground() {
	p.log.SyncAsync()
}

// durableAdvanced tells the leader core how far the log is durable, which
// may advance the high watermark.
func (p *Partition) durableAdvanced() {
	durable := p.log.DurableOffset()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.core.IsLeader() {
		p.handleReadyLocked(p.mu.core.LeaderDurable(durable))
	}
}

// waitCommitted waits until the leader core can answer the acks=all append
// res: the high watermark passed it, or this replica stopped leading the
// epoch it was appended in.
func (p *Partition) waitCommitted(ctx context.Context, res AppendResult) error {
	ch := make(chan struct{}, 1)
	p.AddWaiter(ch)
	defer p.RemoveWaiter(ch)
	for {
		p.mu.Lock()
		var done bool
		var err error
		switch {
		case p.mu.closed:
			done, err = true, ErrClosed
		case p.mu.state.Leader != p.nodeID || p.mu.state.LeaderEpoch != res.LeaderEpoch:
			done, err = true, errNotLeader
		default:
			done, err = p.mu.core.CanAck(res.LastOffset)
		}
		p.mu.Unlock()
		if done {
			if err != nil {
				return fmt.Errorf("waiting for the replicas of %s-%d: %w", p.Topic, p.Index, err)
			}
			return nil
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
	p.mu.waiters[ch] = false
}

// AddAppendWaiter is AddWaiter for a follower's delayed fetch: ch is also
// woken by every append, since followers read past the high watermark.
func (p *Partition) AddAppendWaiter(ch chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.waiters[ch] = true
}

// RemoveWaiter undoes AddWaiter and AddAppendWaiter.
func (p *Partition) RemoveWaiter(ch chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.mu.waiters, ch)
}

// wakeWaitersLocked wakes every waiter.
func (p *Partition) wakeWaitersLocked() {
	for ch := range p.mu.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wakeAppendWaitersLocked wakes the waiters that read past the high
// watermark.
func (p *Partition) wakeAppendWaitersLocked() {
	for ch, appends := range p.mu.waiters {
		if !appends {
			continue
		}
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
	// Diverging is set, with no records, when a follower's log diverged
	// from the leader's (RecordFollowerFetch).
	Diverging *EpochEndOffset
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

// readBounds checks that this replica leads at clientEpoch and returns a
// FetchResult holding the high watermark, leader epoch and log start
// offset that a read answers with, whether or not the check passed.
func (p *Partition) readBounds(clientEpoch int32) (FetchResult, error) {
	p.mu.Lock()
	err := p.checkLeaderLocked(clientEpoch)
	res := FetchResult{HighWatermark: p.mu.core.HighWatermark(), LeaderEpoch: p.mu.state.LeaderEpoch}
	p.mu.Unlock()
	res.LogStartOffset = p.log.LogStartOffset()
	return res, err
}

func (p *Partition) read(offset int64, maxBytes int32, clientEpoch int32, pin bool) (FetchResult, error) {
	res, err := p.readBounds(clientEpoch)
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
	return p.readLogTo(res, offset, maxBytes, res.HighWatermark, pin)
}

// readLogTo reads batches below maxOffset into res.
func (p *Partition) readLogTo(res *FetchResult, offset int64, maxBytes int32, maxOffset int64, pin bool) error {
	rr, err := p.log.Read(offset, maxBytes, maxOffset)
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
	hw, epoch := p.mu.core.HighWatermark(), p.mu.state.LeaderEpoch
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
// KIP-107) and returns the new low watermark: the leader's log start offset
// (Kafka answers the lowest over the replicas, once followers have moved
// theirs; followers here follow the leader's log start on their next
// fetch, but the answer does not wait for that). offset -1 means the high
// watermark; an offset above the high watermark, or another negative one,
// is OFFSET_OUT_OF_RANGE; an offset at or below the log start changes
// nothing. Only the leader deletes (NOT_LEADER_OR_FOLLOWER), and not in a
// topic whose cleanup.policy lacks delete (POLICY_VIOLATION, as Kafka).
// Whole segments below the new start are deleted at once; the call is
// synchronous.
func (p *Partition) DeleteRecords(offset int64) (lowWatermark int64, err error) {
	p.mu.Lock()
	err = p.checkLeaderLocked(-1)
	hw, cfg := p.mu.core.HighWatermark(), p.mu.cfg
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
	// The followers' delayed fetches answer at once with the new start
	// (broker's readReplicaTargets), so that LowWatermark reaches it
	// within a fetch round trip.
	p.mu.Lock()
	p.wakeWaitersLocked()
	p.mu.Unlock()
	return low, nil
}

// CatchingUp reports whether this broker is a replica that a reassignment
// is adding and that is not in the ISR yet: its fetches count against
// follower.replication.throttled.rate.
func (p *Partition) CatchingUp() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.mu.state
	return slices.Contains(st.AddingReplicas, p.nodeID) && !slices.Contains(st.ISR, p.nodeID)
}

// LowWatermark is the lowest log start offset among this leader and the
// followers that live reports alive (Kafka's low watermark): the offset
// below which every live replica has deleted the records. It is -1 while
// a live follower has not reported its log start in this leader epoch.
// Followers take the leader's log start from their fetches, so after
// DeleteRecords the low watermark reaches the new log start once each
// live follower has fetched again. Only the leader answers
// (NOT_LEADER_OR_FOLLOWER).
func (p *Partition) LowWatermark(alive func(replica int32) bool) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLeaderLocked(-1); err != nil {
		return -1, err
	}
	low := p.log.LogStartOffset()
	for _, r := range p.mu.state.Replicas {
		if r == p.nodeID || !alive(r) {
			continue
		}
		start, ok := p.mu.followerStarts[r]
		if !ok {
			return -1, nil
		}
		low = min(low, start)
	}
	return low, nil
}

// applyRetention deletes whole segments past retention.ms/retention.bytes
// if cleanup.policy has delete (and, whatever the policy, segments wholly
// below the log start offset), never at or above the high watermark, and
// returns how many it deleted.
func (p *Partition) applyRetention(now time.Time) (int, error) {
	p.mu.Lock()
	cfg, hw, closed := p.mu.cfg, p.mu.core.HighWatermark(), p.mu.closed
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
	cfg, hw, closed := p.mu.cfg, p.mu.core.HighWatermark(), p.mu.closed
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
	p.isrSends.Wait()
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if remove {
		return p.log.Delete()
	}
	return p.log.Close()
}
