package controller

import (
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// hclogAdapter sends hashicorp/raft's hclog output to zerolog. Raft's
// key/value arguments become fields; its logger name becomes "logger".
type hclogAdapter struct {
	zl      zerolog.Logger
	name    string
	implied []any
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHclogAdapter(zl zerolog.Logger) *hclogAdapter { return &hclogAdapter{zl: zl} }

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	var ev *zerolog.Event
	switch level {
	case hclog.Trace:
		ev = a.zl.Trace()
	case hclog.Debug:
		ev = a.zl.Debug()
	case hclog.Warn:
		ev = a.zl.Warn()
	case hclog.Error:
		ev = a.zl.Error()
	case hclog.Off:
		return
	default:
		ev = a.zl.Info()
	}
	if ev == nil {
		return
	}
	if a.name != "" {
		ev = ev.Str("logger", a.name)
	}
	addFields(ev, a.implied)
	addFields(ev, args)
	ev.Msg(msg)
}

func addFields(ev *zerolog.Event, args []any) {
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			ev.Interface("EXTRA_VALUE_AT_END", args[i])
			return
		}
		key := fmt.Sprint(args[i])
		switch v := args[i+1].(type) {
		case error:
			ev.AnErr(key, v)
		case fmt.Stringer:
			ev.Stringer(key, v)
		default:
			ev.Interface(key, v)
		}
	}
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(l zerolog.Level) bool {
	return a.zl.GetLevel() <= l && zerolog.GlobalLevel() <= l
}

func (a *hclogAdapter) IsTrace() bool { return a.enabled(zerolog.TraceLevel) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(zerolog.DebugLevel) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(zerolog.InfoLevel) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(zerolog.WarnLevel) }
func (a *hclogAdapter) IsError() bool { return a.enabled(zerolog.ErrorLevel) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.implied }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.implied = append(append([]any(nil), a.implied...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

// SetLevel is ignored: the zerolog logger's level decides.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

func (a *hclogAdapter) GetLevel() hclog.Level {
	switch a.zl.GetLevel() {
	case zerolog.TraceLevel:
		return hclog.Trace
	case zerolog.DebugLevel:
		return hclog.Debug
	case zerolog.InfoLevel:
		return hclog.Info
	case zerolog.WarnLevel:
		return hclog.Warn
	case zerolog.ErrorLevel, zerolog.FatalLevel, zerolog.PanicLevel:
		return hclog.Error
	case zerolog.Disabled:
		return hclog.Off
	}
	return hclog.Info
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return stdWriter{a}
}

// stdWriter turns lines written by the standard library logger into Info
// lines (raft's network transport uses one).
type stdWriter struct{ a *hclogAdapter }

func (w stdWriter) Write(p []byte) (int, error) {
	w.a.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}
