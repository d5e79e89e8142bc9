package protocol

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// scriptedRegistry serves Metadata with a handler chosen per correlation id,
// and records the order in which handlers were called. A correlation id
// without a script is answered at once.
func scriptedRegistry(calls *callLog, script map[int32]Handler) *Registry {
	reg := NewRegistry()
	reg.Register(3, 0, 13, func(ctx context.Context, req *Request) Reply {
		calls.add(req.CorrelationID)
		if h, ok := script[req.CorrelationID]; ok {
			return h(ctx, req)
		}
		return Respond(metadataResponse(req))
	})
	return reg
}

// laterUntil answers once g opens (or fails when the connection's context
// ends).
func laterUntil(g *gate) Handler {
	return func(_ context.Context, req *Request) Reply {
		return Later(func(ctx context.Context) (kmsg.Response, error) {
			if err := g.wait(ctx); err != nil {
				return nil, err
			}
			return metadataResponse(req), nil
		})
	}
}

func sendMetadata(t *testing.T, nc net.Conn, correlationIDs ...int32) {
	t.Helper()
	var buf []byte
	clientID := "samsa-test"
	for _, id := range correlationIDs {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		buf = appendRequest(buf, req, id, &clientID)
	}
	write(t, nc, buf) // back to back, in one write
}

func expectMetadata(t *testing.T, nc net.Conn, correlationID int32) {
	t.Helper()
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = 12
	readResponseAs(t, nc, correlationID, resp)
}

// TestPipelinedResponsesInRequestOrder checks the protocol guide's ordering
// guarantee ("the server guarantees that on a single TCP connection,
// requests will be processed in the order they are sent and responses will
// return in that order"): three requests sent back to back, the first
// answered Later and released only after the other two are ready, are
// answered 1, 2, 3; handlers run in arrival order.
func TestPipelinedResponsesInRequestOrder(t *testing.T) {
	var calls callLog
	first := newGate(t)
	reg := scriptedRegistry(&calls, map[int32]Handler{1: laterUntil(first)})
	_, addr := startServer(t, testConfig(t), reg)
	nc := dial(t, addr)

	sendMetadata(t, nc, 1, 2, 3)
	calls.waitLen(t, 3) // 2 and 3 are answered while 1 still waits
	first.open()
	for _, id := range []int32{1, 2, 3} {
		expectMetadata(t, nc, id)
	}
	if got := calls.get(); !reflect.DeepEqual(got, []int32{1, 2, 3}) {
		t.Fatalf("handlers called in order %v, want [1 2 3]", got)
	}
}

// TestNoResponseKeepsOrder checks Produce acks=0 semantics (the protocol
// guide: "the server will not send a response" when acks is 0) in a
// pipeline: a request answered with NoResponse between a pending Later and an
// immediate answer produces no frame and does not disturb the order of the
// others.
func TestNoResponseKeepsOrder(t *testing.T) {
	var calls callLog
	first := newGate(t)
	reg := scriptedRegistry(&calls, map[int32]Handler{
		1: laterUntil(first),
		2: func(context.Context, *Request) Reply { return NoResponse() },
	})
	_, addr := startServer(t, testConfig(t), reg)
	nc := dial(t, addr)

	sendMetadata(t, nc, 1, 2, 3)
	calls.waitLen(t, 3)
	first.open()
	expectMetadata(t, nc, 1)
	expectMetadata(t, nc, 3)
	// Nothing for 2 comes later either: the next frame is the next answer.
	sendMetadata(t, nc, 4)
	expectMetadata(t, nc, 4)
	if got := calls.get(); !reflect.DeepEqual(got, []int32{1, 2, 3, 4}) {
		t.Fatalf("handlers called in order %v, want [1 2 3 4]", got)
	}
}

// TestReadyResponseNotHeldBehindLater checks that in-order writing does not
// delay an answer that is already due: when request 1 is answered at once and
// request 2 waits in Later, the client receives answer 1 while 2 is still
// pending (a client waiting on Metadata must not wait out a long-poll Fetch
// pipelined after it).
func TestReadyResponseNotHeldBehindLater(t *testing.T) {
	var calls callLog
	second := newGate(t)
	reg := scriptedRegistry(&calls, map[int32]Handler{2: laterUntil(second)})
	_, addr := startServer(t, testConfig(t), reg)
	nc := dial(t, addr)

	sendMetadata(t, nc, 1, 2)
	calls.waitLen(t, 2) // 2 is queued behind 1 before 1 is written
	expectMetadata(t, nc, 1)
	second.open()
	expectMetadata(t, nc, 2)
}

