package protocol

import (
	"encoding/binary"
	"fmt"
	"io"
)

// ReadFrame reads one length-prefixed frame. The length is validated against
// maxBytes before the body is allocated. A clean EOF before the first byte of
// the length returns io.EOF; any other short read returns an error wrapping
// io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, maxBytes int32) ([]byte, error) {
	return readFrame(r, minRequestFrame, maxBytes)
}

// readFrame reads a frame whose length must lie in [minBytes, maxBytes].
func readFrame(r io.Reader, minBytes, maxBytes int32) ([]byte, error) {
	var lenBuf [4]byte
	if n, err := io.ReadFull(r, lenBuf[:]); err != nil {
		if n == 0 && err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("reading frame length: %w", err)
	}
	size := int32(binary.BigEndian.Uint32(lenBuf[:]))
	if err := checkFrameSize(size, minBytes, maxBytes); err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %d-byte frame body: %w", size, err)
	}
	return buf, nil
}

// minRequestFrame is the smallest possible request: api key, api version and
// correlation id (8 bytes) plus a client id length (2 bytes).
const minRequestFrame = 10

func checkFrameSize(size, minBytes, maxBytes int32) error {
	switch {
	case size < minBytes:
		return fmt.Errorf("%w: frame length %d", ErrMalformedFrame, size)
	case size > maxBytes:
		return fmt.Errorf("%w: %d > %d bytes", ErrFrameTooLarge, size, maxBytes)
	}
	return nil
}

// AppendFrameLength reserves the 4-byte length prefix at the start of a frame
// being built; FinishFrame fills it in.
func AppendFrameLength(dst []byte) []byte { return append(dst, 0, 0, 0, 0) }

// FinishFrame writes the length of frame[start+4:] into frame[start:start+4].
func FinishFrame(frame []byte, start int) {
	binary.BigEndian.PutUint32(frame[start:], uint32(len(frame)-start-4))
}
