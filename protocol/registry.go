package protocol

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is one decoded request with its header and where it came from.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
	// Body is the decoded request; its version is already set.
	Body kmsg.Request
	// RemoteAddr is the client's address; Listener is the server's name.
	RemoteAddr string
	Listener   string
}

// Handler serves one API key. It is called on the connection's dispatcher
// goroutine in the order requests arrive and must not block: work that waits
// (on disk, on Raft, on a timer) belongs in Later.
type Handler func(ctx context.Context, req *Request) Reply

// Reply is what a Handler returns: a ready response, deferred work, no
// response at all, or a reason to close the connection.
type Reply struct {
	resp  kmsg.Response
	later func(ctx context.Context) (kmsg.Response, error)
	none  bool
	err   error
}

// Respond answers with a ready response. The server sets its version.
func Respond(resp kmsg.Response) Reply { return Reply{resp: resp} }

// Later runs fn on its own goroutine; its response is still written in
// request order. ctx is cancelled when the connection dies or the server is
// stopped without grace. A non-nil error closes the connection.
func Later(fn func(ctx context.Context) (kmsg.Response, error)) Reply { return Reply{later: fn} }

// NoResponse sends nothing back (Produce with acks=0).
func NoResponse() Reply { return Reply{none: true} }

// Fail logs err and closes the connection after earlier responses are sent.
func Fail(err error) Reply { return Reply{err: err} }

type registration struct {
	minVersion, maxVersion int16
	handler                Handler
}

// Registry is the table of API keys a listener serves. It is filled before
// the server starts and read-only afterwards.
type Registry struct {
	handlers map[int16]registration
}

const apiVersionsKey = 18

// apiVersionsMax is the newest ApiVersions version served (Kafka 4.x).
const apiVersionsMax = 4

// NewRegistry returns a registry that already serves ApiVersions (0-4).
func NewRegistry() *Registry {
	r := &Registry{handlers: make(map[int16]registration)}
	r.Register(apiVersionsKey, 0, apiVersionsMax, r.handleAPIVersions)
	return r
}

// Register adds the handler for key over [minVersion, maxVersion]. Invalid
// registrations are programming errors and panic at startup.
func (r *Registry) Register(key, minVersion, maxVersion int16, h Handler) {
	proto := kmsg.RequestForKey(key)
	switch {
	case proto == nil:
		panic(fmt.Sprintf("protocol: register unknown API key %d", key))
	case minVersion < 0 || minVersion > maxVersion || maxVersion > proto.MaxVersion():
		panic(fmt.Sprintf("protocol: register %s versions %d-%d (kmsg knows up to %d)",
			kmsg.NameForKey(key), minVersion, maxVersion, proto.MaxVersion()))
	case h == nil:
		panic(fmt.Sprintf("protocol: register %s with a nil handler", kmsg.NameForKey(key)))
	}
	if _, dup := r.handlers[key]; dup {
		panic(fmt.Sprintf("protocol: %s registered twice", kmsg.NameForKey(key)))
	}
	r.handlers[key] = registration{minVersion: minVersion, maxVersion: maxVersion, handler: h}
}

func (r *Registry) supports(key, version int16) bool {
	reg, ok := r.handlers[key]
	return ok && version >= reg.minVersion && version <= reg.maxVersion
}

func (r *Registry) lookup(key int16) Handler { return r.handlers[key].handler }

// Versions lists every registered key with its version range, sorted by key:
// exactly what ApiVersions advertises.
func (r *Registry) Versions() []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(r.handlers))
	for key, reg := range r.handlers {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = key, reg.minVersion, reg.maxVersion
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ApiKey < out[j].ApiKey })
	return out
}
