package client

import (
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BootstrapEnv is the environment variable that gives the default bootstrap
// servers, as a comma-separated list of host:port.
const BootstrapEnv = "SAMSA_BOOTSTRAP"

// DefaultBootstrapAddr is the bootstrap server used when neither
// WithBootstrap nor SAMSA_BOOTSTRAP gives one: a local dev node.
const DefaultBootstrapAddr = "127.0.0.1:9092"

// DefaultClientID is the client id sent to the cluster unless WithClientID
// replaces it.
const DefaultClientID = "samsa-go"

// Option configures a Client. Options apply in order; a later option
// overrides an earlier one.
type Option func(*config)

type config struct {
	bootstrap []string
	clientID  string
	logger    zerolog.Logger
	kgoOpts   []kgo.Opt
}

func defaultConfig() config {
	return config{
		bootstrap: DefaultBootstrap(),
		clientID:  DefaultClientID,
		logger:    zerolog.Nop(),
	}
}

// WithBootstrap sets the bootstrap servers (host:port). Each argument may
// itself be a comma-separated list, so a flag value can be passed as is.
// Without this option the servers come from SAMSA_BOOTSTRAP, else
// 127.0.0.1:9092.
func WithBootstrap(addrs ...string) Option {
	return func(c *config) {
		if parsed := SplitAddrs(strings.Join(addrs, ",")); len(parsed) > 0 {
			c.bootstrap = parsed
		}
	}
}

// WithClientID sets the client id the cluster sees in its logs and quotas.
func WithClientID(id string) Option {
	return func(c *config) { c.clientID = id }
}

// WithLogger routes the kgo clients' logs to l. By default nothing is logged.
func WithLogger(l zerolog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithKgoOptions appends raw franz-go options to every kgo client the Client
// builds (admin, producers, consumers). They apply after the SDK's own
// options, so they win; use them for TLS, SASL, timeouts and the like.
func WithKgoOptions(opts ...kgo.Opt) Option {
	return func(c *config) { c.kgoOpts = append(c.kgoOpts, opts...) }
}

// DefaultBootstrap returns the bootstrap servers from SAMSA_BOOTSTRAP, or
// 127.0.0.1:9092 when it is unset or empty.
func DefaultBootstrap() []string {
	if addrs := SplitAddrs(os.Getenv(BootstrapEnv)); len(addrs) > 0 {
		return addrs
	}
	return []string{DefaultBootstrapAddr}
}

// SplitAddrs splits a comma-separated list of host:port, trimming spaces and
// dropping empty entries.
func SplitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// baseKgoOpts are the options shared by every kgo client built from c; the
// caller's raw kgo options go last so they override.
func (c *config) baseKgoOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.bootstrap...),
		kgo.ClientID(c.clientID),
	}
	if c.logger.GetLevel() != zerolog.Disabled {
		opts = append(opts, kgo.WithLogger(kgoLogger{c.logger}))
	}
	return opts
}

// kgoLogger adapts a zerolog.Logger to kgo.Logger.
type kgoLogger struct{ l zerolog.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	switch lvl := k.l.GetLevel(); {
	case lvl == zerolog.Disabled:
		return kgo.LogLevelNone
	case lvl <= zerolog.DebugLevel:
		return kgo.LogLevelDebug
	case lvl == zerolog.InfoLevel:
		return kgo.LogLevelInfo
	case lvl == zerolog.WarnLevel:
		return kgo.LogLevelWarn
	default:
		return kgo.LogLevelError
	}
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var ev *zerolog.Event
	switch level {
	case kgo.LogLevelError:
		ev = k.l.Error()
	case kgo.LogLevelWarn:
		ev = k.l.Warn()
	case kgo.LogLevelInfo:
		ev = k.l.Info()
	case kgo.LogLevelDebug:
		ev = k.l.Debug()
	default:
		return
	}
	for i := 0; i+1 < len(keyvals); i += 2 {
		key, ok := keyvals[i].(string)
		if !ok {
			continue
		}
		ev = ev.Interface(key, keyvals[i+1])
	}
	ev.Msg(msg)
}
