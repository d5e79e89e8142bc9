package storage

import (
	"errors"
	"fmt"
	"os"
)

// Pinned is a read's batches held for zero-copy sending: file regions on
// duplicated descriptors that stay readable after the log moves on —
// retention and compaction unlink or replace segment files but never
// rewrite them in place. The one exception is truncation of a leader that
// became a follower below what it served (an unclean election): bytes
// appended afterwards at the same positions would be sent instead, which the
// consumer detects by CRC and fetches again. Release closes the
// descriptors; call it once the regions are sent.
type Pinned struct {
	Regions []FileRegion
	Size    int64
	files   []*os.File
}

// Release closes the pinned descriptors. It is safe to call on a zero
// Pinned and more than once.
func (p *Pinned) Release() error {
	var errs []error
	for _, f := range p.files {
		errs = append(errs, f.Close())
	}
	p.files = nil
	return errors.Join(errs...)
}

// ErrPinUnsupported is returned by Pin on platforms without descriptor
// duplication; callers fall back to Bytes.
var ErrPinUnsupported = errors.New("storage: pinning file regions is not supported on this platform")

// Pin checks, under the log's read lock, that the read is still valid (the
// same rules as Bytes) and duplicates the descriptors of its segment files.
func (r ReadResult) Pin() (Pinned, error) {
	if r.Size == 0 {
		return Pinned{}, nil
	}
	l := r.log
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := r.checkValidLocked(); err != nil {
		return Pinned{}, err
	}
	p := Pinned{Size: r.Size}
	dups := make(map[*os.File]*os.File)
	for i, rg := range r.Regions {
		d, ok := dups[rg.File]
		if !ok {
			// The cache may have closed rg.File since Read: dup the
			// segment's current descriptor (the same file: its path was
			// not reused, or checkValidLocked would have refused).
			f, release, err := r.regionFile(i)
			if err == nil {
				d, err = dupFile(f)
				release()
			}
			if err != nil {
				p.Release()
				return Pinned{}, fmt.Errorf("pinning %s: %w", rg.File.Name(), err)
			}
			dups[rg.File] = d
			p.files = append(p.files, d)
		}
		p.Regions = append(p.Regions, FileRegion{File: d, Pos: rg.Pos, Len: rg.Len})
	}
	return p, nil
}
