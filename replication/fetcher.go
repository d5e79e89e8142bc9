package replication

// Follower fetchers: one goroutine per source broker copies the partitions
// this broker follows from that leader, all of them in one Fetch request
// (replica id set, in a fetch session) per round. A round appends each partition's
// batches, fsyncs every partition it appended to (durability fsync: the
// next fetch offset, which the leader counts towards the high watermark,
// must be durable here), then applies the leader's high watermark and log
// start offset. A partition the leader refuses (stale epoch, not leader yet)
// backs off alone; a failed request backs the whole source off.
//
// Each source fetcher keeps an incremental fetch session (KIP-227) with its
// leader: after the first, full request, a request lists only the
// partitions whose position (fetch offset, last fetched epoch, leader
// epoch) changed, plus the ones to forget (no longer followed, or backing
// off), and the leader answers only the partitions with news. The leader
// counts every session partition as fetched at its cached position. An
// unknown session or epoch, a failed request or a new leader address starts
// a new session with a full request.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

// FetcherConfig configures the follower fetchers of a broker.
type FetcherConfig struct {
	// Resolve returns the address of a broker's client listener from the
	// latest metadata image.
	Resolve func(broker int32) (addr string, ok bool)
	// BrokerEpoch returns this broker's registration epoch, sent in Fetch
	// v15+ so that the leader can refuse a stale incarnation (KIP-903). A
	// broker does not fetch before it has one (-1): a restarted process
	// must not be taken for the incarnation the leader knew.
	BrokerEpoch func() int64
	// MaxWait is replica.fetch.wait.max.ms, MaxBytes
	// replica.fetch.response.max.bytes, PartitionMaxBytes
	// replica.fetch.max.bytes and Backoff replica.fetch.backoff.ms.
	MaxWait           time.Duration
	MaxBytes          int32
	PartitionMaxBytes int32
	Backoff           time.Duration
	// Throttle is follower.replication.throttled.rate: it bounds what
	// this broker fetches for the partitions a reassignment is adding it
	// to, until it is in their ISR (Partition.CatchingUp). While the
	// bucket is in debt those partitions are left out of the fetches
	// (forgotten from the session, as Kafka's fetcher does). Nil: no
	// limit.
	Throttle *Throttle
}

// DefaultFetcherConfig returns Kafka's defaults.
func DefaultFetcherConfig() FetcherConfig {
	return FetcherConfig{
		MaxWait: 500 * time.Millisecond, MaxBytes: 10 << 20, PartitionMaxBytes: 1 << 20,
		Backoff: time.Second,
	}
}

// registrationWait is how often a fetcher looks again for this broker's
// registration epoch before its first fetch.
const registrationWait = 50 * time.Millisecond

// fetchers owns the source fetchers of a Manager.
type fetchers struct {
	nodeID int32
	cfg    FetcherConfig
	log    zerolog.Logger

	mu       sync.Mutex
	bySource map[int32]*sourceFetcher
	source   map[*Partition]int32 // the source each partition follows
	closed   bool
}

func newFetchers(nodeID int32, cfg FetcherConfig, log zerolog.Logger) *fetchers {
	d := DefaultFetcherConfig()
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = d.MaxWait
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = d.MaxBytes
	}
	if cfg.PartitionMaxBytes <= 0 {
		cfg.PartitionMaxBytes = d.PartitionMaxBytes
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = d.Backoff
	}
	if cfg.BrokerEpoch == nil {
		cfg.BrokerEpoch = func() int64 { return -1 }
	}
	return &fetchers{nodeID: nodeID, cfg: cfg, log: log,
		bySource: make(map[int32]*sourceFetcher), source: make(map[*Partition]int32)}
}