// badFrames are inputs that must close the connection they arrive on, each
// with the rule it breaks. The server under test has MaxRequestBytes 1 KiB
// and serves ApiVersions and Metadata 0-13.
func badFrames() []struct {
	name  string
	bytes []byte
} {
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	header := func(key, version int16, rest ...byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, 7)
		return append(b, rest...)
	}
	noClientID := []byte{0xFF, 0xFF}
	return []struct {
		name  string
		bytes []byte
	}{
		// socket.request.max.bytes: the length alone closes the connection;
		// the body is never sent.
		{"length above MaxRequestBytes", []byte{0x7F, 0xFF, 0xFF, 0xFF}},
		{"length 1025, one above MaxRequestBytes", []byte{0, 0, 0x04, 0x01}},
		{"negative length", []byte{0xFF, 0xFF, 0xFF, 0xFF}},
		{"length below the 10-byte minimum header", frame(header(18, 0, 0))},
		{"zero length", []byte{0, 0, 0, 0}},
		{"client id longer than the frame", frame(header(18, 0, 0x00, 0x05, 'a'))},
		// ApiVersions v3 uses header v2: the tag section is missing.
		{"flexible header without its tagged fields", frame(header(18, 3, noClientID...))},
		{"flexible header with a truncated tag", frame(header(18, 3, 0xFF, 0xFF, 1, 0, 5, 'x'))},
		{"API key kmsg does not know", frame(header(1000, 0, noClientID...))},
		{"known API key not registered (Produce)", frame(header(0, 9, noClientID...))},
		{"registered key, version above the range (Metadata v14)", frame(header(3, 14, noClientID...))},
		{"registered key, negative version", frame(header(3, -1, noClientID...))},
		// Metadata v12: topics compact array of 4 entries, then nothing.
		{"body that does not decode", frame(header(3, 12, 0xFF, 0xFF, 0, 5))},
		{"ApiVersions v3 body cut short", frame(header(18, 3, 0xFF, 0xFF, 0, 10, 'k'))},
	}
}

// TestBadInputClosesOnlyThatConnection checks the protocol guide's rule that
// a request the broker cannot parse or does not serve closes the
// connection (there is no response format to answer with), and
// socket.request.max.bytes: each bad frame closes its own connection, while a
// connection opened before it keeps being served.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxRequestBytes = 1 << 10
	_, addr := startServer(t, cfg, metadataRegistry())
	healthy := dial(t, addr)
	apiVersionsRoundTrip(t, healthy, 0)

	for i, bad := range badFrames() {
		t.Run(bad.name, func(t *testing.T) {
			nc := dial(t, addr)
			write(t, nc, bad.bytes)
			expectClosed(t, nc)
			apiVersionsRoundTrip(t, healthy, int32(i+1))
		})
	}
}

// TestTruncatedFrameClosesConnection checks framing: a client that sends a
// length and then only part of the frame before closing its side is dropped
// without an answer, and the server keeps serving others.
func TestTruncatedFrameClosesConnection(t *testing.T) {
	_, addr := startServer(t, testConfig(t), metadataRegistry())
	healthy := dial(t, addr)

	nc := dial(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	full := appendRequest(nil, req, 1, nil)
	write(t, nc, full[:len(full)-3])
	nc.(*net.TCPConn).CloseWrite()
	expectClosed(t, nc)
	apiVersionsRoundTrip(t, healthy, 2)
}

// TestHandlerPanicClosesOnlyItsConnection checks the package's concurrency
// contract: a handler that panics, whether in the handler call itself or in
// its Later function, is recovered; only its connection is closed, after the
// answers due before it are sent, and the server keeps serving.
func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	for _, where := range []string{"handler", "later"} {
		t.Run(where, func(t *testing.T) {
			var calls callLog
			boom := func(context.Context, *Request) Reply {
				if where == "handler" {
					panic("boom in handler")
				}
				return Later(func(context.Context) (kmsg.Response, error) { panic("boom in later") })
			}
			reg := scriptedRegistry(&calls, map[int32]Handler{2: boom})
			_, addr := startServer(t, testConfig(t), reg)
			healthy := dial(t, addr)
			apiVersionsRoundTrip(t, healthy, 0)

			nc := dial(t, addr)
			sendMetadata(t, nc, 1, 2, 3)
			expectMetadata(t, nc, 1)
			expectClosed(t, nc)
			// A panic in the handler call stops the reader at once; a
			// panic in Later may come after request 3 was read and
			// dispatched (its answer is never sent).
			if got := calls.get(); where == "handler" && !reflect.DeepEqual(got, []int32{1, 2}) {
				t.Fatalf("handlers called for %v, want [1 2]: nothing is read after the panic", got)
			}

			apiVersionsRoundTrip(t, healthy, 1)
			apiVersionsRoundTrip(t, dial(t, addr), 1)
		})
	}
}

