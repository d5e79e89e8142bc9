package protocol

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ioTimeout bounds every blocking read or wait in these tests; reaching it is
// a failure, never a way to synchronise.
const ioTimeout = 10 * time.Second

// testLogger routes the server's logs to t.Log.
func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.ConsoleWriter{Out: tWriter{t}, NoColor: true}).With().Timestamp().Logger()
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func testConfig(t testing.TB) ServerConfig {
	cfg := DefaultServerConfig()
	cfg.Name = "test"
	cfg.Logger = testLogger(t)
	return cfg
}

// startServer serves reg on 127.0.0.1:0 and shuts the server down when the
// test ends, failing the test if the shutdown is not clean.
func startServer(t *testing.T, cfg ServerConfig, reg *Registry) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(cfg, reg)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		// A failed test may leave a Later blocked on a gate that its
		// cleanup has not opened yet: give no grace then.
		grace := ioTimeout
		if t.Failed() {
			grace = 0
		}
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil && !t.Failed() {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// appendRequest frames req by hand: int32 length, int16 key, int16 version,
// int32 correlation id, nullable client id, then (flexible versions only)
// the header's empty tagged fields, then the body.
func appendRequest(dst []byte, req kmsg.Request, correlationID int32, clientID *string) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if clientID == nil {
		dst = binary.BigEndian.AppendUint16(dst, 0xFFFF)
	} else {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(*clientID)))
		dst = append(dst, *clientID...)
	}
	if req.IsFlexible() {
		dst = append(dst, 0)
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

func sendRequest(t *testing.T, nc net.Conn, req kmsg.Request, correlationID int32) {
	t.Helper()
	clientID := "samsa-test"
	write(t, nc, appendRequest(nil, req, correlationID, &clientID))
}

func write(t *testing.T, nc net.Conn, b []byte) {
	t.Helper()
	nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := nc.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// readResponse reads one response frame and returns its correlation id and
// everything after it (the header's tags, if any, and the body).
func readResponse(t *testing.T, nc net.Conn) (int32, []byte) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(ioTimeout))
	var lenBuf [4]byte
	if _, err := io.ReadFull(nc, lenBuf[:]); err != nil {
		t.Fatalf("reading response length: %v", err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(lenBuf[:]))
	if _, err := io.ReadFull(nc, frame); err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	if len(frame) < 4 {
		t.Fatalf("%d-byte response frame", len(frame))
	}
	return int32(binary.BigEndian.Uint32(frame)), frame[4:]
}

// readResponseAs reads one response, checks its correlation id, strips the
// response header's tags when resp is flexible (and not ApiVersions, whose
// responses always use header v0), and decodes the body into resp.
func readResponseAs(t *testing.T, nc net.Conn, correlationID int32, resp kmsg.Response) {
	t.Helper()
	got, rest := readResponse(t, nc)
	if got != correlationID {
		t.Fatalf("response correlation id %d, want %d", got, correlationID)
	}
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		if len(rest) == 0 || rest[0] != 0 {
			t.Fatalf("flexible response header: want one empty tag section, got % x", rest[:min(len(rest), 8)])
		}
		rest = rest[1:]
	}
	if err := resp.ReadFrom(rest); err != nil {
		t.Fatalf("decoding %s v%d response: %v", kmsg.NameForKey(resp.Key()), resp.GetVersion(), err)
	}
}

// expectClosed reads until the server closes nc and fails if it does not
// within ioTimeout. Data already sent by the server is discarded.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := io.Copy(io.Discard, nc)
	if err == nil || errors.Is(err, syscall.ECONNRESET) {
		return // io.Copy turns EOF into nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v", ioTimeout)
	}
	t.Fatalf("reading until close: %v", err)
}

// apiVersionsRoundTrip checks that nc is still served: an ApiVersions v0
// request gets its answer.
func apiVersionsRoundTrip(t *testing.T, nc net.Conn, correlationID int32) *kmsg.ApiVersionsResponse {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	sendRequest(t, nc, req, correlationID)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	readResponseAs(t, nc, correlationID, resp)
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions error code %d", resp.ErrorCode)
	}
	return resp
}

// waitFor polls cond until it returns nil, failing with its last error after
// timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gate is a one-shot release that a test can open more than once (from its
// body and from a cleanup).
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate(t *testing.T) *gate {
	g := &gate{ch: make(chan struct{})}
	t.Cleanup(g.open)
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// wait blocks until the gate opens or ctx ends.
func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// callLog records the correlation ids handlers were called with, in order.
type callLog struct {
	mu  sync.Mutex
	ids []int32
}

func (l *callLog) add(id int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids = append(l.ids, id)
}

func (l *callLog) get() []int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int32(nil), l.ids...)
}

func (l *callLog) waitLen(t *testing.T, n int) {
	t.Helper()
	waitFor(t, ioTimeout, func() error {
		if got := l.get(); len(got) < n {
			return fmt.Errorf("handler calls %v, want %d", got, n)
		}
		return nil
	})
}

// metadataResponse is a minimal valid answer to a Metadata request.
func metadataResponse(req *Request) kmsg.Response {
	return req.Body.ResponseKind()
}