// follow makes p fetch from leader at leaderEpoch (moving it from another
// source if needed).
func (f *fetchers) follow(p *Partition, leader, leaderEpoch int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.cfg.Resolve == nil {
		return
	}
	if old, ok := f.source[p]; ok && old != leader {
		f.unfollowLocked(p)
	}
	sf := f.bySource[leader]
	if sf == nil {
		sf = newSourceFetcher(f, leader)
		f.bySource[leader] = sf
		go sf.run()
	}
	f.source[p] = leader
	sf.set(p, leaderEpoch)
}

// unfollow stops fetching p.
func (f *fetchers) unfollow(p *Partition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unfollowLocked(p)
}

func (f *fetchers) unfollowLocked(p *Partition) {
	src, ok := f.source[p]
	if !ok {
		return
	}
	delete(f.source, p)
	sf := f.bySource[src]
	if sf.remove(p) == 0 {
		delete(f.bySource, src)
		sf.stop()
	}
}

// close stops every fetcher and waits for them.
func (f *fetchers) close() {
	f.mu.Lock()
	f.closed = true
	all := f.bySource
	f.bySource, f.source = map[int32]*sourceFetcher{}, map[*Partition]int32{}
	f.mu.Unlock()
	for _, sf := range all {
		sf.stop()
	}
}

// sourceFetcher copies partitions from one leader.
type sourceFetcher struct {
	owner  *fetchers
	source int32
	log    zerolog.Logger
	client *protocol.Client

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// The fetch session, owned by run's goroutine: its id and the epoch
	// the next request carries (0: open a new one with a full request),
	// and what the session holds for each partition.
	sessionID    int32
	sessionEpoch int32
	sessionParts map[*Partition]sentPosition

	mu      sync.Mutex
	parts   map[*Partition]*followState
	changed chan struct{} // capacity 1
}

type followState struct {
	leaderEpoch int32
	retryAt     time.Time
}

// sentPosition is a partition's fetch position as the session last sent it.
type sentPosition struct {
	offset      int64
	lastEpoch   int32
	leaderEpoch int32
	// logStart is sent too: the leader waits for it in DeleteRecords.
	logStart int64
}

// resetSession makes the next request a full one opening a new session.
func (s *sourceFetcher) resetSession() {
	s.sessionID, s.sessionEpoch, s.sessionParts = 0, 0, nil
}

func newSourceFetcher(owner *fetchers, source int32) *sourceFetcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &sourceFetcher{
		owner: owner, source: source, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		log:   owner.log.With().Int32("source_broker", source).Logger(),
		parts: make(map[*Partition]*followState), changed: make(chan struct{}, 1),
	}
}

func (s *sourceFetcher) set(p *Partition, leaderEpoch int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.parts[p]; ok && st.leaderEpoch == leaderEpoch {
		return
	}
	s.parts[p] = &followState{leaderEpoch: leaderEpoch}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *sourceFetcher) remove(p *Partition) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.parts, p)
	return len(s.parts)
}

func (s *sourceFetcher) stop() {
	s.cancel()
	<-s.done
}

// fetchItem is one partition of a round.
type fetchItem struct {
	p           *Partition
	leaderEpoch int32
	offset      int64
}

func (s *sourceFetcher) run() {
	defer close(s.done)
	defer func() {
		if s.client != nil {
			s.client.Close()
		}
	}()
	for {
		items, wait := s.plan()
		if len(items) > 0 && s.owner.cfg.BrokerEpoch() < 0 {
			items, wait = nil, registrationWait
		}
		if len(items) == 0 {
			var timer <-chan time.Time
			if wait > 0 {
				timer = time.After(wait)
			}
			select {
			case <-s.ctx.Done():
				return
			case <-s.changed:
			case <-timer:
			}
			continue
		}
		if err := s.round(items); err != nil {
			if s.ctx.Err() != nil {
				return
			}
			s.resetSession()
			if errors.Is(err, kerr.FetchSessionIDNotFound) || errors.Is(err, kerr.InvalidFetchSessionEpoch) {
				s.log.Debug().Err(err).Msg("the leader dropped the fetch session; opening a new one")
				continue
			}
			s.log.Warn().Err(err).Msg("replica fetch failed; backing off")
			if s.client != nil {
				s.client.Close()
				s.client = nil
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(s.owner.cfg.Backoff):
			}
		}
	}
}

