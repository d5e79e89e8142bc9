//go:build !unix

package storage

// descriptorLimit is unknown on this platform.
func descriptorLimit() (int64, bool) { return 0, false }
