package storage

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"sync"
)

// FileCache bounds the descriptors that sealed segments hold open.
//
// A sealed segment is immutable and read only by fetches, timestamp
// lookups, header scans and compaction, most of them rare for old data.
// Keeping its .log open for the life of the log costs one descriptor per
// segment, and a broker with 10,000 partitions of many segments runs out
// of them long before it runs out of memory or disk. So a sealed segment
// opens its .log lazily, through a FileCache shared by the logs of a
// process, and the least recently used ones are closed when more than
// MaxOpen are open.
//
// Rules:
//   - Users take a reference (acquire) around every use of a sealed
//     segment's file and drop it (release) right after; a referenced file
//     is never closed, so the bound is soft: it can be exceeded by the
//     files in use at one instant, never by idle ones.
//   - The active segment's .log is registered too, but it is neither
//     counted nor evicted: the appender and the syncer use it all the time,
//     and closing a file with dirty pages could lose a writeback error that
//     the next fdatasync would otherwise report. A partition therefore
//     holds at least one descriptor (three while it is appended to: its
//     index files, see segment); MaxOpen bounds everything beyond that.
//   - A segment leaving its log (retention, compaction, truncation, Close)
//     is dropped: its file is closed once the last reference is released
//     and it is never reopened, since its path may by then name another
//     file (a compacted copy or a re-created segment).
//   - Descriptors duplicated by ReadResult.Pin are separate descriptors of
//     the same open file: closing the cached one does not affect them.
//
// Evicted files are closed outside the cache lock. Opening a file happens
// under it: opens are rare next to reads (they follow an eviction) and this
// keeps two readers of one segment from opening it twice.
type FileCache struct {
	mu      sync.Mutex
	max     int
	open    int       // sealed segments' files open: in lru or referenced
	lru     list.List // *segment: sealed, open, unreferenced; front = most recent
	opens   int64
	evicted int64
}

// cachedFile is a segment's entry in its FileCache; guarded by the
// cache's mu.
type cachedFile struct {
	f      *os.File
	refs   int
	active bool // the log's active segment: not counted, never evicted
	gone   bool // dropped: closed at the last release, never reopened
	elem   *list.Element
}

// FileCacheStats is a snapshot of a FileCache.
type FileCacheStats struct {
	MaxOpen   int   // the bound
	Open      int   // sealed segments' .log files open now
	Opens     int64 // files opened since the cache was made
	Evictions int64 // files closed to stay within the bound
}

// errSegmentGone: the segment left its log after the caller found it.
// Readers see it only for results prepared before a truncation, which
// ReadResult checks first, so it is ErrTruncated (read again).
var errSegmentGone = fmt.Errorf("%w: segment removed", ErrTruncated)

// NewFileCache returns a cache keeping at most maxOpen sealed segments'
// files open (at least 1).
func NewFileCache(maxOpen int) *FileCache {
	return &FileCache{max: max(maxOpen, 1)}
}

var (
	defaultFileCacheOnce sync.Once
	defaultFileCache     *FileCache
)

// DefaultFileCache is the process's shared cache, used by every Log whose
// Config.FileCache is nil. Its bound is DefaultMaxOpenSegments() until
// SetMaxOpen changes it (the server's storage.max.open.segments).
func DefaultFileCache() *FileCache {
	defaultFileCacheOnce.Do(func() { defaultFileCache = NewFileCache(DefaultMaxOpenSegments()) })
	return defaultFileCache
}

// DefaultMaxOpenSegments is the default bound: half of the process's
// descriptor limit (RLIMIT_NOFILE, which Go raises to the hard limit at
// start), leaving the other half to sockets, active segments and their
// index files; at least 64. 4096 where the limit is unknown.
func DefaultMaxOpenSegments() int {
	n, ok := descriptorLimit()
	if !ok {
		return 4096
	}
	return int(max(min(n/2, 1<<30), 64))
}

// SetMaxOpen changes the bound (at least 1), closing idle files at once if
// more are open.
func (c *FileCache) SetMaxOpen(n int) {
	c.mu.Lock()
	c.max = max(n, 1)
	victims := c.evictLocked()
	c.mu.Unlock()
	closeAll(victims)
}

// Stats returns the cache's counters.
func (c *FileCache) Stats() FileCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return FileCacheStats{MaxOpen: c.max, Open: c.open, Opens: c.opens, Evictions: c.evicted}
}

