package protocol

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendFileRegion sends [off, off+n) of f to conn with sendfile(2). It
// reports handled=false when conn is not a socket that sendfile can write
// to, so the caller copies instead.
func sendFileRegion(conn net.Conn, f *os.File, off, n int64) (handled bool, err error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, nil
	}
	fc, err := f.SyscallConn()
	if err != nil {
		return false, nil
	}
	var sendErr error
	ctrlErr := fc.Control(func(ffd uintptr) {
		remaining := n
		writeErr := rc.Write(func(sfd uintptr) bool {
			for remaining > 0 {
				chunk := min(remaining, 1<<30)
				w, err := unix.Sendfile(int(sfd), int(ffd), &off, int(chunk))
				if w > 0 {
					remaining -= int64(w)
				}
				switch {
				case errors.Is(err, unix.EAGAIN):
					return false // wait until the socket is writable
				case errors.Is(err, unix.EINTR):
					continue
				case err != nil:
					sendErr = err
					return true
				case w == 0:
					sendErr = fmt.Errorf("sendfile: file region ends early (%d bytes short)", remaining)
					return true
				}
			}
			return true
		})
		if sendErr == nil {
			sendErr = writeErr
		}
	})
	if ctrlErr != nil {
		return true, ctrlErr
	}
	return true, sendErr
}
