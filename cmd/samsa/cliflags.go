package main

// Flags and helpers shared by the client-side commands (topic, produce,
// consume): where the cluster is, how to print, and the k=v parsing.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/samsa-io/samsa/client"
)

// Output formats for -o.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// clusterFlags say how to reach the cluster.
type clusterFlags struct {
	bootstrap string
	timeout   time.Duration
}

// register adds --bootstrap and --timeout; timeoutHelp says what the
// timeout bounds for this command.
func (f *clusterFlags) register(fs *pflag.FlagSet, timeoutHelp string) {
	fs.StringVar(&f.bootstrap, "bootstrap", strings.Join(client.DefaultBootstrap(), ","),
		"comma-separated host:port of bootstrap servers; $"+client.BootstrapEnv+" sets the default")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, timeoutHelp)
}

// connect builds a client and checks that the cluster answers before ctx is
// done.
func (f *clusterFlags) connect(ctx context.Context) (*client.Client, error) {
	if len(client.SplitAddrs(f.bootstrap)) == 0 {
		return nil, fmt.Errorf("--bootstrap: no address given")
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be positive, not %s", f.timeout)
	}
	return client.New(ctx, client.WithBootstrap(f.bootstrap), client.WithClientID("samsa-cli"))
}

// outputFlag is -o/--output.
type outputFlag struct{ format string }

func (f *outputFlag) register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.format, "output", "o", outputTable, "output format: table or json")
}

func (f *outputFlag) validate() error {
	switch f.format {
	case outputTable, outputJSON:
		return nil
	}
	return fmt.Errorf("-o/--output: %q is neither table nor json", f.format)
}

func (f *outputFlag) json() bool { return f.format == outputJSON }

// signalContext returns a context canceled by SIGINT or SIGTERM. After the
// first signal the handler is removed, so a second one kills the process.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// parseKV splits "k=v" on the first '='. The key must not be empty; the
// value may be.
func parseKV(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("%q is not of the form key=value", s)
	}
	if key == "" {
		return "", "", fmt.Errorf("%q has an empty key", s)
	}
	return key, value, nil
}

// parseKVMap parses repeated k=v flags into a map; a key given twice is an
// error, since only one value could win.
func parseKVMap(flag string, list []string) (map[string]string, error) {
	m := make(map[string]string, len(list))
	for _, s := range list {
		k, v, err := parseKV(s)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("--%s: %q given twice", flag, k)
		}
		m[k] = v
	}
	return m, nil
}

// parseHeaders parses repeated --header k=v flags, keeping order and
// repeats (Kafka headers may repeat a key).
func parseHeaders(list []string) ([]client.Header, error) {
	var hs []client.Header
	for _, s := range list {
		k, v, err := parseKV(s)
		if err != nil {
			return nil, fmt.Errorf("--header: %w", err)
		}
		hs = append(hs, client.Header{Key: k, Value: []byte(v)})
	}
	return hs, nil
}

// newTable returns a writer that aligns tab-separated columns; Flush it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// int32List renders partition and broker lists as "1,2,3".
func int32List(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ",")
}

// exactArgs returns a cobra Args check for exactly the named positional args,
// with a message naming what is missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return fmt.Errorf("%s: want %s, got %d argument(s)", cmd.CommandPath(), strings.Join(names, " "), len(args))
		}
		return nil
	}
}