// evictLocked takes idle files off the LRU tail until the bound holds and
// returns them, to be closed without the lock.
func (c *FileCache) evictLocked() []*os.File {
	var victims []*os.File
	for c.open > c.max {
		e := c.lru.Back()
		if e == nil {
			break // the rest are referenced
		}
		s := e.Value.(*segment)
		c.lru.Remove(e)
		victims = append(victims, s.cached.f)
		s.cached.f, s.cached.elem = nil, nil
		c.open--
		c.evicted++
	}
	return victims
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		_ = f.Close() // read-only use since the segment was sealed: nothing to lose
	}
}

// acquire returns s's open .log, opening it if it was evicted, and holds
// it open until release.
func (c *FileCache) acquire(s *segment) (*os.File, error) {
	c.mu.Lock()
	cf := &s.cached
	if cf.gone {
		c.mu.Unlock()
		return nil, errSegmentGone
	}
	var victims []*os.File
	if cf.f == nil {
		f, err := os.OpenFile(s.logPath, os.O_RDWR, 0)
		if err != nil {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: open %s: %v", ErrIO, s.logPath, err)
		}
		cf.f = f
		c.opens++
		if !cf.active {
			c.open++
			victims = c.evictLocked()
		}
	} else if cf.elem != nil {
		c.lru.Remove(cf.elem)
		cf.elem = nil
	}
	cf.refs++
	f := cf.f
	c.mu.Unlock()
	closeAll(victims)
	return f, nil
}

// release drops a reference taken by acquire.
func (c *FileCache) release(s *segment) {
	c.mu.Lock()
	cf := &s.cached
	cf.refs--
	var victims []*os.File
	switch {
	case cf.refs > 0:
	case cf.gone:
		if cf.f != nil {
			victims = append(victims, cf.f)
			cf.f = nil
		}
	case !cf.active && cf.f != nil:
		cf.elem = c.lru.PushFront(s)
		victims = c.evictLocked()
	}
	c.mu.Unlock()
	closeAll(victims)
}

// addActive registers the open file of a newly created active segment.
func (c *FileCache) addActive(s *segment, f *os.File) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.cached = cachedFile{f: f, active: true}
}

// activate makes s the active segment (Open, or a truncation cutting into
// a sealed segment) and returns its file, opened if needed, which stays
// open until seal or drop.
func (c *FileCache) activate(s *segment) (*os.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cf := &s.cached
	if cf.gone {
		return nil, errSegmentGone
	}
	if cf.active {
		return cf.f, nil
	}
	if cf.f == nil {
		f, err := os.OpenFile(s.logPath, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: open %s: %v", ErrIO, s.logPath, err)
		}
		cf.f = f
		c.opens++
	} else {
		c.open--
		if cf.elem != nil {
			c.lru.Remove(cf.elem)
			cf.elem = nil
		}
	}
	cf.active = true
	return cf.f, nil
}

// seal makes the active segment s a sealed one: its file becomes
// evictable.
func (c *FileCache) seal(s *segment) {
	c.mu.Lock()
	cf := &s.cached
	var victims []*os.File
	if cf.active && !cf.gone {
		cf.active = false
		c.open++
		if cf.refs == 0 {
			cf.elem = c.lru.PushFront(s)
		}
		victims = c.evictLocked()
	}
	c.mu.Unlock()
	closeAll(victims)
}

// addSealed adopts the open file of a sealed segment that joins a log (a
// compacted copy being installed).
func (c *FileCache) addSealed(s *segment, f *os.File) {
	c.mu.Lock()
	s.cached = cachedFile{f: f}
	c.open++
	s.cached.elem = c.lru.PushFront(s)
	victims := c.evictLocked()
	c.mu.Unlock()
	closeAll(victims)
}

// drop takes s out of the cache for good. Its file is closed now, or at
// the last release if it is referenced; the error is that of a close done
// now (the active segment's, whose data Close has just fsynced).
func (c *FileCache) drop(s *segment) error {
	c.mu.Lock()
	cf := &s.cached
	if cf.gone {
		c.mu.Unlock()
		return nil
	}
	cf.gone = true
	if cf.f != nil && !cf.active {
		c.open--
	}
	if cf.elem != nil {
		c.lru.Remove(cf.elem)
		cf.elem = nil
	}
	var f *os.File
	if cf.refs == 0 {
		f, cf.f = cf.f, nil
	}
	cf.active = false
	c.mu.Unlock()
	if f == nil {
		return nil
	}
	if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
