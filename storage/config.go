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
	// default: durability comes from replication). DurableOffset then equals
	// LogEndOffset.
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
	// Logger receives the log's messages; the zero Logger discards them.
	Logger zerolog.Logger
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
		Logger:             zerolog.Nop(),
	}
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
	case c.Durability != DurabilityFsync && c.Durability != DurabilityPageCache:
		return fmt.Errorf("%w: unknown %v", ErrInvalidConfig, c.Durability)
	}
	return nil
}
