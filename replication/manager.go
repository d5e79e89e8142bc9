package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/samsa-io/samsa/storage"
)

// ManagerConfig configures the partitions of one broker.
type ManagerConfig struct {
	NodeID int32
	// LogDir holds one directory per partition (storage layout).
	LogDir string
	// Durability applies to every partition log.
	Durability storage.Durability
	// RetentionCheckInterval is log.retention.check.interval.ms: how often
	// segments past retention are looked for.
	RetentionCheckInterval time.Duration
	// ReplicaLagTimeMax is replica.lag.time.max.ms: how long a follower may
	// lag before the leader shrinks it out of the ISR (0: Kafka's 30 s).
	ReplicaLagTimeMax time.Duration
	// ISR sends ISR changes to the active controller (nil: never sent,
	// which only a single-replica setup survives).
	ISR ISRSender
	// Fetcher configures the follower fetchers; without Fetcher.Resolve
	// this broker follows no leader.
	Fetcher FetcherConfig
	Logger  zerolog.Logger
}

// Validate reports a configuration that cannot work.
func (c ManagerConfig) Validate() error {
	if c.LogDir == "" {
		return errors.New("replication: log directory is not set")
	}
	if c.RetentionCheckInterval <= 0 {
		return fmt.Errorf("replication: log.retention.check.interval.ms must be positive, got %v", c.RetentionCheckInterval)
	}
	return nil
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// PartitionSpec is everything the metadata image says about a partition this
// broker hosts, with the topic's configuration.
type PartitionSpec struct {
	TopicPartition
	TopicID [16]byte
	State   LeaderState
	Config  PartitionConfig
	// Storage carries the topic's segment settings; Dir, TopicID and
	// Durability are filled in by the Manager.
	Storage storage.Config
}

// Manager owns every partition replica of the broker: it opens a partition's
// log when metadata assigns it here, applies leader changes, and closes or
// deletes it when it moves away or its topic is deleted.
type Manager struct {
	cfg      ManagerConfig
	fetchers *fetchers
	stop     chan struct{}
	loops    sync.WaitGroup // the retention, compaction and ISR loops
	mu       struct {
		sync.RWMutex
		parts  map[TopicPartition]*Partition
		closed bool
	}
}

// NewManager creates the log directory if needed.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	m := &Manager{cfg: cfg, stop: make(chan struct{})}
	m.fetchers = newFetchers(cfg.NodeID, cfg.Fetcher, cfg.Logger)
	m.mu.parts = make(map[TopicPartition]*Partition)
	m.loops.Add(3)
	go m.every(cfg.RetentionCheckInterval, func(_ context.Context, now time.Time) { m.ApplyRetention(now) })
	go m.every(cfg.RetentionCheckInterval, func(ctx context.Context, now time.Time) { m.compact(ctx, now) })
	go m.every(isrCheckInterval(cfg.ReplicaLagTimeMax), func(_ context.Context, now time.Time) { m.tick(now) })
	return m, nil
}

// every runs fn every interval until Close; ctx ends with Close, so a long
// compaction pass stops early. Retention and compaction run in separate
// loops: a long compaction pass never delays retention elsewhere.
func (m *Manager) every(interval time.Duration, fn func(ctx context.Context, now time.Time)) {
	defer m.loops.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-tick.C:
			fn(ctx, now)
		}
	}
}

// isrCheckInterval is how often leaders look for followers to shrink out of
// the ISR: often enough that a lagging follower leaves within about 1.25
// times replica.lag.time.max.ms.
func isrCheckInterval(lag time.Duration) time.Duration {
	if lag <= 0 {
		lag = DefaultReplicaLagTimeMaxMs * time.Millisecond
	}
	return max(10*time.Millisecond, min(lag/4, time.Second))
}

// tick runs the ISR shrink check of every partition this broker leads.
func (m *Manager) tick(now time.Time) {
	for _, p := range m.partitions() {
		p.tick(now)
	}
}

// partitions snapshots the hosted partitions.
func (m *Manager) partitions() []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	parts := make([]*Partition, 0, len(m.mu.parts))
	for _, p := range m.mu.parts {
		parts = append(parts, p)
	}
	return parts
}

// Compact runs one compaction pass over every hosted partition whose
// cleanup.policy has compact and returns how many partitions were
// compacted.
func (m *Manager) Compact(now time.Time) int {
	return m.compact(context.Background(), now)
}

func (m *Manager) compact(ctx context.Context, now time.Time) int {
	n := 0
	for _, p := range m.partitions() {
		res, err := p.compact(ctx, now)
		if err != nil && ctx.Err() == nil && !errors.Is(err, storage.ErrClosed) && !errors.Is(err, storage.ErrTruncated) {
			p.logger.Error().Err(err).Int32("epoch", p.LeaderEpoch()).Msg("compaction failed")
		}
		if res.Cleaned {
			n++
		}
	}
	return n
}

// ApplyRetention runs one retention pass over every hosted partition and
// returns the number of segments deleted.
func (m *Manager) ApplyRetention(now time.Time) int {
	parts := m.partitions()
	total := 0
	for _, p := range parts {
		n, err := p.applyRetention(now)
		if err != nil {
			p.logger.Error().Err(err).Msg("retention failed")
		}
		total += n
	}
	return total
}

// Get returns the partition if this broker hosts it.
func (m *Manager) Get(tp TopicPartition) (*Partition, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.mu.parts[tp]
	return p, ok
}

