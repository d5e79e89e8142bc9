package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Start is where a Consumer begins reading a partition.
type Start struct {
	kind   startKind
	offset int64
}

type startKind uint8

const (
	startBeginning startKind = iota
	startEnd
	startAt
)

var (
	// StartBeginning reads from the oldest offset still in the log.
	StartBeginning = Start{kind: startBeginning}
	// StartEnd reads only records written after the consumer starts.
	StartEnd = Start{kind: startEnd}
)

// StartAt reads from an exact offset. An offset outside the log starts at
// the nearer end of it: before the start reads from the start, past the end
// waits at the end.
func StartAt(offset int64) Start { return Start{kind: startAt, offset: offset} }

// Offset returns the exact offset of a StartAt position, and false for
// StartBeginning and StartEnd.
func (s Start) Offset() (int64, bool) { return s.offset, s.kind == startAt }

// IsBeginning reports whether s is StartBeginning.
func (s Start) IsBeginning() bool { return s.kind == startBeginning }

// IsEnd reports whether s is StartEnd.
func (s Start) IsEnd() bool { return s.kind == startEnd }

func (s Start) String() string {
	switch s.kind {
	case startEnd:
		return "end"
	case startAt:
		return strconv.FormatInt(s.offset, 10)
	}
	return "beginning"
}

func (s Start) kgo() kgo.Offset {
	switch s.kind {
	case startEnd:
		return kgo.NewOffset().AtEnd()
	case startAt:
		return kgo.NewOffset().At(s.offset)
	}
	return kgo.NewOffset().AtStart()
}

// ConsumerOption configures a Consumer.
type ConsumerOption func(*consumerConfig)

type consumerConfig struct {
	from       Start
	partitions map[int32]Start // nil: every partition, from `from`
	isolation  IsolationLevel
}

// IsolationLevel says whether a consumer sees records of transactions not
// yet committed (isolation.level).
type IsolationLevel int8

// The isolation levels, with Kafka's numbers.
const (
	// ReadUncommitted returns every record up to the high watermark,
	// including records of open and aborted transactions (the default).
	ReadUncommitted IsolationLevel = 0
	// ReadCommitted returns records only up to the last stable offset,
	// and drops records of aborted transactions.
	ReadCommitted IsolationLevel = 1
)

func (l IsolationLevel) String() string {
	switch l {
	case ReadUncommitted:
		return "read_uncommitted"
	case ReadCommitted:
		return "read_committed"
	}
	return fmt.Sprintf("IsolationLevel(%d)", int8(l))
}

func (l IsolationLevel) kgo() (kgo.Opt, error) {
	switch l {
	case ReadUncommitted:
		return kgo.FetchIsolationLevel(kgo.ReadUncommitted()), nil
	case ReadCommitted:
		return kgo.FetchIsolationLevel(kgo.ReadCommitted()), nil
	}
	return nil, invalidf("isolation level %d", int8(l))
}

// ConsumeIsolation sets the isolation level; the default is
// ReadUncommitted.
func ConsumeIsolation(l IsolationLevel) ConsumerOption {
	return func(c *consumerConfig) { c.isolation = l }
}

// ConsumeFrom sets where every partition not given its own start with
// ConsumePartition begins; the default is StartBeginning.
func ConsumeFrom(s Start) ConsumerOption {
	return func(c *consumerConfig) { c.from = s }
}

// ConsumePartition limits the consumer to the partitions named by this
// option (it may be given more than once) and sets where this one starts.
// Without it, the consumer reads every partition of the topic, including
// partitions added later.
func ConsumePartition(partition int32, from Start) ConsumerOption {
	return func(c *consumerConfig) {
		if c.partitions == nil {
			c.partitions = make(map[int32]Start)
		}
		c.partitions[partition] = from
	}
}

