package storage

import (
	"slices"
	"sort"
	"sync"
)

// epochCache is the leader epoch cache of KIP-101: for each leader epoch
// that wrote to the log, the first offset it wrote. It is persisted to
// leader-epoch-checkpoint.
//
// Mutations (assign, truncate at either end) happen only under Log.appendMu, which also
// serialises the checkpoint writes; mu lets readers (LatestEpoch,
// EndOffsetForEpoch) run beside them.
type epochCache struct {
	dir string
	mu  sync.RWMutex
	es  []epochEntry // epochs strictly increasing, starts non-decreasing
}

func (c *epochCache) snapshot() []epochEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.es)
}

func (c *epochCache) set(es []epochEntry) {
	c.mu.Lock()
	c.es = es
	c.mu.Unlock()
}

// latest is the newest epoch, -1 if none.
func (c *epochCache) latest() int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.es) == 0 {
		return -1
	}
	return c.es[len(c.es)-1].epoch
}

// latestBelow is the newest epoch that starts below offset, -1 if none.
func (c *epochCache) latestBelow(offset int64) int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i := len(c.es) - 1; i >= 0; i-- {
		if c.es[i].start < offset {
			return c.es[i].epoch
		}
	}
	return -1
}

// withAssigned returns es plus the given epoch starts, keeping only those
// that are newer than the latest entry (Kafka's assign: a lower or equal
// epoch, or a start before the latest start, is ignored).
func withAssigned(es []epochEntry, add ...epochEntry) []epochEntry {
	out := slices.Clone(es)
	for _, e := range add {
		if e.epoch < 0 {
			continue
		}
		if n := len(out); n > 0 && (e.epoch <= out[n-1].epoch || e.start < out[n-1].start) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// withTruncatedEnd drops the entries whose start offset is >= end (the log
// was truncated to end, so those epochs no longer wrote anything).
func withTruncatedEnd(es []epochEntry, end int64) []epochEntry {
	i := sort.Search(len(es), func(i int) bool { return es[i].start >= end })
	return slices.Clone(es[:i])
}

// withTruncatedStart drops the entries wholly below the log start offset
// start, as Kafka's truncateFromStart does: of the entries starting at or
// below start only the last is kept, moved to start, since its epoch still
// wrote the first offsets of the log.
func withTruncatedStart(es []epochEntry, start int64) []epochEntry {
	i := sort.Search(len(es), func(i int) bool { return es[i].start > start })
	if i == 0 {
		return slices.Clone(es)
	}
	out := make([]epochEntry, 0, len(es)-i+1)
	out = append(out, epochEntry{epoch: es[i-1].epoch, start: start})
	return append(out, es[i:]...)
}

// update replaces the entries with es and persists them if they changed. On a
// failed write the old entries stay in place.
func (c *epochCache) update(es []epochEntry) error {
	old := c.snapshot()
	if slices.Equal(old, es) {
		return nil
	}
	if err := writeFileAtomic(c.dir, epochCheckpointFile, encodeEpochCheckpoint(es)); err != nil {
		return err
	}
	c.set(es)
	return nil
}

// endOffsetFor answers OffsetForLeaderEpoch the way Kafka's
// LeaderEpochFileCache.endOffsetFor does:
//   - requested == latest epoch: (requested, log end offset);
//   - otherwise the largest cached epoch <= requested and the start offset of
//     the next larger cached epoch;
//   - requested below the first cached epoch: (requested, start of the first
//     epoch), so a follower truncates to where the leader's history begins;
//   - requested above the latest epoch, negative, or an empty cache: (-1, -1).
func (c *epochCache) endOffsetFor(requested int32, leo int64) (int32, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := len(c.es)
	if requested < 0 || n == 0 {
		return -1, -1
	}
	if c.es[n-1].epoch == requested {
		return requested, leo
	}
	i := sort.Search(n, func(i int) bool { return c.es[i].epoch > requested })
	switch {
	case i == n:
		return -1, -1
	case i == 0:
		return requested, c.es[0].start
	}
	return c.es[i-1].epoch, c.es[i].start
}
