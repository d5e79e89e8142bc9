package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ServerConfig configures a listener.
type ServerConfig struct {
	// Name identifies the listener in logs and in Request.Listener.
	Name string
	// MaxRequestBytes is Kafka's socket.request.max.bytes.
	MaxRequestBytes int32
	// IdleTimeout is Kafka's connections.max.idle.ms: a connection with no
	// request in flight and none received for this long is closed.
	IdleTimeout time.Duration
	// MaxInFlight bounds the requests one connection may have unanswered;
	// the reader stops reading while the bound is reached.
	MaxInFlight int
	Logger      zerolog.Logger
}

// DefaultServerConfig returns Kafka's defaults.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		Name:            "kafka",
		MaxRequestBytes: 100 << 20,
		IdleTimeout:     10 * time.Minute,
		MaxInFlight:     64,
		Logger:          zerolog.Nop(),
	}
}

// Validate reports a configuration that cannot work.
func (c ServerConfig) Validate() error {
	switch {
	case c.MaxRequestBytes < minRequestFrame:
		return fmt.Errorf("socket.request.max.bytes %d is below %d", c.MaxRequestBytes, minRequestFrame)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("connections.max.idle.ms must be positive, got %v", c.IdleTimeout)
	case c.MaxInFlight <= 0:
		return fmt.Errorf("max in-flight requests per connection must be positive, got %d", c.MaxInFlight)
	}
	return nil
}

// Server serves one registry on any number of listeners.
type Server struct {
	cfg ServerConfig
	reg *Registry
	log zerolog.Logger

	// hardCtx is cancelled when Shutdown's grace runs out; every request
	// context derives from it.
	hardCtx    context.Context
	hardCancel context.CancelFunc

	mu struct {
		sync.Mutex
		listeners map[net.Listener]struct{}
		conns     map[*conn]struct{}
		draining  bool
	}
	wg sync.WaitGroup // Serve loops and connections
}

// NewServer returns a server for reg. It panics on an invalid config, which
// callers validate first.
func NewServer(cfg ServerConfig, reg *Registry) *Server {
	if err := cfg.Validate(); err != nil {
		panic("protocol: " + err.Error())
	}
	s := &Server{cfg: cfg, reg: reg, log: cfg.Logger.With().Str("listener", cfg.Name).Logger()}
	s.hardCtx, s.hardCancel = context.WithCancel(context.Background())
	s.mu.listeners = make(map[net.Listener]struct{})
	s.mu.conns = make(map[*conn]struct{})
	return s
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("protocol: server closed")

// Serve accepts connections on ln until Shutdown. It always closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.mu.draining {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.mu.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer ln.Close()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isDraining() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn().Err(err).Dur("backoff", backoff).Msg("accept failed; retrying")
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		backoff = 0
		if !s.track(nc) {
			nc.Close()
			return ErrServerClosed
		}
	}
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.draining
}

// track registers a new connection and starts its goroutine, unless the
// server is draining.
func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.draining {
		return false
	}
	c := newConn(s, nc)
	s.mu.conns[c] = struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.mu.conns, c)
		s.mu.Unlock()
	}()
	return true
}

// Shutdown stops accepting, stops reading new requests, lets every request
// already read finish and be answered, then closes the connections. If ctx
// ends first, in-flight work is cancelled and connections are closed at once.
// It returns after every goroutine of the server has exited.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.mu.draining = true
	for ln := range s.mu.listeners {
		ln.Close()
	}
	for c := range s.mu.conns {
		c.stopReading()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.hardCancel()
		return nil
	case <-ctx.Done():
		s.hardCancel()
		s.mu.Lock()
		for c := range s.mu.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return fmt.Errorf("shutting down listener %s: %w", s.cfg.Name, ctx.Err())
	}
}

// Close is Shutdown without grace.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Shutdown(ctx)
	return nil
}

// inflight is one request between being read and its response being written.
type inflight struct {
	hdr  requestHeader
	done chan struct{} // closed when resp/none/err are set
	resp kmsg.Response
	none bool
	err  error
}

// conn is one client connection. serve is its owner goroutine: it reads and
// dispatches; it starts the writer and the Later goroutines and waits for
// all of them before it returns.
type conn struct {
	s      *Server
	nc     net.Conn
	log    zerolog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	queue  chan *inflight // request order; capacity bounds in-flight requests
	// inFlight counts requests read but not yet answered.
	inFlight atomic.Int32

	mu       sync.Mutex
	stopping bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		s:     s,
		nc:    nc,
		log:   s.log.With().Str("remote", nc.RemoteAddr().String()).Logger(),
		queue: make(chan *inflight, s.cfg.MaxInFlight),
	}
	c.ctx, c.cancel = context.WithCancel(s.hardCtx)
	return c
}

