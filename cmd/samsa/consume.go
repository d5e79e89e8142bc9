package main

// samsa consume: read a topic without a consumer group and print records.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/client"
)

const defaultFormat = "%v"

type consumeFlags struct {
	cluster   clusterFlags
	out       outputFlag
	from      string
	partition int32
	follow    bool
	count     int
	format    string
}

func newConsumeCmd() *cobra.Command {
	f := &consumeFlags{}
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print a topic's records",
		Long: `Print a topic's records, without a consumer group (nothing is committed).

Without --follow, the command stops at the end offsets the partitions had
when it started, so an empty topic exits at once. With --follow it waits for
new records until interrupted (SIGINT ends it cleanly) or --count is reached.

--format prints each record through a template followed by a newline:
  %k key   %v value   %o offset   %p partition   %t timestamp (ms)
  %T topic   %h headers (k=v,k=v)   %% a percent sign
  \n newline   \t tab   \\ backslash
A null key or value prints as nothing.

-o json prints one JSON object per line instead, with topic, partition,
offset, timestamp (ms), key, value and headers. Keys and values (and header
values) that are valid UTF-8 appear as strings; others are null, with the
bytes in key_base64 / value_base64 instead.`,
		Example: `  samsa consume orders --from beginning --format '%p/%o %k=%v'
  samsa consume orders --from end --follow -o json`,
		Args: exactArgs("TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsume(cmd, f, args[0])
		},
	}
	fs := cmd.Flags()
	f.cluster.register(fs, "how long to wait to connect and list offsets (reading itself has no limit)")
	f.out.register(fs)
	fs.StringVar(&f.from, "from", "beginning", "where to start in each partition: beginning, end, or an offset")
	fs.Int32Var(&f.partition, "partition", -1, "partition to read (-1: all)")
	fs.BoolVarP(&f.follow, "follow", "f", false, "keep waiting for new records")
	fs.IntVarP(&f.count, "count", "n", 0, "stop after this many records (0: no limit)")
	fs.StringVar(&f.format, "format", defaultFormat, "template for each record (see above); not with -o json")
	return cmd
}

// recordPrinter writes one record.
type recordPrinter func(w *bufio.Writer, r client.Record) error

func (f *consumeFlags) printer(formatSet bool) (recordPrinter, error) {
	if err := f.out.validate(); err != nil {
		return nil, err
	}
	if f.out.json() {
		if formatSet {
			return nil, fmt.Errorf("--format and -o json do not go together")
		}
		return printJSONRecord, nil
	}
	tmpl, err := parseFormat(f.format)
	if err != nil {
		return nil, fmt.Errorf("--format: %w", err)
	}
	return func(w *bufio.Writer, r client.Record) error {
		tmpl.write(w, r)
		return w.WriteByte('\n')
	}, nil
}

func runConsume(cmd *cobra.Command, f *consumeFlags, topic string) error {
	start, err := parseFrom(f.from)
	if err != nil {
		return err
	}
	printRec, err := f.printer(cmd.Flags().Changed("format"))
	if err != nil {
		return err
	}
	if f.count < 0 || f.partition < -1 {
		return fmt.Errorf("--count must be >= 0 and --partition >= -1")
	}
	ctx, stop := signalContext(cmd.Context())
	defer stop()

	setupCtx, cancel := context.WithTimeout(ctx, f.cluster.timeout)
	defer cancel()
	cl, err := f.cluster.connect(setupCtx)
	if err != nil {
		return err
	}
	defer cl.Close()

	plan, err := planConsume(setupCtx, cl.Admin(), topic, f.partition, start, f.follow)
	if err != nil || plan.done() {
		return err
	}
	cons, err := cl.NewConsumer(topic, plan.options(start)...)
	if err != nil {
		return err
	}
	defer cons.Close()

	w := bufio.NewWriter(cmd.OutOrStdout())
	err = consumeLoop(ctx, cons, plan, f.count, w, printRec, cmd.ErrOrStderr())
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // SIGINT: a clean end
	}
	return err
}

// consumePlan is which partitions to read and, without --follow, the end
// offset each must reach.
type consumePlan struct {
	follow     bool
	partitions []int32         // explicit partitions, or nil for all (follow only)
	targets    map[int32]int64 // without follow: partitions still to finish -> end offset
}

func (p *consumePlan) done() bool { return !p.follow && len(p.targets) == 0 }

func (p *consumePlan) options(start client.Start) []client.ConsumerOption {
	if p.partitions == nil {
		return []client.ConsumerOption{client.ConsumeFrom(start)}
	}
	opts := make([]client.ConsumerOption, 0, len(p.partitions))
	for _, part := range p.partitions {
		opts = append(opts, client.ConsumePartition(part, start))
	}
	return opts
}

// planConsume lists the topic's end offsets (and, to read from the
// beginning without follow, its start offsets) and builds the plan.
func planConsume(ctx context.Context, adm *client.Admin, topic string, partition int32, start client.Start, follow bool) (*consumePlan, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	var starts map[int32]int64
	if !follow && start.IsBeginning() {
		if starts, err = adm.ListStartOffsets(ctx, topic); err != nil {
			return nil, err
		}
	}
	return buildPlan(topic, ends, starts, partition, start, follow)
}

