package main

// samsa produce: one record per stdin line.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/client"
)

type produceFlags struct {
	cluster     clusterFlags
	keySep      string
	partition   int32
	headers     []string
	acks        string
	compression string
}

func newProduceCmd() *cobra.Command {
	f := &produceFlags{}
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write stdin to a topic, one record per line",
		Long: `Write stdin to a topic, one record per line (the newline is not part of the
record; an empty line is a record with an empty value).

With --key-separator, each line is split on the first separator into key and
value; a line without the separator gets a null key. A count is printed to
stderr at the end; if any record failed, the command exits non-zero.`,
		Example: `  printf 'user1:hello\nuser2:world\n' | samsa produce greetings --key-separator :
  samsa produce logs --header source=cli --compression zstd < app.log`,
		Args: exactArgs("TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, f, args[0])
		},
	}
	fs := cmd.Flags()
	f.cluster.register(fs, "how long to wait to connect, and for each record to be written")
	fs.StringVar(&f.keySep, "key-separator", "", "split each line into key and value on the first occurrence of this string")
	fs.Int32Var(&f.partition, "partition", client.AnyPartition, "partition to write to (-1: chosen by key hash, or spread when there is no key)")
	fs.StringArrayVar(&f.headers, "header", nil, "header key=value added to every record (repeatable)")
	fs.StringVar(&f.acks, "acks", "all", "acks the cluster must collect before answering: 0, 1 or all")
	fs.StringVar(&f.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	return cmd
}

// producerOptions turns the flags into SDK options, failing on bad values
// before anything connects.
func (f *produceFlags) producerOptions() ([]client.ProducerOption, error) {
	acks, err := client.ParseAcks(f.acks)
	if err != nil {
		return nil, fmt.Errorf("--acks: %w", err)
	}
	comp, err := client.ParseCompression(f.compression)
	if err != nil {
		return nil, fmt.Errorf("--compression: %w", err)
	}
	if f.partition < client.AnyPartition {
		return nil, fmt.Errorf("--partition must be -1 or a partition number, not %d", f.partition)
	}
	return []client.ProducerOption{
		client.WithAcks(acks),
		client.WithCompression(comp),
		client.WithDeliveryTimeout(f.cluster.timeout),
	}, nil
}

func runProduce(cmd *cobra.Command, f *produceFlags, topic string) error {
	opts, err := f.producerOptions()
	if err != nil {
		return err
	}
	headers, err := parseHeaders(f.headers)
	if err != nil {
		return err
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
	if err := checkPartition(setupCtx, cl.Admin(), topic, f.partition); err != nil {
		return err
	}

	var ok atomic.Int64
	opts = append(opts, client.WithDeliveryHandler(func(_ client.Record, err error) {
		if err == nil {
			ok.Add(1)
		}
	}))
	p, err := cl.NewProducer(opts...)
	if err != nil {
		return err
	}
	defer p.Close()

	sent, readErr := produceLines(ctx, p, cmd.InOrStdin(), topic, f.partition, []byte(f.keySep), headers)
	// Wait for what was sent even after SIGINT: records already handed
	// over may be written, and the count must say so. A second SIGINT
	// kills the process.
	flushErr := p.Flush(context.WithoutCancel(ctx))
	summary := produceSummary(ok.Load(), sent, topic)
	switch {
	case flushErr != nil:
		return fmt.Errorf("%s: %w", summary, flushErr)
	case readErr != nil && !errors.Is(readErr, context.Canceled):
		return fmt.Errorf("%s; reading stdin: %w", summary, readErr)
	case ctx.Err() != nil:
		return fmt.Errorf("%s; interrupted", summary)
	}
	_, err = fmt.Fprintln(cmd.ErrOrStderr(), summary)
	return err
}

// produceSummary is the line printed at the end: how many of the records
// read were written.
func produceSummary(written, sent int64, topic string) string {
	noun := "records"
	if sent == 1 {
		noun = "record"
	}
	if written == sent {
		return fmt.Sprintf("produced %d %s to %q", sent, noun, topic)
	}
	return fmt.Sprintf("produced %d of %d %s to %q", written, sent, noun, topic)
}

// checkPartition fails early, with a clear message, when --partition names
// a partition the topic does not have.
func checkPartition(ctx context.Context, adm *client.Admin, topic string, partition int32) error {
	if partition < 0 {
		return nil
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return err
	}
	if _, ok := ends[partition]; !ok {
		return fmt.Errorf("topic %q has no partition %d (it has %d)", topic, partition, len(ends))
	}
	return nil
}

// produceLines hands one record per line of r to p until r ends or ctx is
// done, and returns how many it handed over.
//
// Lines are read on a goroutine so that SIGINT ends the command even while a
// read from a terminal blocks; the goroutine ends at EOF, on a read error,
// or once the loop here has returned and it has a line to deliver. A read
// that never returns keeps it until the process exits — stdin offers no
// way to cancel a read.
func produceLines(ctx context.Context, p *client.Producer, r io.Reader, topic string, partition int32, sep []byte, headers []client.Header) (int64, error) {
	type line struct {
		b   []byte
		err error
	}
	lines := make(chan line, 64)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(lines)
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			b, err := br.ReadBytes('\n')
			if len(b) > 0 || (err != nil && err != io.EOF) {
				select {
				case lines <- line{b, err}:
				case <-done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()

	var sent int64
	for {
		var l line
		var open bool
		select {
		case <-ctx.Done():
			return sent, ctx.Err()
		case l, open = <-lines:
		}
		if !open {
			return sent, nil
		}
		if len(l.b) > 0 && (l.err == nil || l.err == io.EOF) {
			key, value := splitKey(trimNewline(l.b), sep)
			rec := client.Record{Topic: topic, Partition: partition, Key: key, Value: value, Headers: headers}
			if err := p.Produce(ctx, rec); err != nil {
				return sent, err
			}
			sent++
		}
		if l.err != nil && l.err != io.EOF {
			return sent, l.err
		}
	}
}

// trimNewline drops one trailing "\n" or "\r\n".
func trimNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// splitKey splits line on the first sep into key and value. With no sep, or
// a line without it, the key is nil (a null key) and the value the whole
// line. The value is never nil: an empty line is an empty value.
func splitKey(line, sep []byte) (key, value []byte) {
	if line == nil {
		line = []byte{}
	}
	if len(sep) == 0 {
		return nil, line
	}
	k, v, ok := bytes.Cut(line, sep)
	if !ok {
		return nil, line
	}
	return k, v
}