// plan returns the partitions to fetch now, or how long until one may be.
func (s *sourceFetcher) plan() ([]fetchItem, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var items []fetchItem
	var wait time.Duration
	for p, st := range s.parts {
		if d := st.retryAt.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		items = append(items, fetchItem{p: p, leaderEpoch: st.leaderEpoch})
	}
	return items, wait
}

// backoff keeps p out of the next rounds for a while.
func (s *sourceFetcher) backoff(p *Partition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.parts[p]; ok {
		st.retryAt = time.Now().Add(s.owner.cfg.Backoff)
	}
}

type partKey struct {
	topicID   [16]byte
	topic     string
	partition int32
}

// round sends one Fetch for items and applies the answer.
func (s *sourceFetcher) round(items []fetchItem) error {
	addr, ok := s.owner.cfg.Resolve(s.source)
	if !ok {
		return errors.New("the leader's address is not in the metadata image")
	}
	if s.client == nil || s.client.Addr() != addr {
		if s.client != nil {
			s.client.Close()
		}
		s.client = protocol.NewClient(addr, "samsa-replica-fetcher")
		s.resetSession()
	}
	cfg := s.owner.cfg
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = s.owner.nodeID
	req.ReplicaState.ID = s.owner.nodeID
	req.ReplicaState.Epoch = cfg.BrokerEpoch()
	req.MaxWaitMillis = int32(cfg.MaxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = cfg.MaxBytes
	req.SessionID, req.SessionEpoch = s.sessionID, s.sessionEpoch
	full := s.sessionEpoch == 0
	sent := make(map[*Partition]sentPosition, len(items))
	byKey := make(map[partKey]*fetchItem, len(items))
	topicIdx := map[[16]byte]int{}
	now := time.Now()
	var throttled map[*Partition]bool // fetched under cfg.Throttle
	for i := range items {
		it := &items[i]
		if cfg.Throttle.Limited() && it.p.CatchingUp() {
			if !cfg.Throttle.Allow(now) {
				continue
			}
			if throttled == nil {
				throttled = make(map[*Partition]bool)
			}
			throttled[it.p] = true
		}
		offset, lastEpoch := it.p.FetchPosition()
		it.offset = offset
		logStart := it.p.LogStartOffset()
		pos := sentPosition{offset: offset, lastEpoch: lastEpoch, leaderEpoch: it.leaderEpoch, logStart: logStart}
		sent[it.p] = pos
		byKey[partKey{topicID: it.p.TopicID, partition: it.p.Index}] = it
		byKey[partKey{topic: it.p.Topic, partition: it.p.Index}] = it
		if prev, ok := s.sessionParts[it.p]; !full && ok && prev == pos {
			continue // the session has it
		}
		ti, ok := topicIdx[it.p.TopicID]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = it.p.Topic, it.p.TopicID
			req.Topics = append(req.Topics, t)
			ti = len(req.Topics) - 1
			topicIdx[it.p.TopicID] = ti
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = it.p.Index
		rp.CurrentLeaderEpoch = it.leaderEpoch
		rp.FetchOffset = offset
		rp.LastFetchedEpoch = lastEpoch
		rp.LogStartOffset = logStart
		rp.PartitionMaxBytes = cfg.PartitionMaxBytes
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, rp)
	}
	if !full {
		forgotten := map[[16]byte]int{}
		for p := range s.sessionParts {
			if _, ok := sent[p]; ok {
				continue
			}
			fi, ok := forgotten[p.TopicID]
			if !ok {
				ft := kmsg.NewFetchRequestForgottenTopic()
				ft.Topic, ft.TopicID = p.Topic, p.TopicID
				req.ForgottenTopics = append(req.ForgottenTopics, ft)
				fi = len(req.ForgottenTopics) - 1
				forgotten[p.TopicID] = fi
			}
			req.ForgottenTopics[fi].Partitions = append(req.ForgottenTopics[fi].Partitions, p.Index)
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, cfg.MaxWait+30*time.Second)
	defer cancel()
	kresp, err := s.client.Request(ctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	// The leader now holds sent as the session (or made no session: a
	// zero id keeps every request full).
	if resp.SessionID != 0 {
		s.sessionID, s.sessionEpoch, s.sessionParts = resp.SessionID, nextFetchSessionEpoch(s.sessionEpoch), sent
	} else {
		s.resetSession()
	}
	type progress struct {
		it              *fetchItem
		hw, logStart    int64
		appended, fresh bool
	}
	var done []progress
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			key := partKey{topic: t.Topic, partition: rp.Partition}
			if resp.Version >= 13 {
				key = partKey{topicID: t.TopicID, partition: rp.Partition}
			}
			it := byKey[key]
			if it == nil {
				continue
			}
			if throttled[it.p] {
				cfg.Throttle.Record(int64(len(rp.RecordBatches)), time.Now())
			}
			pr, err := s.apply(it, &rp)
			if err != nil {
				if !errors.Is(err, errNotFollower) && !errors.Is(err, ErrClosed) {
					s.log.Warn().Err(err).Str("topic", it.p.Topic).Int32("partition", it.p.Index).Msg("replicating a partition failed")
				}
				s.backoff(it.p)
				continue
			}
			if pr {
				done = append(done, progress{it: it, hw: rp.HighWatermark, logStart: rp.LogStartOffset, appended: len(rp.RecordBatches) > 0})
			}
		}
	}
	// Sync every partition appended to before the next fetch reports the
	// new offsets to the leader.
	var wg sync.WaitGroup
	errs := make([]error, len(done))
	for i := range done {
		if !done[i].appended {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = done[i].it.p.SyncLog(s.ctx)
		}()
	}
	wg.Wait()
	for i, d := range done {
		if errs[i] != nil {
			if s.ctx.Err() == nil {
				s.log.Error().Err(errs[i]).Str("topic", d.it.p.Topic).Int32("partition", d.it.p.Index).Msg("syncing a follower log failed")
			}
			s.backoff(d.it.p)
			continue
		}
		if err := d.it.p.FollowerSynced(d.it.leaderEpoch, d.hw, d.logStart); err != nil && !errors.Is(err, errNotFollower) {
			s.log.Warn().Err(err).Str("topic", d.it.p.Topic).Int32("partition", d.it.p.Index).Msg("applying the leader's offsets failed")
		}
	}
	return nil
}

// apply handles one partition of a response and reports whether the
// partition made progress to sync and report.
func (s *sourceFetcher) apply(it *fetchItem, rp *kmsg.FetchResponseTopicPartition) (bool, error) {
	err := kerr.ErrorForCode(rp.ErrorCode)
	switch {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		return false, it.p.RestartAt(it.leaderEpoch, rp.HighWatermark, rp.LogStartOffset)
	default:
		return false, err
	}
	if rp.DivergingEpoch.EndOffset >= 0 || rp.DivergingEpoch.Epoch >= 0 {
		return false, it.p.TruncateDiverging(it.leaderEpoch, EpochEndOffset{Epoch: rp.DivergingEpoch.Epoch, EndOffset: rp.DivergingEpoch.EndOffset})
	}
	if len(rp.RecordBatches) > 0 {
		if _, err := it.p.AppendFromLeader(rp.RecordBatches, it.leaderEpoch); err != nil {
			return false, err
		}
	}
	return true, nil
}

// nextFetchSessionEpoch is the epoch after e; it wraps from MaxInt32 to 1
// (0 opens a session, -1 means none).
func nextFetchSessionEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}
