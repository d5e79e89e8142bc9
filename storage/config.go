package storage

import (
	"fmt"
	"math"

	"github.com/rs/zerolog"
)

// Durability says what Sync waits for.
type Durability int

const (
	// DurabilityFsync (the default): Sync returns once the offsets are on
	// stable storage (fdatasync of the active segment, group committed).
	DurabilityFsync Durability = iota
	// DurabilityPageCache: Sync returns at once; data reaches the disk when
	// the kernel writes it back, when a segment rolls, or at Close (Kafka's
	// default: durability comes from replication), or when the flush policy
	// (Config.FlushMessages, Config.FlushMs) fsyncs it. DurableOffset then
	// equals LogEndOffset ("durable" means "in the page cache");
	// FlushedOffset is the real fsync point.
	DurabilityPageCache
)

func (d Durability) String() string {
	switch d {
	case DurabilityFsync:
		return "fsync"
	case DurabilityPageCache:
		return "page-cache"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// Kafka's defaults for the settings below.
const (
	DefaultSegmentBytes       = 1 << 30                 // segment.bytes
	DefaultSegmentMs          = 7 * 24 * 60 * 60 * 1000 // segment.ms
	DefaultIndexIntervalBytes = 4096                    // index.interval.bytes
	DefaultSegmentIndexBytes  = 10 << 20                // segment.index.bytes
	DefaultFlushMessages      = math.MaxInt64           // flush.messages: never by count
	DefaultFlushMs            = math.MaxInt64           // flush.ms: never by time
)

// Config configures one partition log. Build it with DefaultConfig.
type Config struct {
	// Dir is the partition directory, normally <data dir>/<topic>-<partition>
	// (see PartitionDirName). It is created if missing.
	Dir string
	// TopicID is written to partition.metadata. On reopen a different ID in
	// the file is an error (ErrTopicIDMismatch). The zero ID means unknown:
	// nothing is written or checked, and an ID found on disk is kept.
	TopicID [16]byte
	// SegmentBytes rolls the active segment when an append would take it
	// past this size (segment.bytes). At most math.MaxInt32: index entries
	// hold 32-bit file positions.
	SegmentBytes int64
	// SegmentMs rolls the active segment when the incoming batches' max
	// timestamp is more than SegmentMs past the first batch's max timestamp
	// (segment.ms, Kafka's rule). 0 disables time-based rolling.
	SegmentMs int64
	// IndexIntervalBytes is how many bytes of log go between two sparse index
	// entries (index.interval.bytes).
	IndexIntervalBytes int
	// SegmentIndexBytes caps each index file; the segment rolls when an index
	// is full (segment.index.bytes).
	SegmentIndexBytes int
	// Durability chooses what Sync waits for.
	Durability Durability
	// FlushMessages (flush.messages), with DurabilityPageCache: fsync the
	// active segment once this many messages were appended since the last
	// fsync. Messages are counted as offsets (log end offset minus
	// FlushedOffset), as Kafka does; for the broker's own appends that is
	// the number of records. At least 1; DefaultFlushMessages (MaxInt64)
	// never flushes by count. The fsync runs on a sync worker (see
	// SyncScheduler): the append that crosses the threshold only queues
	// the log, never waits.
	// With DurabilityFsync it is accepted and has no effect: every
	// acknowledged offset is already fsynced before the ack.
	FlushMessages int64
	// FlushMs (flush.ms), with DurabilityPageCache: fsync the active segment
	// once the oldest append not yet fsynced is this many milliseconds old.
	// At least 0 (0: fsync after every append, asynchronously);
	// DefaultFlushMs (MaxInt64) never flushes by time. With DurabilityFsync
	// it is accepted and has no effect, as FlushMessages.
	FlushMs int64
	// Logger receives the log's messages; the zero Logger discards them.
	Logger zerolog.Logger
	// FileCache bounds the descriptors of sealed segments, shared with the
	// other logs that use it; nil means DefaultFileCache(), the process's.
	FileCache *FileCache
	// SyncScheduler runs the log's fsyncs (group commit, flush policy) on
	// workers shared with the other logs that use it; nil means
	// DefaultSyncScheduler(), the process's.
	SyncScheduler *SyncScheduler
}

// DefaultConfig returns Kafka's defaults for the partition directory dir.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:                dir,
		SegmentBytes:       DefaultSegmentBytes,
		SegmentMs:          DefaultSegmentMs,
		IndexIntervalBytes: DefaultIndexIntervalBytes,
		SegmentIndexBytes:  DefaultSegmentIndexBytes,
		Durability:         DurabilityFsync,
		FlushMessages:      DefaultFlushMessages,
		FlushMs:            DefaultFlushMs,
		Logger:             zerolog.Nop(),
	}
}

// hasFlushPolicy: FlushMessages or FlushMs can trigger an fsync (page-cache
// mode only).
func (c Config) hasFlushPolicy() bool {
	return c.Durability == DurabilityPageCache && (c.FlushMessages != DefaultFlushMessages || c.FlushMs != DefaultFlushMs)
}

// Validate reports the first invalid setting, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: Dir is empty", ErrInvalidConfig)
	case c.SegmentBytes < BatchHeaderSize || c.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("%w: SegmentBytes %d outside [%d, %d]", ErrInvalidConfig, c.SegmentBytes, BatchHeaderSize, math.MaxInt32)
	case c.SegmentMs < 0:
		return fmt.Errorf("%w: SegmentMs %d is negative", ErrInvalidConfig, c.SegmentMs)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("%w: IndexIntervalBytes %d is negative", ErrInvalidConfig, c.IndexIntervalBytes)
	case c.SegmentIndexBytes < timeIndexEntrySize:
		return fmt.Errorf("%w: SegmentIndexBytes %d cannot hold one index entry", ErrInvalidConfig, c.SegmentIndexBytes)
	case c.FlushMessages < 1:
		return fmt.Errorf("%w: FlushMessages %d is below 1", ErrInvalidConfig, c.FlushMessages)
	case c.FlushMs < 0:
		return fmt.Errorf("%w: FlushMs %d is negative", ErrInvalidConfig, c.FlushMs)
	case c.Durability != DurabilityFsync && c.Durability != DurabilityPageCache:
		return fmt.Errorf("%w: unknown %v", ErrInvalidConfig, c.Durability)
	}
	return nil
}
