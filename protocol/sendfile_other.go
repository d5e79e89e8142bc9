//go:build !linux

package protocol

import (
	"net"
	"os"
)

// sendFileRegion has no zero-copy path on this platform; the caller copies.
func sendFileRegion(net.Conn, *os.File, int64, int64) (bool, error) { return false, nil }
