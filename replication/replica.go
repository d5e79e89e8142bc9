package replication

// The two sides of replicating one partition: the leader serving its
// followers' fetches (RecordFollowerFetch, ReadForFollower) and sending ISR
// changes to the controller (sendISRChangeLocked), and a follower appending
// what its fetcher copied (AppendFromLeader, FollowerSynced) and truncating
// a divergent tail (TruncateDiverging, RestartAt).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/storage"
)

// ISRSender sends AlterPartition requests to the active controller.
type ISRSender interface {
	// AlterPartition asks the controller to commit isr for the partition,
	// based on the given leader and partition epochs. It returns the ISR
	// and partition epoch the controller committed, or an error wrapping
	// the Kafka error code the controller answered (a rejection) or a
	// transport error (retried).
	AlterPartition(ctx context.Context, req ISRRequest) (isr []int32, partitionEpoch int32, err error)
}

// ISRRequest is one AlterPartition proposal.
type ISRRequest struct {
	TopicID        [16]byte
	Topic          string
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// EpochEndOffset is a leader's answer to a follower whose log diverged: the
// largest epoch the leader has that is not above the follower's last
// fetched epoch, and where that epoch ends on the leader (KIP-320's
// DivergingEpoch; OffsetForLeaderEpoch's answer).
type EpochEndOffset struct {
	Epoch     int32
	EndOffset int64
}

// alterPartitionTimeout bounds one AlterPartition round trip.
const alterPartitionTimeout = 10 * time.Second

// alterPartitionBackoff is the pause before a failed send is retried.
const alterPartitionBackoff = 200 * time.Millisecond

// sendISRChangeLocked starts the sender of a change the core proposed. The
// sender retries transport errors until the controller answers, the change
// is superseded (a newer image, a role change) or the partition closes.
func (p *Partition) sendISRChangeLocked(change *ISRChange) {
	if p.isr == nil || p.mu.closed {
		p.mu.core.AlterPartitionRejected(errors.New("replication: no controller to send ISR changes to"))
		return
	}
	req := ISRRequest{
		TopicID: p.TopicID, Topic: p.Topic, Partition: p.Index,
		LeaderEpoch: change.LeaderEpoch, PartitionEpoch: change.PartitionEpoch, ISR: change.ISR,
	}
	p.logger.Info().Bool("shrink", change.Shrink).Ints32("isr", change.ISR).
		Int32("partition_epoch", change.PartitionEpoch).Msg("proposing an ISR change")
	p.isrSends.Add(1)
	go func() {
		defer p.isrSends.Done()
		base, cancelBase := context.WithCancel(context.Background())
		defer cancelBase()
		go func() {
			select {
			case <-p.stop:
				cancelBase()
			case <-base.Done():
			}
		}()
		for {
			ctx, cancel := context.WithTimeout(base, alterPartitionTimeout)
			isr, epoch, err := p.isr.AlterPartition(ctx, req)
			cancel()
			if p.answerISRChange(change, isr, epoch, err) {
				return
			}
			select {
			case <-base.Done():
				return
			case <-time.After(alterPartitionBackoff):
			}
		}
	}()
}

// answerISRChange hands the controller's answer to the core and reports
// whether the sender is done (false: retry after a transport error).
func (p *Partition) answerISRChange(change *ISRChange, isr []int32, epoch int32, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed || p.mu.core.Pending() != change {
		return true // superseded by a newer image or a role change
	}
	var ke *kerr.Error
	switch {
	case err == nil:
		rd, cerr := p.mu.core.AlterPartitionCommitted(isr, epoch)
		if cerr != nil {
			// The image already brought this epoch or a newer one.
			p.logger.Debug().Err(cerr).Msg("AlterPartition answer is stale")
			p.handleReadyLocked(p.mu.core.AlterPartitionRejected(cerr))
			return true
		}
		p.logger.Info().Ints32("isr", isr).Int32("partition_epoch", epoch).Msg("ISR change committed")
		p.handleReadyLocked(rd)
		return true
	case errors.As(err, &ke) && !ke.Retriable:
		p.logger.Warn().Err(err).Ints32("isr", change.ISR).Msg("the controller refused an ISR change")
		p.handleReadyLocked(p.mu.core.AlterPartitionRejected(err))
		return true
	default:
		p.logger.Debug().Err(err).Msg("sending an ISR change failed; retrying")
		return false
	}
}

// tick runs the leader core's ISR shrink check.
func (p *Partition) tick(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.mu.closed && p.mu.core.IsLeader() {
		p.handleReadyLocked(p.mu.core.Tick(now.UnixMilli()))
	}
}

// RecordFollowerFetch takes a follower's fetch of this leader: replica
// fetches from fetchOffset, its log starts at logStartOffset (-1: not
// reported), the last batch it holds is of lastFetchedEpoch (-1: none or
// unknown), and it believes clientEpoch is the leader epoch.
// A follower whose log diverged gets the epoch end to truncate to and no
// records (its fetch offset proves nothing then); otherwise the fetch
// offset becomes the follower's LEO for the high watermark and the ISR.
func (p *Partition) RecordFollowerFetch(replica int32, fetchOffset, logStartOffset int64, lastFetchedEpoch, clientEpoch int32, now time.Time) (*EpochEndOffset, error) {
	if err := p.CheckLeader(clientEpoch); err != nil {
		return nil, err
	}
	// A follower behind the log start restarts its log there, whatever
	// its epochs say (OFFSET_OUT_OF_RANGE, RestartAt).
	if start := p.log.LogStartOffset(); fetchOffset < start {
		return nil, fmt.Errorf("follower %d fetches %s-%d at %d, the log starts at %d: %w",
			replica, p.Topic, p.Index, fetchOffset, start, kerr.OffsetOutOfRange)
	}
	if lastFetchedEpoch >= 0 {
		epoch, end := p.log.EndOffsetForEpoch(lastFetchedEpoch)
		if epoch < 0 {
			// No epoch that old here: the follower truncates to its high
			// watermark. (-1, -1) is DivergingEpoch's "none" on the wire,
			// so the end offset carries the log start instead.
			return &EpochEndOffset{Epoch: -1, EndOffset: p.log.LogStartOffset()}, nil
		}
		if epoch != lastFetchedEpoch || end < fetchOffset {
			return &EpochEndOffset{Epoch: epoch, EndOffset: end}, nil
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rd, err := p.mu.core.FollowerFetched(replica, fetchOffset, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("follower fetch of %s-%d: %w", p.Topic, p.Index, err)
	}
	if logStartOffset >= 0 {
		if p.mu.followerStarts == nil {
			p.mu.followerStarts = make(map[int32]int64)
		}
		p.mu.followerStarts[replica] = logStartOffset
	}
	p.handleReadyLocked(rd)
	return nil, nil
}

// ReadForFollower reads like ReadPinned but up to the log end, not the high
// watermark: followers copy what the leader has so that the high watermark
// can pass it.
func (p *Partition) ReadForFollower(offset int64, maxBytes int32, clientEpoch int32) (FetchResult, error) {
	res, err := p.readBounds(clientEpoch)
	if err != nil {
		return res, err
	}
	for attempt := 0; ; attempt++ {
		err = p.readLogTo(&res, offset, maxBytes, p.log.LogEndOffset(), true)
		if err == nil || !errors.Is(err, storage.ErrTruncated) || attempt == 2 {
			break
		}
	}
	if err != nil {
		return res, fmt.Errorf("reading %s-%d at %d for a follower: %w", p.Topic, p.Index, offset, err)
	}
	return res, nil
}

// errNotFollower refuses follower work on a replica that leads or follows
// another epoch: the fetcher's view is stale and the next image fixes it.
var errNotFollower = fmt.Errorf("replication: this replica does not follow that leader epoch: %w", kerr.NotLeaderForPartition)

// FetchPosition is where a follower fetches next: its log end offset and
// the epoch of its last batch.
func (p *Partition) FetchPosition() (offset int64, lastEpoch int32) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return p.log.LogEndOffset(), p.log.LastBatchEpoch()
}

// checkFollowing verifies this replica follows leaderEpoch.
func (p *Partition) checkFollowing(leaderEpoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkFollowingLocked(leaderEpoch)
}

// checkFollowingLocked verifies this replica follows leaderEpoch.
func (p *Partition) checkFollowingLocked(leaderEpoch int32) error {
	if p.mu.closed {
		return ErrClosed
	}
	if p.mu.state.Leader == p.nodeID || p.mu.state.LeaderEpoch != leaderEpoch {
		return errNotFollower
	}
	return nil
}

// AppendFromLeader appends batches fetched from the leader of leaderEpoch,
// offsets and epochs as the leader wrote them, and updates the producer
// state so that this replica deduplicates retries if it becomes leader. A
// trailing partial batch (a fetch cut at its byte limit) is left for the
// next fetch. It returns the new log end offset. It does not sync: the
// fetcher syncs every partition of a response together (FollowerSynced).
func (p *Partition) AppendFromLeader(records []byte, leaderEpoch int32) (int64, error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.checkFollowing(leaderEpoch); err != nil {
		return 0, err
	}
	records, headers, err := wholeBatches(records)
	if err != nil || len(headers) == 0 {
		return p.log.LogEndOffset(), err
	}
	info, err := p.log.AppendAsFollower(records)
	if err != nil {
		return 0, fmt.Errorf("appending to follower %s-%d: %w", p.Topic, p.Index, err)
	}
	for _, h := range headers {
		p.producers.record(h)
	}
	p.mu.Lock()
	p.mu.core.FollowerLog(info.LastOffset+1, p.log.DurableOffset(), p.mu.core.HighWatermark())
	p.mu.Unlock()
	return info.LastOffset + 1, nil
}

// wholeBatches returns the prefix of b made of whole batches and their
// headers.
func wholeBatches(b []byte) ([]byte, []storage.BatchHeader, error) {
	var headers []storage.BatchHeader
	pos := int64(0)
	for int64(len(b))-pos >= storage.BatchHeaderSize {
		h, err := storage.ParseBatchHeader(b[pos:])
		if err != nil {
			return nil, nil, fmt.Errorf("batch from the leader at byte %d: %w", pos, err)
		}
		if pos+h.Size() > int64(len(b)) {
			break
		}
		headers = append(headers, h)
		pos += h.Size()
	}
	return b[:pos], headers, nil
}

// FollowerSynced records that the follower's log is durable to its end and
// what the leader said of its high watermark and log start offset: the
// follower's high watermark follows the leader's (capped at its own log
// end), and its log start offset follows the leader's (records the leader
// deleted by retention or DeleteRecords are deleted here too).
func (p *Partition) FollowerSynced(leaderEpoch int32, leaderHW, leaderLogStart int64) error {
	p.mu.Lock()
	if err := p.checkFollowingLocked(leaderEpoch); err != nil {
		p.mu.Unlock()
		return err
	}
	before := p.mu.core.HighWatermark()
	p.mu.core.FollowerLog(p.log.LogEndOffset(), p.log.DurableOffset(), leaderHW)
	if p.mu.core.HighWatermark() != before {
		p.wakeWaitersLocked()
	}
	p.mu.Unlock()
	if target := min(leaderLogStart, p.log.LogEndOffset()); target > p.log.LogStartOffset() {
		if _, err := p.log.DeleteRecordsBefore(target); err != nil {
			return fmt.Errorf("following the leader's log start %d on %s-%d: %w", leaderLogStart, p.Topic, p.Index, err)
		}
	}
	return nil
}

// TruncateDiverging truncates a follower whose log diverged from the
// leader's (the leader answered div to its fetch): to the end of div.Epoch
// on the leader or here, whichever is lower (KIP-279), or to the high
// watermark when the leader knows no epoch that old.
func (p *Partition) TruncateDiverging(leaderEpoch int32, div EpochEndOffset) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	err := p.checkFollowingLocked(leaderEpoch)
	hw := p.mu.core.HighWatermark()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	target := hw
	if div.Epoch >= 0 {
		_, localEnd := p.log.EndOffsetForEpoch(div.Epoch)
		target = min(div.EndOffset, localEnd)
		if localEnd < 0 {
			target = div.EndOffset
		}
	}
	target = max(target, p.log.LogStartOffset())
	return p.truncateLocked(target)
}

// RestartAt handles a fetch the leader answered OFFSET_OUT_OF_RANGE: a
// follower behind the leader's log start starts its log empty there; one
// ahead of the leader's log truncates to the leader's high watermark (the
// leader holds everything below it).
func (p *Partition) RestartAt(leaderEpoch int32, leaderHW, leaderLogStart int64) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.checkFollowing(leaderEpoch); err != nil {
		return err
	}
	if leo := p.log.LogEndOffset(); leo < leaderLogStart {
		p.logger.Warn().Int64("log_end_offset", leo).Int64("leader_log_start", leaderLogStart).
			Msg("follower is behind the leader's log start; restarting the log there")
		if err := p.log.TruncateFullyAndStartAt(leaderLogStart); err != nil {
			return fmt.Errorf("restarting %s-%d at %d: %w", p.Topic, p.Index, leaderLogStart, err)
		}
		return p.afterTruncateLocked()
	}
	return p.truncateLocked(max(leaderHW, p.log.LogStartOffset()))
}

func (p *Partition) truncateLocked(offset int64) error {
	if offset >= p.log.LogEndOffset() {
		return nil
	}
	p.logger.Warn().Int64("log_end_offset", p.log.LogEndOffset()).Int64("truncate_to", offset).
		Msg("truncating the follower's divergent tail")
	if err := p.log.TruncateTo(offset); err != nil {
		return fmt.Errorf("truncating %s-%d to %d: %w", p.Topic, p.Index, offset, err)
	}
	return p.afterTruncateLocked()
}

// afterTruncateLocked rebuilds what the removed records fed: the producer
// state and the core's view of the log.
func (p *Partition) afterTruncateLocked() error {
	if err := p.rebuildProducerState(); err != nil {
		return err
	}
	p.mu.Lock()
	p.mu.core.FollowerLog(p.log.LogEndOffset(), p.log.DurableOffset(), p.mu.core.HighWatermark())
	p.mu.Unlock()
	return nil
}

// SyncLog makes the follower's log durable to its end.
func (p *Partition) SyncLog(ctx context.Context) error {
	return p.log.Sync(ctx, p.log.LogEndOffset())
}
