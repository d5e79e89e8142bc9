package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestReadFrame checks the protocol guide's framing ("RequestOrResponse =>
// Size (RequestMessage | ResponseMessage)", Size an int32) and
// socket.request.max.bytes: the length is checked before anything is
// allocated or read, a length below the smallest request header is refused,
// and short input is io.EOF only before the first byte.
func TestReadFrame(t *testing.T) {
	const limit = 64
	body := bytes.Repeat([]byte{0xAB}, 12)
	valid := append([]byte{0, 0, 0, 12}, body...)
	cases := []struct {
		name     string
		in       []byte
		want     []byte
		wantErr  error
		readUpTo int // bytes the reader may consume
	}{
		{"valid", valid, body, nil, len(valid)},
		{"exactly the limit", append([]byte{0, 0, 0, limit}, make([]byte, limit)...), make([]byte, limit), nil, 4 + limit},
		{"empty input", nil, nil, io.EOF, 0},
		{"partial length", []byte{0, 0}, nil, io.ErrUnexpectedEOF, 2},
		{"partial body", valid[:10], nil, io.ErrUnexpectedEOF, 10},
		{"length above the limit, body never read", append([]byte{0, 0, 0, limit + 1}, make([]byte, limit+1)...), nil, ErrFrameTooLarge, 4},
		{"0x7FFFFFFF length", []byte{0x7F, 0xFF, 0xFF, 0xFF}, nil, ErrFrameTooLarge, 4},
		{"0xFFFFFFFF length", []byte{0xFF, 0xFF, 0xFF, 0xFF}, nil, ErrMalformedFrame, 4},
		{"zero length", []byte{0, 0, 0, 0}, nil, ErrMalformedFrame, 4},
		{"length 9", append([]byte{0, 0, 0, 9}, make([]byte, 9)...), nil, ErrMalformedFrame, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &countingReader{r: bytes.NewReader(c.in)}
			got, err := ReadFrame(r, limit)
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
			if c.wantErr == io.EOF && err != io.EOF {
				t.Fatalf("error %v, want io.EOF itself", err)
			}
			if !bytes.Equal(got, c.want) {
				t.Fatalf("body % x, want % x", got, c.want)
			}
			if r.n > c.readUpTo {
				t.Fatalf("read %d bytes, want at most %d", r.n, c.readUpTo)
			}
		})
	}
}

// TestFrameRoundTrip checks that AppendFrameLength and FinishFrame write the
// length ReadFrame expects, at any offset in a buffer.
func TestFrameRoundTrip(t *testing.T) {
	buf := []byte("prefix")
	start := len(buf)
	buf = AppendFrameLength(buf)
	buf = append(buf, "0123456789abc"...)
	FinishFrame(buf, start)
	got, err := ReadFrame(bytes.NewReader(buf[start:]), 1<<10)
	if err != nil || string(got) != "0123456789abc" {
		t.Fatalf("ReadFrame = %q, %v", got, err)
	}
}
