package group

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/replication"
)

// Leadership is one __consumer_offsets partition this broker leads.
type Leadership struct {
	Partition *replication.Partition
	Epoch     int32
}

// Coordinator is the group coordinator of one broker: for every
// __consumer_offsets partition the broker leads it runs a shard that owns
// the groups hashing to that partition (see PartitionFor).
type Coordinator struct {
	cfg     Config
	log     zerolog.Logger
	clock   func() time.Time
	newUUID func() string

	// numPartitions is the partition count of __consumer_offsets in the
	// latest image, 0 while the topic does not exist.
	numPartitions atomic.Int32

	mu struct {
		sync.Mutex
		shards map[int32]*shard // serving or loading
		last   map[int32]*shard // newest shard per partition, maybe stopping
		closed bool
	}
	wg sync.WaitGroup
}

// NewCoordinator returns a coordinator that serves no partition until
// SetLeadership gives it some.
func NewCoordinator(cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, log: cfg.Logger.With().Str("component", "group-coordinator").Logger(),
		clock: time.Now, newUUID: randomUUID}
	c.mu.shards = map[int32]*shard{}
	c.mu.last = map[int32]*shard{}
	return c, nil
}

// randomUUID is a Kafka Uuid in its string form (URL-safe base64, 22
// characters), as Kafka's coordinator puts in member ids.
func randomUUID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// SetLeadership tells the coordinator which __consumer_offsets partitions
// this broker leads (numPartitions is the topic's partition count, 0 if it
// does not exist). A newly led partition, or one led at a new epoch, is
// loaded in the background; one no longer led is unloaded and its waiting
// requests answered NOT_COORDINATOR. It does not block: the broker calls it
// from the metadata publisher.
func (c *Coordinator) SetLeadership(numPartitions int32, led map[int32]Leadership) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return
	}
	c.numPartitions.Store(numPartitions)
	for idx, sh := range c.mu.shards {
		if l, ok := led[idx]; !ok || l.Partition != sh.part || l.Epoch != sh.epoch {
			sh.stopAsync()
			delete(c.mu.shards, idx)
		}
	}
	for idx, l := range led {
		if _, ok := c.mu.shards[idx]; ok || l.Partition == nil {
			continue
		}
		sh := newShard(c, idx, l, c.mu.last[idx])
		c.mu.shards[idx], c.mu.last[idx] = sh, sh
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			sh.run()
		}()
	}
}

// Close unloads every partition, answering waiting requests, and returns
// once every shard goroutine has exited. Later requests get
// COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.mu.closed = true
	for _, sh := range c.mu.shards {
		sh.stopAsync()
	}
	c.mu.shards = map[int32]*shard{}
	c.mu.Unlock()
	c.wg.Wait()
}

// PartitionCount is the partition count groups hash over: the topic's, or
// offsets.topic.num.partitions before it exists.
func (c *Coordinator) PartitionCount() int32 {
	if n := c.numPartitions.Load(); n > 0 {
		return n
	}
	return c.cfg.NumPartitions
}

// shardFor routes a group to its partition's shard.
func (c *Coordinator) shardFor(groupID string) (*shard, *kerr.Error) {
	idx := PartitionFor(groupID, c.PartitionCount())
	c.mu.Lock()
	sh, closed := c.mu.shards[idx], c.mu.closed
	c.mu.Unlock()
	switch {
	case closed:
		return nil, kerr.CoordinatorNotAvailable
	case sh == nil:
		return nil, kerr.NotCoordinator
	case !sh.loaded.Load():
		return nil, kerr.CoordinatorLoadInProgress
	}
	return sh, nil
}

// call runs op on the owner goroutine of groupID's shard and waits for its
// single reply. A shard that stops first answers NOT_COORDINATOR; a ctx
// that ends first (the connection is gone) COORDINATOR_NOT_AVAILABLE.
func call[T any](ctx context.Context, c *Coordinator, groupID string, op func(st *state, now int64, reply func(T))) (T, *kerr.Error) {
	var zero T
	sh, err := c.shardFor(groupID)
	if err != nil {
		return zero, err
	}
	return callShard(ctx, sh, op)
}

// callNamed is call for the requests that need a group id: an empty one is
// INVALID_GROUP_ID before any routing, as Kafka answers.
func callNamed[T any](ctx context.Context, c *Coordinator, groupID string, op func(st *state, now int64, reply func(T))) (T, *kerr.Error) {
	if groupID == "" {
		var zero T
		return zero, kerr.InvalidGroupID
	}
	return call(ctx, c, groupID, op)
}

func callShard[T any](ctx context.Context, sh *shard, op func(st *state, now int64, reply func(T))) (T, *kerr.Error) {
	var zero T
	ch := make(chan T, 1)
	reply := func(v T) {
		select {
		case ch <- v:
		default:
			sh.log.Error().Str("reply", fmt.Sprintf("%T", v)).Msg("a request was answered twice; keeping the first answer")
		}
	}
	if !sh.submit(ctx, func(now int64) { op(sh.st, now, reply) }) {
		if ctx.Err() != nil {
			return zero, kerr.CoordinatorNotAvailable
		}
		return zero, kerr.NotCoordinator
	}
	select {
	case v := <-ch:
		return v, nil
	case <-sh.done:
		select {
		case v := <-ch:
			return v, nil
		default:
			return zero, kerr.NotCoordinator
		}
	case <-ctx.Done():
		return zero, kerr.CoordinatorNotAvailable
	}
}

// loadedShards lists the serving shards and reports whether any is still
// loading.
func (c *Coordinator) loadedShards() ([]*shard, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*shard
	loading := false
	for _, sh := range c.mu.shards {
		if sh.loaded.Load() {
			out = append(out, sh)
		} else {
			loading = true
		}
	}
	return out, loading
}
