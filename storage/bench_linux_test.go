//go:build linux

package storage

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkLogReadSendfile: a 64 KiB fetch at a random offset of a 16 MiB
// log in the page cache, served zero-copy as the broker does: Read, Pin
// (dup the segment descriptors), sendfile each region to a loopback TCP
// socket drained by another goroutine, Release. Baseline:
// BenchmarkLogReadCopy.
func BenchmarkLogReadSendfile(b *testing.B) {
	l := readBenchLog(b)
	conn := drainedConn(b)
	leo := l.LogEndOffset()
	rng := rand.New(rand.NewPCG(1, 1))
	b.SetBytes(fetchBytes)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := l.Read(rng.Int64N(leo-64), fetchBytes, leo)
		if err != nil {
			b.Fatal(err)
		}
		p, err := res.Pin()
		if err != nil || p.Size != fetchBytes {
			b.Fatalf("pinned %d bytes: %v", p.Size, err)
		}
		for _, rg := range p.Regions {
			if err := sendRegion(conn, rg.File, rg.Pos, rg.Len); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Release(); err != nil {
			b.Fatal(err)
		}
	}
}

// sendRegion sends [off, off+n) of f to conn with sendfile(2), as the
// protocol package's server does for Fetch responses.
func sendRegion(conn *net.TCPConn, f *os.File, off, n int64) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	fc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	ctrlErr := fc.Control(func(ffd uintptr) {
		werr := rc.Write(func(sfd uintptr) bool {
			for n > 0 {
				w, err := unix.Sendfile(int(sfd), int(ffd), &off, int(n))
				n -= int64(max(w, 0))
				switch {
				case errors.Is(err, unix.EAGAIN):
					return false
				case errors.Is(err, unix.EINTR):
				case err != nil:
					sendErr = err
					return true
				case w == 0:
					sendErr = io.ErrUnexpectedEOF
					return true
				}
			}
			return true
		})
		sendErr = errors.Join(sendErr, werr)
	})
	return errors.Join(ctrlErr, sendErr)
}
