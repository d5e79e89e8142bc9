package controller

import (
	"errors"
	"sync"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// closableStore is the raft log and stable store (raft-boltdb) made safe to
// close while a Raft heartbeat may still be handled. hashicorp/raft's
// network transport answers heartbeats on its own connection goroutines,
// which Raft.Shutdown does not wait for: one that passed the shutdown check
// just before Shutdown can still write the term after the store is closed,
// and Raft panics on that write error ("failed to save current term:
// database not open"). Here Close waits for the calls in progress, and
// later calls do nothing: a write dropped after shutdown is a heartbeat
// that arrived too late, which Raft's safety does not depend on.
type closableStore struct {
	mu     sync.RWMutex
	closed bool
	s      *raftboltdb.BoltStore
}

var _ raft.LogStore = (*closableStore)(nil)
var _ raft.StableStore = (*closableStore)(nil)

// errStoreClosed answers reads after Close.
var errStoreClosed = errors.New("controller: raft store closed")

// Close closes the store once the calls in progress have returned.
func (c *closableStore) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.s.Close()
}

// do runs fn unless the store is closed.
func (c *closableStore) do(fn func() error, whenClosed error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return whenClosed
	}
	return fn()
}

func (c *closableStore) FirstIndex() (idx uint64, err error) {
	err = c.do(func() (e error) { idx, e = c.s.FirstIndex(); return }, errStoreClosed)
	return
}

func (c *closableStore) LastIndex() (idx uint64, err error) {
	err = c.do(func() (e error) { idx, e = c.s.LastIndex(); return }, errStoreClosed)
	return
}

func (c *closableStore) GetLog(index uint64, log *raft.Log) error {
	return c.do(func() error { return c.s.GetLog(index, log) }, raft.ErrLogNotFound)
}

func (c *closableStore) StoreLog(log *raft.Log) error {
	return c.do(func() error { return c.s.StoreLog(log) }, nil)
}

func (c *closableStore) StoreLogs(logs []*raft.Log) error {
	return c.do(func() error { return c.s.StoreLogs(logs) }, nil)
}

func (c *closableStore) DeleteRange(lo, hi uint64) error {
	return c.do(func() error { return c.s.DeleteRange(lo, hi) }, nil)
}

func (c *closableStore) Set(k, v []byte) error {
	return c.do(func() error { return c.s.Set(k, v) }, nil)
}

func (c *closableStore) Get(k []byte) (v []byte, err error) {
	err = c.do(func() (e error) { v, e = c.s.Get(k); return }, errStoreClosed)
	return
}

func (c *closableStore) SetUint64(k []byte, v uint64) error {
	return c.do(func() error { return c.s.SetUint64(k, v) }, nil)
}

func (c *closableStore) GetUint64(k []byte) (v uint64, err error) {
	err = c.do(func() (e error) { v, e = c.s.GetUint64(k); return }, errStoreClosed)
	return
}
