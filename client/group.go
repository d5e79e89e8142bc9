package client

// The group consumer: partitions shared among the members of a consumer
// group, offsets committed to the group's coordinator.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Handler handles one batch: the records one poll returned, in offset order
// within each partition, from the partitions this member owns. It runs on
// the goroutine that called Consume, one batch at a time.
//
// Returning nil means the batch is done: Consume commits it (unless
// GroupManualCommit) before polling again. Returning an error stops
// Consume without committing the batch.
type Handler func(ctx context.Context, recs []Record) error

// GroupConsumer reads topics as a member of a consumer group: the group's
// coordinator shares the topics' partitions among its members, and moves
// them when members join, leave or die (a rebalance).
//
// # Delivery
//
// Consume gives each batch to a handler and, when it returns nil, commits
// the offsets after the batch before polling again: at-least-once. A
// record is committed only after its handler returned, so a crash (or a
// failed commit) before the commit means the record is delivered again —
// to this member after a restart, or to the partition's next owner — and
// never that it is lost. Handlers must therefore tolerate seeing a record
// twice.
//
// Rebalances wait while a batch is being handled and committed
// (BlockRebalanceOnPoll in kgo), so a commit never lands on a partition
// this member no longer owns, and the assignment callbacks never run
// during the handler. The price: a handler that runs longer than the
// rebalance timeout gets the member dropped from the group; bound batches
// with GroupMaxPollRecords if handling is slow.
//
// # Concurrency
//
// One Consume runs at a time. Seek, Pause, Resume, Commit and Assigned may
// be called from the handler, from the assignment callbacks or from other
// goroutines. Close may be called from any goroutine but the handler's and
// the callbacks'.
type GroupConsumer struct {
	parent *Client
	kcl    *kgo.Client
	group  string
	topics []string
	cfg    groupConfig

	stopCtx   context.Context // done once Close starts
	stop      context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	mu struct {
		sync.Mutex
		closed   bool
		running  chan struct{} // closed when the running Consume returns; nil when none runs
		assigned map[string]map[int32]struct{}
		// assigning is true while OnAssigned runs: a Seek then names a
		// partition not fetched yet, and is kept in seeks until kgo
		// asks where the new partitions start.
		assigning bool
		seeks     map[string]map[int32]int64
	}
}

// NewGroupConsumer builds a member of group that consumes topics, owned by
// c. It joins the group in the background at once; Consume delivers
// records once partitions are assigned.
func (c *Client) NewGroupConsumer(group string, topics []string, opts ...GroupOption) (*GroupConsumer, error) {
	cfg := defaultGroupConfig()
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case group == "":
		return nil, fmt.Errorf("new group consumer: %w", invalidf("empty group name"))
	case len(topics) == 0 || slices.Contains(topics, ""):
		return nil, fmt.Errorf("new group consumer %q: %w", group, invalidf("no topics, or an empty topic name"))
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new group consumer %q: %w", group, err)
	}
	kopts, err := cfg.kgoOpts(group, topics)
	if err != nil {
		return nil, fmt.Errorf("new group consumer %q: %w", group, err)
	}
	g := &GroupConsumer{parent: c, group: group, topics: slices.Clone(topics), cfg: cfg}
	g.stopCtx, g.stop = context.WithCancel(context.Background())
	g.mu.assigned = make(map[string]map[int32]struct{})
	kopts = append(kopts,
		kgo.OnPartitionsAssigned(g.onAssigned),
		kgo.OnPartitionsRevoked(g.onRevoked),
		kgo.OnPartitionsLost(g.onLost),
		kgo.AdjustFetchOffsetsFn(g.adjustOffsets),
	)
	if g.kcl, err = c.newKgo(kopts...); err != nil {
		return nil, fmt.Errorf("new group consumer %q: %w", group, err)
	}
	if err := c.adopt(g); err != nil {
		g.kcl.Close()
		return nil, fmt.Errorf("new group consumer %q: %w", group, err)
	}
	return g, nil
}

// Group returns the group's name.
func (g *GroupConsumer) Group() string { return g.group }

// Topics returns the topics the member consumes.
func (g *GroupConsumer) Topics() []string { return slices.Clone(g.topics) }

// Member returns the member id the coordinator gave this member and the
// group's generation, or "" and -1 before the member has joined.
func (g *GroupConsumer) Member() (id string, generation int32) { return g.kcl.GroupMetadata() }

