package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client is Samsa's own minimal Kafka-protocol client for node-to-node
// calls (a broker to the controller listener): one connection to one
// address, ApiVersions negotiated once per connection, one request at a
// time. It has no background goroutines and never sends a request it was
// not asked to send, which is what a listener that serves only a few keys
// needs. A failed connection is dropped and redialled on the next request.
type Client struct {
	addr     string
	clientID string
	maxResp  int32

	mu       sync.Mutex // serialises requests; guards the fields below
	conn     net.Conn
	br       *bufio.Reader
	versions map[int16][2]int16
	corr     int32
}

// NewClient returns a client for addr; it dials lazily.
func NewClient(addr, clientID string) *Client {
	return &Client{addr: addr, clientID: clientID, maxResp: 100 << 20}
}

// Addr is the address the client talks to.
func (c *Client) Addr() string { return c.addr }

// Close drops the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
	return nil
}

func (c *Client) dropLocked() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br, c.versions = nil, nil, nil
	}
}

// ErrVersionUnsupported is returned when the server serves no version of a
// request that this client can encode.
var ErrVersionUnsupported = errors.New("protocol: server does not serve a usable version")

// Request sends req at the highest version both sides serve and returns the
// decoded response. ctx bounds the whole exchange.
func (c *Client) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connectLocked(ctx); err != nil {
		return nil, err
	}
	vr, ok := c.versions[req.Key()]
	if !ok || vr[0] > req.MaxVersion() {
		return nil, fmt.Errorf("%w: %s at %s", ErrVersionUnsupported, kmsg.NameForKey(req.Key()), c.addr)
	}
	req.SetVersion(min(vr[1], req.MaxVersion()))
	resp, err := c.roundTripLocked(ctx, req)
	if err != nil {
		c.dropLocked()
		return nil, err
	}
	return resp, nil
}

func (c *Client) connectLocked(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("dialing %s: %w", c.addr, err)
	}
	c.conn, c.br = conn, bufio.NewReader(conn)
	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "samsa", "1"
	av.SetVersion(apiVersionsMax)
	resp, err := c.roundTripLocked(ctx, av)
	if err != nil {
		c.dropLocked()
		return fmt.Errorf("ApiVersions with %s: %w", c.addr, err)
	}
	r := resp.(*kmsg.ApiVersionsResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		c.dropLocked()
		return fmt.Errorf("ApiVersions with %s: %w", c.addr, err)
	}
	c.versions = make(map[int16][2]int16, len(r.ApiKeys))
	for _, k := range r.ApiKeys {
		c.versions[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return nil
}

func (c *Client) roundTripLocked(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	// The callback may run after this call returned and dropLocked
	// cleared c.conn: it must use this call's connection, not the field.
	conn := c.conn
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	c.corr++
	frame := AppendFrameLength(nil)
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.Key()))
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.GetVersion()))
	frame = binary.BigEndian.AppendUint32(frame, uint32(c.corr))
	frame = binary.BigEndian.AppendUint16(frame, uint16(len(c.clientID)))
	frame = append(frame, c.clientID...)
	if req.IsFlexible() {
		frame = append(frame, 0) // no header tags
	}
	frame = req.AppendTo(frame)
	FinishFrame(frame, 0)
	if _, err := c.conn.Write(frame); err != nil {
		return nil, fmt.Errorf("sending %s to %s: %w", kmsg.NameForKey(req.Key()), c.addr, err)
	}
	// A response holds at least its correlation id.
	body, err := readFrame(c.br, 4, c.maxResp)
	if err != nil {
		return nil, fmt.Errorf("reading %s answer from %s: %w", kmsg.NameForKey(req.Key()), c.addr, err)
	}
	return decodeResponse(req, body, c.corr)
}

func decodeResponse(req kmsg.Request, body []byte, corr int32) (kmsg.Response, error) {
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return nil, fmt.Errorf("%w: correlation id %d, expected %d", ErrMalformedFrame, got, corr)
	}
	r := reader{b: body, off: 4}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		r.skipTags()
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: response header: %v", ErrMalformedFrame, r.err)
	}
	if err := resp.ReadFrom(body[r.off:]); err != nil {
		return nil, fmt.Errorf("%w: %s response: %v", ErrMalformedFrame, kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}