// stopReading makes the reader stop after the frame it is reading (or at
// once, if it is waiting for one).
func (c *conn) stopReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
	c.nc.SetReadDeadline(time.Now())
}

// armReadDeadline gives the reader IdleTimeout for its next read, unless it
// has been told to stop. Checking and arming under c.mu keeps it from
// overwriting the immediate deadline stopReading sets between the two.
func (c *conn) armReadDeadline() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	return true
}

func (c *conn) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

func (c *conn) serve() {
	var later sync.WaitGroup
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()

	if err := c.readLoop(&later); peerGone(err) {
		// Nobody will read the answers: tell Later work now, as Later
		// promises, rather than after it finishes on its own.
		c.cancel()
	}

	close(c.queue)
	<-writerDone
	// The writer has stopped; Later functions whose answers can no longer be
	// written are told so through the context.
	c.cancel()
	later.Wait()
	c.nc.Close()
}

// readLoop reads and dispatches requests until the connection stops, and
// returns the read error that stopped it, if any.
func (c *conn) readLoop(later *sync.WaitGroup) error {
	br := bufio.NewReaderSize(c.nc, 32<<10)
	for {
		// Wait for the first byte of the next frame under the idle deadline;
		// once a frame has started, a timeout would lose our place in the
		// stream, so it is fatal.
		if !c.armReadDeadline() {
			return nil
		}
		if _, err := br.Peek(1); err != nil {
			if c.waitIsNotIdle(err) {
				continue
			}
			c.logReadError(err)
			return err
		}
		// The frame gets a whole idle timeout to arrive, not what was left
		// of the wait for its first byte.
		if !c.armReadDeadline() {
			return nil
		}
		frame, err := ReadFrame(br, c.s.cfg.MaxRequestBytes)
		if err != nil {
			c.logReadError(err)
			return err
		}
		inf, ok := c.dispatch(frame, later)
		if inf != nil {
			c.inFlight.Add(1)
			select {
			case c.queue <- inf:
			case <-c.ctx.Done():
				return nil
			}
		}
		if !ok {
			return nil
		}
	}
}

// peerGone reports whether a read error means the client closed or reset
// the connection.
func peerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// waitIsNotIdle reports whether the idle deadline passed while requests are
// still in flight, in which case the connection is not idle and reading goes
// on.
func (c *conn) waitIsNotIdle(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) || c.isStopping() {
		return false
	}
	return c.inFlight.Load() > 0
}

func (c *conn) logReadError(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		if !c.isStopping() {
			c.log.Debug().Msg("closing idle connection")
		}
	case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrMalformedFrame):
		c.log.Warn().Err(err).Msg("closing connection: bad frame")
	default:
		c.log.Debug().Err(err).Msg("connection read failed")
	}
}

// dispatch decodes one frame and calls its handler. It returns the in-flight
// entry to queue (nil if none) and whether the connection stays open.
func (c *conn) dispatch(frame []byte, later *sync.WaitGroup) (*inflight, bool) {
	hdr, body, err := c.decode(frame)
	if err != nil {
		if errors.Is(err, ErrUnsupportedAPI) && hdr.key == apiVersionsKey {
			inf := &inflight{hdr: hdr, done: make(chan struct{}), resp: c.s.reg.unsupportedAPIVersions()}
			// The writer versions the response from the header: this one is
			// v0 whatever version was asked, or it would be encoded in the
			// asked (flexible) format that the client cannot read.
			inf.hdr.version = 0
			close(inf.done)
			return inf, true
		}
		c.log.Warn().Err(err).Int16("api_key", hdr.key).Int16("api_version", hdr.version).
			Msg("closing connection: cannot serve request")
		return nil, false
	}
	req := &Request{
		Key: hdr.key, Version: hdr.version, CorrelationID: hdr.correlationID, ClientID: hdr.clientID,
		Body: body, RemoteAddr: c.nc.RemoteAddr().String(), Listener: c.s.cfg.Name,
	}
	inf := &inflight{hdr: hdr, done: make(chan struct{})}
	reply := c.callHandler(req)
	switch {
	case reply.later != nil:
		later.Add(1)
		go func() {
			defer later.Done()
			defer close(inf.done)
			inf.resp, inf.err = c.runLater(req, reply.later)
		}()
		return inf, true
	case reply.err != nil:
		inf.err = reply.err
	case reply.none:
		inf.none = true
	default:
		inf.resp = reply.resp
	}
	close(inf.done)
	return inf, inf.err == nil
}

// decode parses a frame, turning a decoder panic into an error: a hostile
// frame must never take the process down.
func (c *conn) decode(frame []byte) (hdr requestHeader, body kmsg.Request, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrMalformedFrame, p)
		}
	}()
	return decodeRequest(frame, c.s.reg)
}