// Consume polls for records and calls h with each batch until ctx is done,
// h fails, an error Consume cannot recover from occurs, or the consumer is
// closed. Unless GroupManualCommit, each batch is committed once h returns
// nil, before the next poll (see GroupConsumer for the guarantees).
//
// It returns ctx's error when ctx is done, ErrClosed after Close, h's
// error wrapped (errors.Is finds it), or a *PartitionError for a fatal
// fetch or commit failure. In every case the records of the batch in hand
// are not committed, and the next Consume on this member — or the
// partitions' next owner — delivers them again.
//
// Errors Consume recovers from (retried fetches, commits refused by a
// rebalance) go to the GroupOnError function and do not stop it.
func (g *GroupConsumer) Consume(ctx context.Context, h Handler) error {
	if h == nil {
		return invalidf("Consume without a handler")
	}
	done, err := g.startConsume()
	if err != nil {
		return err
	}
	defer g.endConsume(done)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(g.stopCtx, cancel)
	defer stopOnClose()

	for {
		if err := ctx.Err(); err != nil {
			return g.exitErr(err)
		}
		b, err := g.poll(ctx)
		if err == nil && len(b.recs) > 0 {
			err = g.handle(ctx, h, b)
		}
		// The batch is handled and committed, or rewound: the group may
		// rebalance now.
		g.kcl.AllowRebalance()
		if err != nil {
			return g.exitErr(err)
		}
	}
}

// exitErr turns the context error of a Consume stopped by Close into
// ErrClosed.
func (g *GroupConsumer) exitErr(err error) error {
	if g.stopCtx.Err() != nil && errors.Is(err, context.Canceled) {
		return ErrClosed
	}
	return err
}

func (g *GroupConsumer) startConsume() (chan struct{}, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.mu.closed:
		return nil, ErrClosed
	case g.mu.running != nil:
		return nil, invalidf("Consume is already running on group consumer %q", g.group)
	}
	g.mu.running = make(chan struct{})
	return g.mu.running, nil
}

func (g *GroupConsumer) endConsume(done chan struct{}) {
	g.mu.Lock()
	g.mu.running = nil
	g.mu.Unlock()
	close(done)
}

// batch is one poll's records, as given to the handler and as kgo gave
// them (for the leader epochs of the commit).
type batch struct {
	recs []Record
	krs  []*kgo.Record
}

// poll returns the next batch, reporting or returning the partition errors
// of the poll. After a non-empty poll the group cannot rebalance until
// AllowRebalance.
func (g *GroupConsumer) poll(ctx context.Context) (batch, error) {
	fs := g.kcl.PollRecords(ctx, g.cfg.maxPollRecords)
	if fs.IsClientClosed() {
		return batch{}, ErrClosed
	}
	var (
		b     batch
		fatal error
	)
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil && !errors.Is(p.Err, context.Canceled) && !errors.Is(p.Err, context.DeadlineExceeded) {
			pe := &PartitionError{Op: "consume", Topic: p.Topic, Partition: p.Partition, Offset: -1, Err: p.Err}
			if fatal == nil && fatalFetchErr(p.Err) {
				fatal = pe
			} else {
				g.report(pe)
			}
		}
		for _, kr := range p.Records {
			b.krs = append(b.krs, kr)
			b.recs = append(b.recs, fromKgo(kr))
		}
	})
	if fatal != nil || (len(b.recs) > 0 && ctx.Err() != nil) {
		// Not handed to the handler: fetch these again next time.
		g.rewind(b)
		if fatal == nil {
			fatal = ctx.Err()
		}
		return batch{}, fatal
	}
	if len(b.recs) == 0 && ctx.Err() != nil {
		return batch{}, ctx.Err()
	}
	return b, nil
}

// fatalFetchErr reports whether a fetch error stops Consume: one that kgo
// does not retry and that is not merely informational.
func fatalFetchErr(err error) bool {
	var dl *kgo.ErrDataLoss
	return !errors.As(err, &dl) && !IsRetriable(err)
}

// handle gives b to h and commits it.
func (g *GroupConsumer) handle(ctx context.Context, h Handler, b batch) error {
	if err := h(ctx, b.recs); err != nil {
		g.rewind(b)
		return fmt.Errorf("group %q: the handler failed on a batch of %d records, not committed (the next Consume delivers them again): %w",
			g.group, len(b.recs), err)
	}
	if g.cfg.manualCommit {
		return nil
	}
	// Handled records are committed even if ctx ended during the
	// handler: otherwise they would be handled twice.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.commitTimeout)
	defer cancel()
	err := g.commit(cctx, nextOffsets(b.krs))
	if err == nil {
		return nil
	}
	g.rewind(b)
	if IsRetriable(err) {
		g.report(err)
		return nil
	}
	return err
}