// Partitions lists the hosted partitions, sorted.
func (m *Manager) Partitions() []TopicPartition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]TopicPartition, 0, len(m.mu.parts))
	for tp := range m.mu.parts {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Apply opens the partition if needed and applies its leader state and
// configuration. A directory left by an older topic of the same name (a
// different topic id) is removed first: the image names the live topic.
func (m *Manager) Apply(spec PartitionSpec) (*Partition, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return nil, ErrClosed
	}
	p, ok := m.mu.parts[spec.TopicPartition]
	if ok && p.TopicID != spec.TopicID {
		m.fetchers.unfollow(p)
		if err := p.close(true); err != nil {
			return nil, fmt.Errorf("removing replaced partition %s-%d: %w", spec.Topic, spec.Partition, err)
		}
		delete(m.mu.parts, spec.TopicPartition)
		ok = false
	}
	if !ok {
		var err error
		if p, err = m.openLocked(spec); err != nil {
			return nil, err
		}
		m.mu.parts[spec.TopicPartition] = p
	}
	if ok && segmentSettingsChanged(p.segmentSettings, spec.Storage) {
		if err := p.log.SetConfig(m.storageConfig(spec)); err != nil {
			return nil, fmt.Errorf("applying segment settings to %s-%d: %w", spec.Topic, spec.Partition, err)
		}
	}
	p.segmentSettings = spec.Storage
	p.setState(spec.State, spec.Config)
	st := spec.State
	if st.Leader >= 0 && st.Leader != m.cfg.NodeID && slices.Contains(st.Replicas, m.cfg.NodeID) {
		m.fetchers.follow(p, st.Leader, st.LeaderEpoch)
	} else {
		m.fetchers.unfollow(p)
	}
	return p, nil
}

// segmentSettingsChanged compares the topic-controlled segment and flush
// settings.
func segmentSettingsChanged(a, b storage.Config) bool {
	return a.SegmentBytes != b.SegmentBytes || a.SegmentMs != b.SegmentMs ||
		a.IndexIntervalBytes != b.IndexIntervalBytes || a.SegmentIndexBytes != b.SegmentIndexBytes ||
		a.FlushMessages != b.FlushMessages || a.FlushMs != b.FlushMs
}

func (m *Manager) storageConfig(spec PartitionSpec) storage.Config {
	scfg := spec.Storage
	scfg.Dir = filepath.Join(m.cfg.LogDir, storage.PartitionDirName(spec.Topic, spec.Partition))
	scfg.TopicID = spec.TopicID
	scfg.Durability = m.cfg.Durability
	// storage adds the topic and partition fields itself, from the
	// directory name; adding them here too repeats the JSON keys.
	scfg.Logger = m.cfg.Logger
	return scfg
}

func (m *Manager) openLocked(spec PartitionSpec) (*Partition, error) {
	scfg := m.storageConfig(spec)
	log, err := storage.Open(scfg)
	if errors.Is(err, storage.ErrTopicIDMismatch) {
		// The directory belongs to a deleted topic that had this name; the
		// deletion did not finish before a crash.
		m.cfg.Logger.Warn().Str("dir", scfg.Dir).Msg("removing partition directory of a deleted topic")
		if rmErr := os.RemoveAll(scfg.Dir); rmErr != nil {
			return nil, fmt.Errorf("removing stale %s: %w", scfg.Dir, rmErr)
		}
		log, err = storage.Open(scfg)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s-%d: %w", spec.Topic, spec.Partition, err)
	}
	p, err := newPartition(spec.Topic, spec.Partition, spec.TopicID, m.cfg.NodeID, log, m.cfg.Logger,
		partitionOptions{isr: m.cfg.ISR, replicaLagTimeMs: m.cfg.ReplicaLagTimeMax.Milliseconds()})
	if err != nil {
		log.Close()
		return nil, err
	}
	return p, nil
}

// RemoveStrays deletes the partition directories of the log directory
// that no open partition uses and keep does not claim: logs of topics
// deleted, or of partitions moved to other brokers, while this broker was
// down. It returns the directories removed. Names that are not partition
// directories are left alone; a directory that cannot be removed stays,
// and its error is returned joined with the others'.
//
// The caller must know the cluster's current assignment, and keep must
// claim every partition assigned here even if it failed to open: a
// directory is deleted only because the metadata says this broker holds
// no replica of it.
func (m *Manager) RemoveStrays(keep func(TopicPartition) bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock() // so that no Apply opens a directory being removed
	if m.mu.closed {
		return nil, ErrClosed
	}
	entries, err := os.ReadDir(m.cfg.LogDir)
	if err != nil {
		return nil, fmt.Errorf("listing %s for stray partitions: %w", m.cfg.LogDir, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		topic, partition, ok := storage.ParsePartitionDir(e.Name())
		tp := TopicPartition{Topic: topic, Partition: partition}
		if !ok || !e.IsDir() || keep(tp) {
			continue
		}
		if _, open := m.mu.parts[tp]; open {
			continue
		}
		dir := filepath.Join(m.cfg.LogDir, e.Name())
		if err := storage.RemoveDir(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		m.cfg.Logger.Warn().Str("dir", dir).
			Msg("removed a stray partition directory: the metadata assigns no replica of it to this broker")
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

// Remove closes a partition that moved away (delete=false) or deletes its
// data because its topic was deleted (delete=true).
func (m *Manager) Remove(tp TopicPartition, deleteData bool) error {
	m.mu.Lock()
	p, ok := m.mu.parts[tp]
	delete(m.mu.parts, tp)
	m.mu.Unlock()
	if !ok {
		return nil
	}
	m.fetchers.unfollow(p)
	return p.close(deleteData)
}

// Close closes every partition: each log is synced and closed.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	close(m.stop)
	parts := m.mu.parts
	m.mu.parts = map[TopicPartition]*Partition{}
	m.mu.Unlock()
	m.fetchers.close()
	m.loops.Wait()
	var errs []error
	for _, p := range parts {
		if err := p.close(false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