func (c *conn) callHandler(req *Request) (reply Reply) {
	defer func() {
		if p := recover(); p != nil {
			reply = Fail(c.panicError(req, p))
		}
	}()
	return c.s.reg.lookup(req.Key)(c.ctx, req)
}

func (c *conn) runLater(req *Request, fn func(context.Context) (kmsg.Response, error)) (resp kmsg.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, c.panicError(req, p)
		}
	}()
	return fn(c.ctx)
}

func (c *conn) panicError(req *Request, p any) error {
	c.log.Error().Str("api", kmsg.NameForKey(req.Key)).Int16("api_version", req.Version).
		Interface("panic", p).Bytes("stack", debug.Stack()).Msg("handler panicked; closing connection")
	return fmt.Errorf("handler for %s panicked: %v", kmsg.NameForKey(req.Key), p)
}

// writeLoop writes responses in request order, flushing when no further
// response is ready so that pipelined answers share syscalls.
func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 32<<10)
	var buf []byte
	broken := false
	for inf := range c.queue {
		select {
		case <-inf.done:
		default:
			// Send what is already answered before waiting on a slow one.
			if !broken && bw.Buffered() > 0 && bw.Flush() != nil {
				broken = c.breakConn(nil)
			}
			<-inf.done
		}
		c.inFlight.Add(-1)
		if broken {
			releaseEncoded(inf.resp)
			continue // keep draining so the reader never blocks on a full queue
		}
		if inf.err == nil && !inf.none && inf.resp == nil {
			inf.err = fmt.Errorf("handler for %s v%d returned no response", kmsg.NameForKey(inf.hdr.key), inf.hdr.version)
		}
		if inf.err != nil {
			releaseEncoded(inf.resp)
			c.log.Warn().Err(inf.err).Int16("api_key", inf.hdr.key).Msg("closing connection")
			broken = c.breakConn(bw)
			continue
		}
		if inf.none {
			continue
		}
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		if enc, ok := inf.resp.(*EncodedResponse); ok {
			err := c.writeEncoded(bw, inf.hdr.correlationID, enc)
			enc.release()
			if err != nil {
				broken = c.breakConn(nil)
				continue
			}
		} else {
			inf.resp.SetVersion(inf.hdr.version)
			buf = appendResponseFrame(buf[:0], inf.hdr.correlationID, inf.resp)
			if _, err := bw.Write(buf); err != nil {
				broken = c.breakConn(nil)
				continue
			}
		}
		if len(c.queue) == 0 {
			if err := bw.Flush(); err != nil {
				broken = c.breakConn(nil)
			}
		}
	}
	if !broken {
		bw.Flush()
	}
}

// breakConn flushes what was already answered (if bw is set) and closes the
// connection, which also stops the reader.
func (c *conn) breakConn(bw *bufio.Writer) bool {
	if bw != nil {
		bw.Flush()
	}
	c.stopReading()
	c.nc.Close()
	c.cancel()
	return true
}

func releaseEncoded(resp kmsg.Response) {
	if enc, ok := resp.(*EncodedResponse); ok {
		enc.release()
	}
}

// writeEncoded writes a handler-encoded response: the header and byte parts
// through bw, file regions with sendfile after flushing bw (or copied where
// sendfile cannot be used).
func (c *conn) writeEncoded(bw *bufio.Writer, correlationID int32, enc *EncodedResponse) error {
	var hdr [9]byte
	n := 8
	binary.BigEndian.PutUint32(hdr[4:], uint32(correlationID))
	if enc.IsFlexible() && enc.Key() != apiVersionsKey {
		hdr[8] = 0
		n = 9
	}
	size := int64(n-4) + enc.BodyLen()
	if size > 1<<31-1 {
		return fmt.Errorf("encoded %s response of %d bytes is too large", kmsg.NameForKey(enc.Key()), size)
	}
	binary.BigEndian.PutUint32(hdr[:4], uint32(size))
	if _, err := bw.Write(hdr[:n]); err != nil {
		return err
	}
	for _, p := range enc.Parts {
		if p.File == nil {
			if _, err := bw.Write(p.Bytes); err != nil {
				return err
			}
			continue
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		handled, err := sendFileRegion(c.nc, p.File, p.Offset, p.Length)
		if err != nil {
			return fmt.Errorf("sending file region: %w", err)
		}
		if !handled {
			n, err := io.Copy(bw, io.NewSectionReader(p.File, p.Offset, p.Length))
			if err == nil && n != p.Length {
				err = fmt.Errorf("file region ends early (%d of %d bytes)", n, p.Length)
			}
			if err != nil {
				return fmt.Errorf("copying file region: %w", err)
			}
		}
	}
	return nil
}