// nextOffsets returns, per partition, the offset after the last record of
// krs, with that record's leader epoch.
func nextOffsets(krs []*kgo.Record) map[string]map[int32]kgo.EpochOffset {
	out := make(map[string]map[int32]kgo.EpochOffset)
	for _, r := range krs {
		if out[r.Topic] == nil {
			out[r.Topic] = make(map[int32]kgo.EpochOffset)
		}
		next := kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		if cur, ok := out[r.Topic][r.Partition]; !ok || cur.Less(next) {
			out[r.Topic][r.Partition] = next
		}
	}
	return out
}

// rewind moves the fetch position of b's partitions back to b's first
// records, so that records polled but not committed are fetched again.
func (g *GroupConsumer) rewind(b batch) {
	first := make(map[string]map[int32]kgo.EpochOffset)
	for _, r := range b.krs {
		if first[r.Topic] == nil {
			first[r.Topic] = make(map[int32]kgo.EpochOffset)
		}
		if cur, ok := first[r.Topic][r.Partition]; !ok || r.Offset < cur.Offset {
			first[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: -1, Offset: r.Offset}
		}
	}
	g.kcl.SetOffsets(first)
}

// Commit commits, for each partition of recs, the offset after the
// highest record given: the group resumes after them. It is for
// GroupManualCommit; with the default commit-after-handler, Consume commits
// each batch itself. Committing an offset lower than the committed one
// moves the group back.
//
// A commit for a partition this member no longer owns fails with a
// retriable error (kerr.IllegalGeneration, kerr.UnknownMemberID,
// kerr.RebalanceInProgress): its records will be delivered again.
func (g *GroupConsumer) Commit(ctx context.Context, recs ...Record) error {
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	for _, r := range recs {
		if r.Topic == "" || r.Partition < 0 || r.Offset < 0 {
			return invalidf("commit of a record without topic, partition or offset")
		}
		if offsets[r.Topic] == nil {
			offsets[r.Topic] = make(map[int32]kgo.EpochOffset)
		}
		// The epoch is unknown for a Record: -1 commits without it.
		next := kgo.EpochOffset{Epoch: -1, Offset: r.Offset + 1}
		if cur, ok := offsets[r.Topic][r.Partition]; !ok || cur.Offset < next.Offset {
			offsets[r.Topic][r.Partition] = next
		}
	}
	return g.commit(ctx, offsets)
}

// commit commits offsets and returns every partition's failure, joined.
func (g *GroupConsumer) commit(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
	if len(offsets) == 0 {
		return nil
	}
	var errs []error
	g.kcl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("group %q: commit: %w", g.group, err))
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					errs = append(errs, fmt.Errorf("group %q: %w", g.group, &PartitionError{
						Op: "commit", Topic: t.Topic, Partition: p.Partition, Offset: offsets[t.Topic][p.Partition].Offset, Err: err,
					}))
				}
			}
		}
	})
	return errors.Join(errs...)
}

// report passes an error Consume recovered from to the OnError function,
// or logs it.
func (g *GroupConsumer) report(err error) {
	if g.cfg.onError != nil {
		g.cfg.onError(err)
		return
	}
	g.parent.cfg.logger.Warn().Err(err).Str("group", g.group).Msg("group consumer recovered from an error")
}

// Assigned returns the partitions this member owns now, sorted.
func (g *GroupConsumer) Assigned() map[string][]int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string][]int32, len(g.mu.assigned))
	for t, ps := range g.mu.assigned {
		out[t] = slices.Sorted(maps.Keys(ps))
	}
	return out
}

// Seek moves where the member next fetches partition of topic: the next
// batch from it starts at offset (clamped to the log as GroupResetOffset
// says). It concerns a partition this member owns: call it from the
// handler, or from OnAssigned to choose where a new partition starts. It
// does not commit: with commit-after-handler, the next batch's commit
// records the new position. A Seek for a partition the member does not
// own is ignored.
func (g *GroupConsumer) Seek(topic string, partition int32, offset int64) {
	g.mu.Lock()
	if g.mu.assigning {
		if g.mu.seeks == nil {
			g.mu.seeks = make(map[string]map[int32]int64)
		}
		if g.mu.seeks[topic] == nil {
			g.mu.seeks[topic] = make(map[int32]int64)
		}
		g.mu.seeks[topic][partition] = offset
	}
	g.mu.Unlock()
	g.kcl.SetOffsets(map[string]map[int32]kgo.EpochOffset{topic: {partition: {Epoch: -1, Offset: offset}}})
}