// TestFailAndEmptyReplyCloseConnection checks Reply's contract: Fail, a
// Later error, and a handler mistake that leaves no response (a zero Reply,
// Respond(nil), a Later returning nil, nil) each close only their connection
// after the earlier answers are sent; none of them may take the server down.
func TestFailAndEmptyReplyCloseConnection(t *testing.T) {
	cases := map[string]Handler{
		"Fail": func(context.Context, *Request) Reply { return Fail(errors.New("refused")) },
		"Later error": func(context.Context, *Request) Reply {
			return Later(func(context.Context) (kmsg.Response, error) { return nil, errors.New("refused") })
		},
		"zero Reply":   func(context.Context, *Request) Reply { return Reply{} },
		"Respond(nil)": func(context.Context, *Request) Reply { return Respond(nil) },
		"Later nil, nil": func(context.Context, *Request) Reply {
			return Later(func(context.Context) (kmsg.Response, error) { return nil, nil })
		},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			var calls callLog
			_, addr := startServer(t, testConfig(t), scriptedRegistry(&calls, map[int32]Handler{2: h}))
			healthy := dial(t, addr)

			nc := dial(t, addr)
			sendMetadata(t, nc, 1, 2)
			expectMetadata(t, nc, 1)
			expectClosed(t, nc)
			apiVersionsRoundTrip(t, healthy, 1)
		})
	}
}

// TestClientGoneCancelsLater checks Later's contract, "ctx is cancelled when
// the connection dies": when the client closes its connection, work still
// pending for it is told at once instead of running to its own end (Kafka
// likewise drops the answers of a disconnected client), and the server keeps
// serving.
func TestClientGoneCancelsLater(t *testing.T) {
	var calls callLog
	cancelled := make(chan error, 1)
	waitsForCtx := func(context.Context, *Request) Reply {
		return Later(func(ctx context.Context) (kmsg.Response, error) {
			<-ctx.Done()
			cancelled <- ctx.Err()
			return nil, ctx.Err()
		})
	}
	_, addr := startServer(t, testConfig(t), scriptedRegistry(&calls, map[int32]Handler{1: waitsForCtx}))
	nc := dial(t, addr)
	sendMetadata(t, nc, 1)
	calls.waitLen(t, 1)
	nc.Close()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Later saw %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Later's context not cancelled after the client left")
	}
	apiVersionsRoundTrip(t, dial(t, addr), 1)
}

// TestIdleConnectionClosed checks connections.max.idle.ms: a connection that
// sends nothing for IdleTimeout is closed by the server.
func TestIdleConnectionClosed(t *testing.T) {
	cfg := testConfig(t)
	cfg.IdleTimeout = 200 * time.Millisecond
	_, addr := startServer(t, cfg, metadataRegistry())

	nc := dial(t, addr)
	apiVersionsRoundTrip(t, nc, 1)
	start := time.Now()
	expectClosed(t, nc)
	if waited := time.Since(start); waited < cfg.IdleTimeout/2 {
		t.Fatalf("closed after %v, before the %v idle timeout", waited, cfg.IdleTimeout)
	}
}

