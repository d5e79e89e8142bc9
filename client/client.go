package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The package's sentinel errors. Errors from the cluster are not listed here:
// they keep their franz-go kerr value (kerr.TopicAlreadyExists, …).
var (
	// ErrClosed is returned by any call on a closed Client, Producer,
	// Consumer or GroupConsumer, and for records a Producer's Close could
	// not deliver.
	ErrClosed = errors.New("client: closed")

	// ErrInvalidArgument marks a call rejected before anything was sent:
	// an empty topic name, a bad option value, a partition out of range.
	ErrInvalidArgument = errors.New("client: invalid argument")
)

// invalidf returns an error wrapping ErrInvalidArgument.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// Client holds the connection settings shared by the Admin, Producers and
// Consumers built from it.
//
// A Client owns one kgo client (for Admin) and every Producer and Consumer
// it creates: Close closes them all.
type Client struct {
	cfg config
	kcl *kgo.Client
	adm *Admin

	mu struct {
		sync.Mutex
		closed   bool
		children map[closer]struct{}
	}
}

// closer is a Producer, Consumer or GroupConsumer owned by a Client.
type closer interface{ closeFromParent() }

// New builds a Client and checks that at least one bootstrap server answers
// a metadata request before ctx is done, so a wrong address fails here
// rather than on the first real call.
func New(ctx context.Context, opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	kcl, err := kgo.NewClient(append(cfg.baseKgoOpts(), cfg.kgoOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if err := kcl.Ping(ctx); err != nil {
		kcl.Close()
		return nil, fmt.Errorf("client: connect to %s: %w", strings.Join(cfg.bootstrap, ","), err)
	}
	c := &Client{cfg: cfg, kcl: kcl}
	c.adm = &Admin{kcl: kcl, adm: kadm.NewClient(kcl)}
	c.mu.children = make(map[closer]struct{})
	return c, nil
}

// Bootstrap returns the bootstrap servers the Client was built with.
func (c *Client) Bootstrap() []string {
	return append([]string(nil), c.cfg.bootstrap...)
}

// Admin returns the topic administration API. It shares the Client's
// connection and needs no Close of its own.
func (c *Client) Admin() *Admin { return c.adm }

// Close closes every Producer, Consumer and GroupConsumer built from c
// that is still open, then c's own connections. A Producer is closed as
// Producer.Close does: its buffered records are sent, waiting at most its
// close timeout, and those that fail are reported to their callbacks and
// logged (call Producer.Close yourself to get them as an error). A
// GroupConsumer's running Consume is stopped and the member leaves its
// group. Close is idempotent.
func (c *Client) Close() {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	children := c.mu.children
	c.mu.children = nil
	c.mu.Unlock()

	for ch := range children {
		ch.closeFromParent()
	}
	c.kcl.Close()
}

// adopt registers ch to be closed with c. It fails if c is closed.
func (c *Client) adopt(ch closer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return ErrClosed
	}
	c.mu.children[ch] = struct{}{}
	return nil
}

// release forgets ch after it closed itself.
func (c *Client) release(ch closer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mu.children, ch)
}

// newKgo builds a kgo client with c's shared options, then extra, then the
// caller's raw kgo options.
func (c *Client) newKgo(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append(c.cfg.baseKgoOpts(), extra...)
	opts = append(opts, c.cfg.kgoOpts...)
	return kgo.NewClient(opts...)
}