// buildPlan fails on a partition the topic does not have and, without
// follow, keeps only partitions with something to read between start and
// the end offset listed now.
func buildPlan(topic string, ends, starts map[int32]int64, partition int32, start client.Start, follow bool) (*consumePlan, error) {
	if partition >= 0 {
		if _, ok := ends[partition]; !ok {
			return nil, fmt.Errorf("topic %q has no partition %d (it has %d)", topic, partition, len(ends))
		}
		ends = map[int32]int64{partition: ends[partition]}
	}
	plan := &consumePlan{follow: follow}
	if follow {
		if partition >= 0 {
			plan.partitions = []int32{partition}
		}
		return plan, nil
	}
	plan.targets = make(map[int32]int64)
	for part, end := range ends {
		if !start.IsEnd() && firstOffset(start, starts, part) < end {
			plan.targets[part] = end
		}
	}
	plan.partitions = slices.Sorted(maps.Keys(plan.targets))
	return plan, nil
}

// firstOffset is where reading part from start begins, as far as is known
// before fetching.
func firstOffset(start client.Start, starts map[int32]int64, part int32) int64 {
	if off, ok := start.Offset(); ok {
		return off
	}
	return starts[part]
}

// consumeLoop polls and prints until the plan's targets are reached, count
// records are printed, or ctx is done.
func consumeLoop(ctx context.Context, cons *client.Consumer, plan *consumePlan, count int, w *bufio.Writer, printRec recordPrinter, stderr io.Writer) error {
	printed := 0
	for !plan.done() {
		recs, err := cons.Poll(ctx)
		if err != nil && len(recs) == 0 {
			if ctx.Err() != nil || errors.Is(err, client.ErrClosed) {
				return err
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "samsa: warning: %v\n", err)
		}
		for _, r := range recs {
			if end, ok := plan.targets[r.Partition]; !plan.follow && (!ok || r.Offset >= end) {
				continue // past the end observed at start
			}
			if err := printRec(w, r); err != nil {
				return err
			}
			if printed++; count > 0 && printed >= count {
				return nil
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if !plan.follow {
			for part, pos := range cons.Positions() {
				if end, ok := plan.targets[part]; ok && pos >= end {
					delete(plan.targets, part)
				}
			}
		}
	}
	return nil
}

// parseFrom reads --from: beginning, end, or a non-negative offset.
func parseFrom(s string) (client.Start, error) {
	switch s {
	case "beginning":
		return client.StartBeginning, nil
	case "end":
		return client.StartEnd, nil
	}
	off, err := strconv.ParseInt(s, 10, 64)
	if err != nil || off < 0 {
		return client.Start{}, fmt.Errorf("--from: %q is not beginning, end, or an offset >= 0", s)
	}
	return client.StartAt(off), nil
}

// recordFormat is a parsed --format template: literal text and verbs.
type recordFormat []formatPart

type formatPart struct {
	lit  string
	verb byte // 0 for a literal
}

// parseFormat parses a --format template (verbs and escapes listed in the
// consume help). An unknown verb or escape is an error, so a typo does not
// print silently wrong output.
func parseFormat(s string) (recordFormat, error) {
	var (
		out recordFormat
		lit strings.Builder
	)
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, formatPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' && c != '\\' {
			lit.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("template ends with a lone %c", c)
		}
		i++
		next := s[i]
		switch {
		case c == '%' && next == '%':
			lit.WriteByte('%')
		case c == '%' && strings.IndexByte("kvoptTh", next) >= 0:
			flush()
			out = append(out, formatPart{verb: next})
		case c == '\\' && next == 'n':
			lit.WriteByte('\n')
		case c == '\\' && next == 't':
			lit.WriteByte('\t')
		case c == '\\' && next == '\\':
			lit.WriteByte('\\')
		default:
			return nil, fmt.Errorf("unknown %c%c in %q (verbs: %%k %%v %%o %%p %%t %%T %%h %%%%; escapes: \\n \\t \\\\)", c, next, s)
		}
	}
	flush()
	return out, nil
}

func (f recordFormat) write(w *bufio.Writer, r client.Record) {
	for _, p := range f {
		switch p.verb {
		case 0:
			w.WriteString(p.lit)
		case 'k':
			w.Write(r.Key)
		case 'v':
			w.Write(r.Value)
		case 'o':
			w.WriteString(strconv.FormatInt(r.Offset, 10))
		case 'p':
			w.WriteString(strconv.FormatInt(int64(r.Partition), 10))
		case 't':
			w.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		case 'T':
			w.WriteString(r.Topic)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString(h.Key)
				w.WriteByte('=')
				w.Write(h.Value)
			}
		}
	}
}

// jsonRecord is the -o json form of a record. Bytes that are valid UTF-8
// go in the plain field; others go base64-encoded in the _base64 field and
// leave the plain one null, so a null key stays distinguishable.
type jsonRecord struct {
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	Timestamp   int64        `json:"timestamp"`
	Key         *string      `json:"key"`
	KeyBase64   string       `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 string       `json:"value_base64,omitempty"`
	Headers     []jsonHeader `json:"headers"`
}

type jsonHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 string  `json:"value_base64,omitempty"`
}

// jsonBytes splits b into its string and base64 forms; see jsonRecord.
func jsonBytes(b []byte) (*string, string) {
	switch {
	case b == nil:
		return nil, ""
	case utf8.Valid(b):
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func toJSONRecord(r client.Record) jsonRecord {
	j := jsonRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UnixMilli(),
		Headers:   make([]jsonHeader, 0, len(r.Headers)),
	}
	j.Key, j.KeyBase64 = jsonBytes(r.Key)
	j.Value, j.ValueBase64 = jsonBytes(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueBase64 = jsonBytes(h.Value)
		j.Headers = append(j.Headers, jh)
	}
	return j
}

func printJSONRecord(w *bufio.Writer, r client.Record) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(toJSONRecord(r)) // Encode ends the line
}
