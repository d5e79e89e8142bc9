//go:build unix

package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// dupFile returns a new *os.File on a duplicate of f's descriptor: it keeps
// the open file (and its bytes) alive after f is closed or unlinked.
func dupFile(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var dupErr error
	if err := rc.Control(func(fd uintptr) { nfd, dupErr = unix.Dup(int(fd)) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	unix.CloseOnExec(nfd)
	return os.NewFile(uintptr(nfd), f.Name()), nil
}
