package replication

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

var updateScripts = flag.Bool("update", false, "rewrite the expected output in replication/testdata/*.txt")

// TestScripts runs the golden-file scripts in testdata/ against LeaderCore:
// Kafka's ISR and high-watermark rules (replication design docs, KIP-497
// maximal ISR, KIP-966 min-ISR high watermark). Each block is one or more
// commands, a "----" line, and the expected output: one line per decision a
// command made, then the state. Blank lines end a block's output; lines
// starting with # are comments. -update rewrites the expectations.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) { runScript(t, file) })
	}
}

type scriptBlock struct {
	prelude  []string // comments and blank lines before the commands
	cmds     []string
	expected []string
	line     int
}

func parseScript(t *testing.T, file string) (blocks []scriptBlock, trailer []string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var b scriptBlock
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case l == "----":
			if len(b.cmds) == 0 {
				t.Fatalf("%s:%d: ---- without commands", file, i+1)
			}
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
				i++
				b.expected = append(b.expected, lines[i])
			}
			blocks = append(blocks, b)
			b = scriptBlock{}
		case len(b.cmds) == 0 && (strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#")):
			b.prelude = append(b.prelude, l)
		case strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#"):
			t.Fatalf("%s:%d: commands must be followed by ----", file, i+1)
		default:
			if len(b.cmds) == 0 {
				b.line = i + 1
			}
			b.cmds = append(b.cmds, l)
		}
	}
	if len(b.cmds) > 0 {
		t.Fatalf("%s:%d: commands without ----", file, b.line)
	}
	return blocks, b.prelude
}

