//go:build unix

package storage

import "golang.org/x/sys/unix"

// descriptorLimit is the soft RLIMIT_NOFILE.
func descriptorLimit() (int64, bool) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil || r.Cur == unix.RLIM_INFINITY {
		return 0, false
	}
	return int64(min(r.Cur, 1<<40)), true
}