// Consumer reads one topic without a consumer group: no offsets are
// committed and no partitions are shared with other consumers.
//
// Poll must be called from one goroutine at a time; Positions and Close may
// be called from any.
type Consumer struct {
	parent    *Client
	kcl       *kgo.Client
	topic     string
	closed    atomic.Bool
	closeOnce sync.Once

	mu struct {
		sync.Mutex
		positions map[int32]int64 // partition -> offset after the last one fetched
	}
}

// NewConsumer builds a Consumer of topic owned by c. It starts fetching in
// the background at once.
func (c *Client) NewConsumer(topic string, opts ...ConsumerOption) (*Consumer, error) {
	cfg := consumerConfig{from: StartBeginning}
	for _, o := range opts {
		o(&cfg)
	}
	if topic == "" {
		return nil, fmt.Errorf("new consumer: %w", invalidf("empty topic name"))
	}
	kopts := []kgo.Opt{
		// Control records (transaction markers) are kept so positions
		// move past them; Poll drops them.
		kgo.KeepControlRecords(),
		// A position that falls out of the log (retention) resumes
		// at the oldest record, as auto.offset.reset=earliest.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	iso, err := cfg.isolation.kgo()
	if err != nil {
		return nil, fmt.Errorf("new consumer: %w", err)
	}
	kopts = append(kopts, iso)
	if cfg.partitions == nil {
		kopts = append(kopts, kgo.ConsumeTopics(topic), kgo.ConsumeStartOffset(cfg.from.kgo()))
	} else {
		offsets := make(map[int32]kgo.Offset, len(cfg.partitions))
		for p, s := range cfg.partitions {
			if p < 0 {
				return nil, fmt.Errorf("new consumer: %w", invalidf("partition %d", p))
			}
			offsets[p] = s.kgo()
		}
		kopts = append(kopts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	}
	kcl, err := c.newKgo(kopts...)
	if err != nil {
		return nil, fmt.Errorf("new consumer: %w", err)
	}
	cons := &Consumer{parent: c, kcl: kcl, topic: topic}
	cons.mu.positions = make(map[int32]int64)
	if err := c.adopt(cons); err != nil {
		kcl.Close()
		return nil, fmt.Errorf("new consumer: %w", err)
	}
	return cons, nil
}

// Topic returns the topic the consumer reads.
func (c *Consumer) Topic() string { return c.topic }

// Poll waits until records are ready or ctx is done and returns them,
// in offset order within each partition.
//
// A non-nil error together with records means some partitions reported a
// problem while others delivered; the records are good and the consumer
// keeps fetching. When ctx is done Poll returns ctx's error; after Close it
// returns ErrClosed.
func (c *Consumer) Poll(ctx context.Context) ([]Record, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	fs := c.kcl.PollFetches(ctx)
	if fs.IsClientClosed() {
		return nil, ErrClosed
	}
	var (
		recs []Record
		errs []error
	)
	c.mu.Lock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil && !errors.Is(p.Err, context.Canceled) && !errors.Is(p.Err, context.DeadlineExceeded) {
			errs = append(errs, &PartitionError{Op: "consume", Topic: p.Topic, Partition: p.Partition, Offset: -1, Err: p.Err})
		}
		for _, kr := range p.Records {
			c.mu.positions[kr.Partition] = kr.Offset + 1
			if !kr.Attrs.IsControl() {
				recs = append(recs, fromKgo(kr))
			}
		}
	})
	c.mu.Unlock()
	if len(recs) == 0 && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return recs, errors.Join(errs...)
}

// Positions returns, for each partition that has returned anything, the
// offset after the last record fetched — the next offset Poll will return
// from that partition. Transaction markers count, though Poll drops them.
func (c *Consumer) Positions() map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.mu.positions)
}

// Close stops fetching and releases the connections. It is idempotent.
func (c *Consumer) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.kcl.Close()
		c.parent.release(c)
	})
	return nil
}

func (c *Consumer) closeFromParent() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.kcl.Close()
	})
}