// Pause stops fetching the given partitions of topic until Resume. Records
// of them already handed to the handler are unaffected; no later batch
// holds any. Pauses last across rebalances.
func (g *GroupConsumer) Pause(topic string, partitions ...int32) {
	g.kcl.PauseFetchPartitions(map[string][]int32{topic: partitions})
}

// Resume fetches paused partitions again, from where they stopped. It
// takes effect with the member's next fetch request: on an idle member,
// after the fetch in flight returns (GroupFetchMaxWait).
func (g *GroupConsumer) Resume(topic string, partitions ...int32) {
	g.kcl.ResumeFetchPartitions(map[string][]int32{topic: partitions})
}

// Paused returns the paused partitions.
func (g *GroupConsumer) Paused() map[string][]int32 {
	return g.kcl.PauseFetchPartitions(nil)
}

// leaveTimeout bounds how long Close waits for the coordinator to accept
// the member's leave.
const leaveTimeout = 10 * time.Second

// Close stops a running Consume — cancels the context its handler got,
// and waits for the handler to return and its batch to be committed — then
// leaves the group, so that the member's partitions move to the others at
// once, and closes the connections. It returns the LeaveGroup failure, if
// any (the partitions then move when the member's session expires).
// Close is idempotent.
func (g *GroupConsumer) Close() error {
	g.closeOnce.Do(func() {
		g.closeErr = g.shutdown()
		g.parent.release(g)
	})
	return g.closeErr
}

func (g *GroupConsumer) closeFromParent() {
	g.closeOnce.Do(func() { g.closeErr = g.shutdown() })
}

func (g *GroupConsumer) shutdown() error {
	g.mu.Lock()
	g.mu.closed = true
	running := g.mu.running
	g.mu.Unlock()
	g.stop()
	if running != nil {
		<-running
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	err := g.kcl.LeaveGroupContext(ctx)
	g.kcl.Close()
	if err != nil {
		return fmt.Errorf("group %q: leave: %w", g.group, err)
	}
	return nil
}

// onAssigned, onRevoked and onLost are kgo's callbacks. With
// BlockRebalanceOnPoll they run only between batches.
func (g *GroupConsumer) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	g.mu.Lock()
	for t, ps := range assigned {
		if g.mu.assigned[t] == nil {
			g.mu.assigned[t] = make(map[int32]struct{})
		}
		for _, p := range ps {
			g.mu.assigned[t][p] = struct{}{}
		}
	}
	g.mu.assigning = true
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.mu.assigning = false
		g.mu.Unlock()
	}()
	if g.cfg.onAssigned != nil && len(assigned) > 0 {
		g.cfg.onAssigned(ctx, assigned)
	}
}

func (g *GroupConsumer) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if g.cfg.onRevoked != nil && len(revoked) > 0 {
		g.cfg.onRevoked(ctx, revoked)
	}
	g.unassign(revoked)
}

func (g *GroupConsumer) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	fn := g.cfg.onLost
	if fn == nil {
		fn = g.cfg.onRevoked
	}
	if fn != nil && len(lost) > 0 {
		fn(ctx, lost)
	}
	g.unassign(lost)
}

func (g *GroupConsumer) unassign(tps map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for t, ps := range tps {
		for _, p := range ps {
			delete(g.mu.assigned[t], p)
		}
		if len(g.mu.assigned[t]) == 0 {
			delete(g.mu.assigned, t)
		}
	}
}

// adjustOffsets applies the Seeks made in OnAssigned to the partitions
// about to be fetched, and forgets the others.
func (g *GroupConsumer) adjustOffsets(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	g.mu.Lock()
	seeks := g.mu.seeks
	g.mu.seeks = nil
	g.mu.Unlock()
	for t, ps := range seeks {
		for p, off := range ps {
			if _, ok := offsets[t][p]; ok {
				offsets[t][p] = kgo.NewOffset().At(off)
			}
		}
	}
	return offsets, nil
}