// TestConnectionWithLaterInFlightIsNotIdle checks connections.max.idle.ms
// as Kafka applies it: a connection waiting for an answer is not idle, so a
// Later that takes several idle timeouts is still answered on it.
func TestConnectionWithLaterInFlightIsNotIdle(t *testing.T) {
	cfg := testConfig(t)
	cfg.IdleTimeout = 100 * time.Millisecond
	var calls callLog
	slow := func(_ context.Context, req *Request) Reply {
		return Later(func(ctx context.Context) (kmsg.Response, error) {
			// The rule under test is about elapsed time, so time passes here.
			select {
			case <-time.After(4 * cfg.IdleTimeout):
				return metadataResponse(req), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
	}
	_, addr := startServer(t, cfg, scriptedRegistry(&calls, map[int32]Handler{1: slow}))

	nc := dial(t, addr)
	start := time.Now()
	sendMetadata(t, nc, 1)
	expectMetadata(t, nc, 1)
	if waited := time.Since(start); waited < 4*cfg.IdleTimeout {
		t.Fatalf("answered after %v, before the Later finished", waited)
	}
	expectClosed(t, nc) // idle again once answered
}

// TestShutdownDrainsInFlight checks Shutdown's contract: it stops accepting
// (new connections are refused), lets a request already read finish, writes
// its answer, and only then returns.
func TestShutdownDrainsInFlight(t *testing.T) {
	var calls callLog
	release := newGate(t)
	reg := scriptedRegistry(&calls, map[int32]Handler{1: laterUntil(release)})
	s, addr := startServer(t, testConfig(t), reg)
	idle := dial(t, addr)
	apiVersionsRoundTrip(t, idle, 0)
	nc := dial(t, addr)
	sendMetadata(t, nc, 1)
	calls.waitLen(t, 1)

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		shutdown <- s.Shutdown(ctx)
	}()
	waitFor(t, ioTimeout, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return errors.New("new connections are still accepted")
		}
		return nil
	})
	expectClosed(t, idle) // nothing in flight: closed at once
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}

	release.open()
	expectMetadata(t, nc, 1)
	expectClosed(t, nc)
	select {
	case err := <-shutdown:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Shutdown did not return after the last answer was written")
	}
}

// TestShutdownExpiredContextCancelsLater checks Shutdown's contract when
// grace has run out: the context of in-flight Later work is cancelled, the
// connections are closed, and Shutdown returns the context's error once
// every goroutine has exited.
func TestShutdownExpiredContextCancelsLater(t *testing.T) {
	var calls callLog
	cancelled := make(chan error, 1)
	blocked := func(context.Context, *Request) Reply {
		return Later(func(ctx context.Context) (kmsg.Response, error) {
			<-ctx.Done()
			cancelled <- ctx.Err()
			return nil, ctx.Err()
		})
	}
	s, addr := startServer(t, testConfig(t), scriptedRegistry(&calls, map[int32]Handler{1: blocked}))
	nc := dial(t, addr)
	sendMetadata(t, nc, 1)
	calls.waitLen(t, 1)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with an expired context returned %v, want context.Canceled", err)
	}
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Later saw %v", err)
		}
	default:
		t.Fatal("Shutdown returned before the Later's context was cancelled")
	}
	expectClosed(t, nc)
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("connection accepted after Shutdown")
	}
}

// TestShutdownStopsIdleReaders checks that Shutdown's grace is not spent on
// connections with nothing in flight, however long the idle timeout (ten
// minutes here): every idle connection is closed and Shutdown returns well
// inside its context.
func TestShutdownStopsIdleReaders(t *testing.T) {
	var calls callLog
	s, addr := startServer(t, testConfig(t), scriptedRegistry(&calls, nil))
	var conns []net.Conn
	for i := range 20 {
		nc := dial(t, addr)
		apiVersionsRoundTrip(t, nc, int32(i))
		conns = append(conns, nc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown of idle connections: %v", err)
	}
	for _, nc := range conns {
		expectClosed(t, nc)
	}
}

// TestServeAfterShutdown checks that a server, once shut down, refuses new
// listeners.
func TestServeAfterShutdown(t *testing.T) {
	s, _ := startServer(t, testConfig(t), metadataRegistry())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener left open")
	}
}

// TestServerConfigValidate checks that each configuration that cannot work is
// refused with the Kafka setting it concerns.
func TestServerConfigValidate(t *testing.T) {
	if err := DefaultServerConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, mutate := range map[string]func(*ServerConfig){
		"MaxRequestBytes": func(c *ServerConfig) { c.MaxRequestBytes = 9 },
		"IdleTimeout":     func(c *ServerConfig) { c.IdleTimeout = 0 },
		"MaxInFlight":     func(c *ServerConfig) { c.MaxInFlight = 0 },
	} {
		cfg := DefaultServerConfig()
		mutate(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
}