func runScript(t *testing.T, file string) {
	blocks, trailer := parseScript(t, file)
	var h scriptHarness
	var out strings.Builder
	for i := range blocks {
		b := &blocks[i]
		var got []string
		for _, cmd := range b.cmds {
			got = append(got, h.run(t, cmd)...)
		}
		got = append(got, h.state())
		if *updateScripts {
			b.expected = got
		} else if !slices.Equal(got, b.expected) {
			t.Errorf("%s:%d:\n%s\n----\ngot:\n%s\nwant:\n%s", file, b.line, strings.Join(b.cmds, "\n"),
				strings.Join(got, "\n"), strings.Join(b.expected, "\n"))
		}
		for _, l := range b.prelude {
			out.WriteString(l + "\n")
		}
		out.WriteString(strings.Join(b.cmds, "\n") + "\n----\n" + strings.Join(b.expected, "\n") + "\n")
	}
	for _, l := range trailer {
		out.WriteString(l + "\n")
	}
	if *updateScripts {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scriptHarness drives one LeaderCore from script commands.
type scriptHarness struct {
	c *LeaderCore
}

func (h *scriptHarness) run(t *testing.T, line string) []string {
	fields := strings.Fields(line)
	name, args := fields[0], parseArgs(t, line, fields[1:])
	if h.c == nil && name != "become-leader" && name != "new" {
		t.Fatalf("%q: the first command must be new or become-leader", line)
	}
	var r Ready
	var err error
	var notes []string
	switch name {
	case "new":
		h.c = NewLeaderCore(LeaderConfig{NodeID: int32(args.int(t, "node", 1)),
			MinInsyncReplicas: int(args.int(t, "min-isr", 1)), ReplicaLagTimeMaxMs: args.int(t, "lag-ms", DefaultReplicaLagTimeMaxMs)},
			args.int(t, "leo", 0), args.int(t, "durable", 0), args.int(t, "hw", 0))
		r = h.c.ready(false, nil)
	case "become-leader":
		if h.c == nil {
			h.c = NewLeaderCore(LeaderConfig{NodeID: int32(args.int(t, "node", 1)), MinInsyncReplicas: 1,
				ReplicaLagTimeMaxMs: DefaultReplicaLagTimeMaxMs}, 0, 0, 0)
		}
		if _, ok := args["min-isr"]; ok {
			h.c.Reconfigure(int(args.int(t, "min-isr", 1)), h.c.cfg.ReplicaLagTimeMaxMs)
		}
		if _, ok := args["lag-ms"]; ok {
			h.c.Reconfigure(h.c.cfg.MinInsyncReplicas, args.int(t, "lag-ms", 0))
		}
		r, err = h.c.BecomeLeader(int32(args.int(t, "epoch", 0)), int32(args.int(t, "partition-epoch", 0)),
			args.ids(t, "replicas"), args.ids(t, "isr"), args.int(t, "now", 0))
	case "become-follower":
		h.c.BecomeFollower(int32(args.int(t, "epoch", 0)))
		r = h.c.ready(false, nil)
	case "config":
		r = h.c.Reconfigure(int(args.int(t, "min-isr", int64(h.c.cfg.MinInsyncReplicas))),
			args.int(t, "lag-ms", h.c.cfg.ReplicaLagTimeMaxMs))
	case "append":
		r = h.c.LeaderAppended(args.int(t, "leo", 0))
	case "durable":
		r = h.c.LeaderDurable(args.int(t, "offset", 0))
	case "fetch":
		r, err = h.c.FollowerFetched(int32(args.int(t, "replica", 0)), args.int(t, "offset", 0), args.int(t, "now", 0))
	case "tick":
		r = h.c.Tick(args.int(t, "now", 0))
	case "alter-committed":
		r, err = h.c.AlterPartitionCommitted(args.ids(t, "isr"), int32(args.int(t, "partition-epoch", 0)))
	case "alter-rejected":
		r = h.c.AlterPartitionRejected(kerrByName(t, args["error"]))
	case "check-append":
		err = h.c.CheckAppend(int16(args.int(t, "acks", -1)))
		r = h.c.ready(false, nil)
	case "can-ack":
		var ok bool
		ok, err = h.c.CanAck(args.int(t, "offset", 0))
		if !ok {
			notes = append(notes, "wait")
		} else if err == nil {
			notes = append(notes, "ack")
		}
		r = h.c.ready(false, nil)
	default:
		t.Fatalf("unknown command %q", line)
	}
	if err != nil {
		notes = append(notes, "error "+kafkaName(err))
	}
	if r.Advanced {
		notes = append(notes, fmt.Sprintf("hw advanced to %d", r.HighWatermark))
	}
	if p := r.Propose; p != nil {
		notes = append(notes, "propose "+describeChange(p))
	}
	out := make([]string, len(notes))
	for i, n := range notes {
		out[i] = name + ": " + n
	}
	return out
}

func (h *scriptHarness) state() string {
	c := h.c
	if !c.leader {
		return fmt.Sprintf("follower epoch=%d hw=%d leo=%d durable=%d", c.leaderEpoch, c.hw, c.leo, c.durable)
	}
	pending := "none"
	if c.pending != nil {
		pending = describeChange(c.pending)
	}
	s := fmt.Sprintf("hw=%d leo=%d durable=%d isr=%s pending=%s epoch=%d/%d", c.hw, c.leo, c.durable,
		joinIDs(c.isr), pending, c.leaderEpoch, c.partitionEpoch)
	for _, id := range c.replicas {
		if f := c.followers[id]; f != nil {
			s += fmt.Sprintf(" r%d=%d@%d", id, f.leo, f.lastCaughtUp)
		}
	}
	return s
}

func describeChange(p *ISRChange) string {
	kind := "expand"
	if p.Shrink {
		kind = "shrink"
	}
	return fmt.Sprintf("%s(isr=%s at %d/%d)", kind, joinIDs(p.ISR), p.LeaderEpoch, p.PartitionEpoch)
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// kafkaName is the Kafka error name an error answers with.
func kafkaName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

func kerrByName(t *testing.T, name string) error {
	for code := int16(-1); code < 200; code++ {
		if err := kerr.ErrorForCode(code); err != nil && kafkaName(err) == name {
			return err
		}
	}
	t.Fatalf("unknown Kafka error %q", name)
	return nil
}

type scriptArgs map[string]string

func parseArgs(t *testing.T, line string, fields []string) scriptArgs {
	a := make(scriptArgs)
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("%q: argument %q is not key=value", line, f)
		}
		a[k] = v
	}
	return a
}

func (a scriptArgs) int(t *testing.T, key string, def int64) int64 {
	v, ok := a[key]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, v, err)
	}
	return n
}

