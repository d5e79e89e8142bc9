package group

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/replication"
	"github.com/samsa-io/samsa/storage"
)

// loadReadBytes is how much of the offsets partition one read takes while
// loading.
const loadReadBytes = 4 << 20

// errShardStopped answers what a coordinator partition that stopped (lost
// its leadership, or the broker is shutting down) cannot finish.
var errShardStopped = fmt.Errorf("group coordinator partition stopped: %w", kerr.NotCoordinator)

// shard is the coordinator for one __consumer_offsets partition this broker
// leads, at one leader epoch. Its goroutine (run) owns the decision core
// (state): it first loads the partition from its log start, then serves
// requests, which arrive as closures on events, fires timers, and writes
// what the core decides. Writes are appended in order; one acker goroutine
// waits for acks=all on the latest and reports back, and the owner then
// completes every write below the acknowledged offset, oldest first, so
// in-memory state follows the log's order.
type shard struct {
	c     *Coordinator
	index int32
	epoch int32
	part  *replication.Partition
	prev  *shard // the shard this one replaces; it must be gone before we load
	log   zerolog.Logger
	st    *state

	events   chan func(now int64)
	loaded   atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	inflight []inflightWrite // owner goroutine only

	ackMu     sync.Mutex
	ackTarget replication.AppendResult // guarded by ackMu
	ackKick   chan struct{}
	acked     chan ackResult
}

type inflightWrite struct {
	w   write
	res replication.AppendResult
}

type ackResult struct {
	next int64 // every write below this offset is acknowledged
	err  error
}

func newShard(c *Coordinator, index int32, l Leadership, prev *shard) *shard {
	log := c.log.With().Str("topic", OffsetsTopic).Int32("partition", index).Int32("epoch", l.Epoch).Logger()
	return &shard{
		c: c, index: index, epoch: l.Epoch, part: l.Partition, prev: prev, log: log,
		st:     newState(newCoreConfig(c.cfg), log, c.newUUID),
		events: make(chan func(int64), 64),
		stop:   make(chan struct{}), done: make(chan struct{}),
		ackKick: make(chan struct{}, 1), acked: make(chan ackResult, 1),
	}
}

func (sh *shard) now() int64 { return sh.c.clock().UnixMilli() }

// stopAsync asks the goroutine to stop; done closes once it has.
func (sh *shard) stopAsync() { sh.stopOnce.Do(func() { close(sh.stop) }) }

// submit queues fn for the owner goroutine. It reports false if the shard
// stopped or ctx ended first.
func (sh *shard) submit(ctx context.Context, fn func(now int64)) bool {
	select {
	case sh.events <- fn:
		return true
	case <-sh.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

func (sh *shard) run() {
	defer close(sh.done)
	if sh.prev != nil {
		select {
		case <-sh.prev.done:
		case <-sh.stop:
			return
		}
		sh.prev = nil
	}
	start := time.Now()
	if err := sh.load(); err != nil {
		if !errors.Is(err, errShardStopped) {
			sh.log.Error().Err(err).Msg("loading groups failed; the partition's groups stay unavailable until its leadership changes")
			<-sh.stop
		}
		sh.st.unload()
		return
	}
	sh.loaded.Store(true)
	sh.log.Info().Int("groups", len(sh.st.groups)).Dur("took", time.Since(start)).Msg("group coordinator loaded")
	ctx, cancel := context.WithCancel(context.Background())
	ackDone := make(chan struct{})
	go func() { defer close(ackDone); sh.ackLoop(ctx) }()
	defer func() {
		cancel()
		<-ackDone
		sh.shutdown()
		sh.log.Info().Msg("group coordinator unloaded")
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	expiry := time.NewTicker(sh.c.cfg.OffsetsRetentionCheckInterval)
	defer expiry.Stop()
	for {
		sh.flush()
		sh.arm(timer)
		select {
		case <-sh.stop:
			return
		case fn := <-sh.events:
			fn(sh.now())
		case <-timer.C:
			sh.st.tick(sh.now())
		case r := <-sh.acked:
			sh.completeAcked(r)
		case <-expiry.C:
			sh.st.expireOffsets(sh.now())
		}
	}
}

func (sh *shard) arm(timer *time.Timer) {
	d := sh.st.nextDeadline()
	if d == 0 {
		timer.Stop()
		return
	}
	timer.Reset(max(time.Until(time.UnixMilli(d)), 0))
}

// flush appends the writes the core made (and those their failures make).
func (sh *shard) flush() {
	for {
		ws := sh.st.takeWrites()
		if len(ws) == 0 {
			return
		}
		now := sh.now()
		for _, w := range ws {
			if len(w.records) == 0 {
				// Nothing to write: it completes with the writes before it.
				if n := len(sh.inflight); n > 0 {
					sh.inflight = append(sh.inflight, inflightWrite{w: w, res: sh.inflight[n-1].res})
				} else {
					sh.st.completeWrite(w, now, nil)
				}
				continue
			}
			res, err := sh.part.Append(encodeBatch(w.records, now), -1)
			if err != nil {
				sh.log.Warn().Err(err).Int("records", len(w.records)).Msg("appending to the offsets partition failed")
				sh.st.completeWrite(w, now, err)
				continue
			}
			sh.inflight = append(sh.inflight, inflightWrite{w: w, res: res})
			sh.ackMu.Lock()
			sh.ackTarget = res
			sh.ackMu.Unlock()
			select {
			case sh.ackKick <- struct{}{}:
			default:
			}
		}
	}
}

// ackLoop waits for acks=all on the latest appended write; the high
// watermark only moves up, so that acknowledges every earlier one too.
func (sh *shard) ackLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sh.ackKick:
		}
		sh.ackMu.Lock()
		target := sh.ackTarget
		sh.ackMu.Unlock()
		err := sh.part.WaitAcked(ctx, target, -1)
		if ctx.Err() != nil {
			return
		}
		select {
		case sh.acked <- ackResult{next: target.LastOffset + 1, err: err}:
		case <-ctx.Done():
			return
		}
	}
}

