package controller

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
	"github.com/samsa-io/samsa/metadata"
)

// maxSnapshotBytes bounds what Restore reads from a snapshot.
const maxSnapshotBytes = 1 << 30

// fsm is the Raft state machine: it applies committed batches to the
// metadata image and publishes every new image, in apply order.
//
// Raft calls Apply, Snapshot and Restore from its FSM goroutine, one at a
// time. Readers take the latest image without locking (img is an atomic
// pointer to an immutable image). mu orders image updates with
// subscriptions so that a subscriber starts from exactly the image current
// when it subscribed and then sees every later one.
type fsm struct {
	log zerolog.Logger
	pub *publisher

	img atomic.Pointer[metadata.Image]

	mu struct {
		sync.Mutex
		changed chan struct{} // closed and replaced on every new image
	}

	restores atomic.Int64 // snapshots restored, for tests

	// onConfig is called with every committed Raft configuration
	// (StoreConfiguration, membership.go).
	onConfig atomic.Pointer[func(raft.Configuration)]
}

// applyResult is what Apply returns through raft's ApplyFuture.Response.
type applyResult struct {
	img *metadata.Image
	err error // the batch was rejected; img only advanced its offset
}

func newFSM(log zerolog.Logger) *fsm {
	f := &fsm{log: log, pub: newPublisher()}
	f.img.Store(metadata.Empty())
	f.mu.changed = make(chan struct{})
	return f
}

// Image returns the latest image.
func (f *fsm) Image() *metadata.Image { return f.img.Load() }

func (f *fsm) set(img *metadata.Image, delta *metadata.Delta) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.img.Store(img)
	f.pub.enqueue(event{img: img, delta: delta})
	close(f.mu.changed)
	f.mu.changed = make(chan struct{})
}

// Apply applies one committed log entry. A batch that does not decode or
// contradicts the image is rejected whole; the image then only advances its
// offset. That is deterministic too, so every replica agrees, and it is
// logged loudly because only a controller bug produces such a batch.
func (f *fsm) Apply(l *raft.Log) any {
	cur := f.Image()
	if l.Type != raft.LogCommand {
		return applyResult{img: cur}
	}
	if l.Index <= cur.Offset() {
		f.log.Warn().Uint64("index", l.Index).Uint64("offset", cur.Offset()).Msg("log entry already applied; skipped")
		return applyResult{img: cur}
	}
	recs, err := metadata.DecodeBatch(l.Data)
	var (
		next  *metadata.Image
		delta *metadata.Delta
	)
	if err == nil {
		next, delta, err = cur.Apply(recs, l.Index)
	}
	if err != nil {
		f.log.Error().Err(err).Uint64("index", l.Index).Msg("metadata batch rejected; the image only advances its offset")
		next, delta, _ = cur.Apply(nil, l.Index)
	}
	f.set(next, delta)
	return applyResult{img: next, err: err}
}

// Snapshot captures the current image. Images are immutable, so Persist can
// encode it on raft's snapshot goroutine while Apply goes on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{img: f.Image()}, nil
}

// Restore replaces the image with a snapshot's and publishes the
// difference.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxSnapshotBytes+1))
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	if len(data) > maxSnapshotBytes {
		return fmt.Errorf("snapshot larger than %d bytes", maxSnapshotBytes)
	}
	img, err := metadata.DecodeSnapshot(data)
	if err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	f.set(img, metadata.Diff(f.Image(), img))
	f.restores.Add(1)
	f.log.Info().Uint64("offset", img.Offset()).Int("topics", img.NumTopics()).Msg("metadata snapshot restored")
	return nil
}

// subscribe registers fn; see Controller.Subscribe.
func (f *fsm) subscribe(fn func(*metadata.Image, *metadata.Delta)) func() {
	s := &subscriber{fn: fn}
	f.mu.Lock()
	f.pub.enqueue(event{img: f.Image(), add: s})
	f.mu.Unlock()
	return func() {
		s.removed.Store(true)
		f.pub.enqueue(event{remove: s})
	}
}

// watch returns the latest image and a channel closed when a newer one is
// set.
func (f *fsm) watch() (*metadata.Image, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Image(), f.mu.changed
}

// waitForOffset returns once the image's offset is at least offset.
func (f *fsm) waitForOffset(ctx context.Context, offset uint64) error {
	for {
		img, changed := f.watch()
		if img.Offset() >= offset {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

type fsmSnapshot struct{ img *metadata.Image }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.img.EncodeSnapshot()); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// event is one item of the publisher's queue: a new image, or a subscriber
// to add (starting from img) or remove.
type event struct {
	img    *metadata.Image
	delta  *metadata.Delta
	add    *subscriber
	remove *subscriber
}

type subscriber struct {
	fn      func(*metadata.Image, *metadata.Delta)
	removed atomic.Bool
}

// publisher delivers images to subscribers from one goroutine, in the order
// they were enqueued, so that Raft's apply goroutine never waits for a
// subscriber. The queue is unbounded: the metadata log is small and a
// subscriber that falls behind catches up without loss.
type publisher struct {
	mu struct {
		sync.Mutex
		queue []event
	}
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newPublisher() *publisher {
	p := &publisher{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *publisher) enqueue(ev event) {
	p.mu.Lock()
	p.mu.queue = append(p.mu.queue, ev)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *publisher) run() {
	defer close(p.done)
	var subs []*subscriber
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
		}
		p.mu.Lock()
		batch := p.mu.queue
		p.mu.queue = nil
		p.mu.Unlock()
		for _, ev := range batch {
			select {
			case <-p.stop:
				return
			default:
			}
			subs = deliver(subs, ev)
		}
	}
}

func deliver(subs []*subscriber, ev event) []*subscriber {
	switch {
	case ev.add != nil:
		if !ev.add.removed.Load() {
			ev.add.fn(ev.img, metadata.Diff(metadata.Empty(), ev.img))
			subs = append(subs, ev.add)
		}
	case ev.remove != nil:
		for i, s := range subs {
			if s == ev.remove {
				subs = append(subs[:i:i], subs[i+1:]...)
				break
			}
		}
	default:
		for _, s := range subs {
			if !s.removed.Load() {
				s.fn(ev.img, ev.delta)
			}
		}
	}
	return subs
}

// close stops the publisher goroutine and waits for it; queued events not
// yet delivered are dropped.
func (p *publisher) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}