func (a scriptArgs) ids(t *testing.T, key string) []int32 {
	v := a[key]
	if v == "" || v == "none" {
		return nil
	}
	var out []int32
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			t.Fatalf("%s=%q: %v", key, v, err)
		}
		out = append(out, int32(n))
	}
	return out
}

// TestLeaderCoreInvariantsUnderRandomEvents feeds random events to a leader
// of three replicas with min.insync.replicas=2 and checks, after each, the
// invariants in LeaderCore's comment: the HW never goes back, never passes
// the leader's durable offset or a maximal-ISR member's LEO at the moment it
// advances, advances only with a committed ISR of at least min.insync, at
// most one change is in flight, and a successful acks=all answer implies
// HW > offset and maximal ISR >= min.insync.
func TestLeaderCoreInvariantsUnderRandomEvents(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 5))
	for run := range 200 {
		c := NewLeaderCore(LeaderConfig{NodeID: 1, MinInsyncReplicas: 2, ReplicaLagTimeMaxMs: 100}, 0, 0, 0)
		if _, err := c.BecomeLeader(1, 1, []int32{1, 2, 3}, []int32{1, 2, 3}, 0); err != nil {
			t.Fatal(err)
		}
		now, partitionEpoch := int64(0), int32(1)
		for step := range 300 {
			prevHW := c.hw
			r := c.ready(false, nil)
			switch rng.IntN(6) {
			case 0:
				r = c.LeaderAppended(c.leo + rng.Int64N(5))
			case 1:
				r = c.LeaderDurable(c.durable + rng.Int64N(c.leo-c.durable+1))
			case 2:
				id := int32(2 + rng.IntN(2))
				r, _ = c.FollowerFetched(id, rng.Int64N(c.leo+1), now)
			case 3:
				now += rng.Int64N(80)
				r = c.Tick(now)
			case 4:
				if c.pending != nil {
					partitionEpoch++
					r, _ = c.AlterPartitionCommitted(c.pending.ISR, partitionEpoch)
				}
			case 5:
				r = c.AlterPartitionRejected(kerr.InvalidUpdateVersion)
			}
			where := fmt.Sprintf("run %d step %d", run, step)
			if c.hw < prevHW || r.HighWatermark != c.hw {
				t.Fatalf("%s: HW went from %d to %d (ready says %d)", where, prevHW, c.hw, r.HighWatermark)
			}
			if r.Advanced {
				if c.hw > c.durable || len(c.isr) < 2 {
					t.Fatalf("%s: HW %d advanced past durable %d or with ISR %v", where, c.hw, c.durable, c.isr)
				}
				for _, id := range c.maximalISR() {
					if f := c.followers[id]; f != nil && f.leo < c.hw {
						t.Fatalf("%s: HW %d passed maximal-ISR member %d at %d", where, c.hw, id, f.leo)
					}
				}
			}
			if r.Propose != nil && r.Propose != c.pending {
				t.Fatalf("%s: proposal %v is not the pending change %v", where, r.Propose, c.pending)
			}
			off := rng.Int64N(c.leo + 1)
			if ok, err := c.CanAck(off); ok && err == nil && (c.hw <= off || len(c.maximalISR()) < 2) {
				t.Fatalf("%s: acked offset %d with HW %d and maximal ISR %v", where, off, c.hw, c.maximalISR())
			}
		}
	}
}