func (sh *shard) completeAcked(r ackResult) {
	now := sh.now()
	upTo := r.next
	if r.err != nil {
		upTo = sh.part.HighWatermark()
	}
	for len(sh.inflight) > 0 && sh.inflight[0].res.LastOffset < upTo {
		w := sh.inflight[0]
		sh.inflight = sh.inflight[1:]
		sh.st.completeWrite(w.w, now, nil)
	}
	if r.err != nil {
		sh.log.Warn().Err(r.err).Int("writes", len(sh.inflight)).Msg("offsets partition writes were not acknowledged")
		for _, w := range sh.inflight {
			sh.st.completeWrite(w.w, now, r.err)
		}
		sh.inflight = nil
	}
}

// shutdown finishes what the stopped shard cannot: writes already below the
// high watermark complete; the rest, and every waiting request, are
// answered NOT_COORDINATOR so that clients find the new coordinator.
func (sh *shard) shutdown() {
	now := sh.now()
	hw := sh.part.HighWatermark()
	for _, w := range sh.inflight {
		if w.res.LastOffset < hw {
			sh.st.completeWrite(w.w, now, nil)
		} else {
			sh.st.completeWrite(w.w, now, errShardStopped)
		}
	}
	sh.inflight = nil
	for ws := sh.st.takeWrites(); len(ws) > 0; ws = sh.st.takeWrites() {
		for _, w := range ws {
			sh.st.completeWrite(w, now, errShardStopped)
		}
	}
	sh.st.unload()
}

// load reads the partition from its log start up to the end it had when
// this broker became leader, waiting for the high watermark to get there
// (in a cluster, records past it are not committed yet).
func (sh *shard) load() error {
	l := newLoader()
	target := sh.part.LogEndOffset()
	off := sh.part.LogStartOffset()
	wake := make(chan struct{}, 1)
	sh.part.AddWaiter(wake)
	defer sh.part.RemoveWaiter(wake)
	for off < target {
		select {
		case <-sh.stop:
			return errShardStopped
		default:
		}
		res, err := sh.part.Read(off, loadReadBytes, -1)
		if err != nil {
			if start := sh.part.LogStartOffset(); errors.Is(err, kerr.OffsetOutOfRange) && off < start {
				off = start // retention moved the log start meanwhile
				continue
			}
			return fmt.Errorf("reading %s-%d at offset %d: %w", OffsetsTopic, sh.index, off, err)
		}
		if len(res.Records) == 0 {
			select {
			case <-wake:
			case <-sh.stop:
				return errShardStopped
			}
			continue
		}
		next, err := sh.replay(l, res.Records)
		if err != nil {
			return err
		}
		if next <= off {
			return fmt.Errorf("reading %s-%d at offset %d made no progress", OffsetsTopic, sh.index, off)
		}
		off = next
	}
	sh.st.install(l, sh.now())
	if l.skipped > 0 {
		sh.log.Warn().Int("records", l.skipped).Msg("skipped records of group types Samsa does not serve (share and streams groups)")
	}
	return nil
}

// replay applies the records of every whole batch in b and returns the
// offset after the last one.
func (sh *shard) replay(l *loader, b []byte) (int64, error) {
	var next int64 = -1
	for len(b) > 0 {
		h, err := storage.ParseBatchHeader(b)
		if err != nil {
			return next, fmt.Errorf("loading %s-%d: %w", OffsetsTopic, sh.index, err)
		}
		if h.Size() > int64(len(b)) {
			break
		}
		batch := b[:h.Size()]
		b = b[h.Size():]
		next = h.NextOffset()
		if h.IsControl() || h.IsTransactional() {
			// Transactional offset commits come with transactions, which
			// Samsa does not have; markers carry no group state.
			continue
		}
		recs, err := storage.DecodeRecords(batch)
		if err != nil {
			sh.log.Error().Err(err).Int64("offset", h.BaseOffset).Msg("skipping a batch that does not decode")
			continue
		}
		for _, r := range recs {
			if err := l.apply(r.Key, r.Value); err != nil {
				sh.log.Error().Err(err).Int64("offset", r.Offset).Msg("skipping a record that does not decode")
			}
		}
	}
	return next, nil
}
