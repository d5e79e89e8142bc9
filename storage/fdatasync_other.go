//go:build !linux

package storage

import "os"

// fdatasync falls back to a full fsync where fdatasync is not available
// (on macOS, os.File.Sync issues F_FULLFSYNC).
func fdatasync(f *os.File) error { return f.Sync() }
