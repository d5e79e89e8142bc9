package main

// samsa partition: partition-level operations. elect-leaders (here) runs
// preferred or unclean leader elections (ElectLeaders, key 43) over the
// client SDK's Admin, as Kafka's kafka-leader-election.sh does; other
// files add subcommands through partitionSubcommands.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/client"
)

func newPartitionCmd() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{
		Use:   "partition",
		Short: "Partition operations: leader elections, reassignments",
	}
	f.cluster.register(cmd.PersistentFlags(), "how long the whole command may take")
	f.out.register(cmd.PersistentFlags())
	cmd.AddCommand(newPartitionElectLeadersCmd(f))
	for _, sub := range partitionSubcommands { // defined in other files (reassign.go)
		cmd.AddCommand(sub(f))
	}
	return cmd
}

// electFlags are elect-leaders' own flags.
type electFlags struct {
	typ        string
	topic      string
	partitions []int32
	all        bool
}

// request turns the flags into ElectLeaders' arguments (a nil map: every
// partition of the cluster).
func (e *electFlags) request() (client.ElectionType, map[string][]int32, error) {
	var typ client.ElectionType
	switch strings.ToLower(e.typ) {
	case "preferred":
		typ = client.ElectPreferred
	case "unclean":
		typ = client.ElectUnclean
	default:
		return 0, nil, fmt.Errorf("--type: %q is neither preferred nor unclean", e.typ)
	}
	switch {
	case e.all && (e.topic != "" || len(e.partitions) > 0):
		return 0, nil, errors.New("--all elects every partition: give it without --topic and --partition")
	case e.all:
		return typ, nil, nil
	case e.topic == "":
		return 0, nil, errors.New("name the partitions with --topic (and --partition), or pass --all")
	}
	for _, p := range e.partitions {
		if p < 0 {
			return 0, nil, fmt.Errorf("--partition: %d is negative", p)
		}
	}
	return typ, map[string][]int32{e.topic: e.partitions}, nil
}

func newPartitionElectLeadersCmd(f *topicFlags) *cobra.Command {
	e := &electFlags{}
	cmd := &cobra.Command{
		Use:   "elect-leaders",
		Short: "Move leadership to preferred replicas, or elect a leader outside the ISR",
		Long: `Run leader elections (ElectLeaders).

--type preferred (the default) makes each partition's preferred replica, the
first of its replicas, the leader when it is alive and in the ISR: use it to
rebalance leadership after brokers restarted (auto.leader.rebalance.enable does
the same periodically).

--type unclean gives a partition without a leader one: from the ISR if one of
its members is alive, else the first live replica, alone in the new ISR. The
records only the dead in-sync replicas had are lost for good; use it only when
they will not come back and availability matters more than those records.

Each partition's result is printed: ELECTED, ELECTION_NOT_NEEDED (it already
had the leader asked for) or the reason no leader could be elected; the
command fails if any partition could not be elected. With --all, only the
partitions that needed an election are listed.`,
		Example: `  samsa partition elect-leaders --all
  samsa partition elect-leaders --topic orders
  samsa partition elect-leaders --type unclean --topic orders --partition 3`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			typ, parts, err := e.request()
			if err != nil {
				return err
			}
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				rs, err := adm.ElectLeaders(ctx, typ, parts)
				if err != nil {
					return err
				}
				if err := printElections(cmd.OutOrStdout(), f.out.json(), rs); err != nil {
					return err
				}
				return electionFailures(rs)
			})
		},
	}
	cmd.Flags().StringVar(&e.typ, "type", "preferred", "election type: preferred or unclean")
	cmd.Flags().StringVar(&e.topic, "topic", "", "topic whose partitions to elect (all of them unless --partition)")
	cmd.Flags().Int32SliceVar(&e.partitions, "partition", nil, "partition of --topic (repeatable, or comma-separated)")
	cmd.Flags().BoolVar(&e.all, "all", false, "every partition of the cluster")
	return cmd
}

// electionResult is one partition's result as printed.
func electionResult(r client.ElectionResult) string {
	if r.Err == nil {
		return "ELECTED"
	}
	var ke *kerr.Error
	if errors.As(r.Err, &ke) {
		return ke.Message
	}
	return r.Err.Error()
}

type electionJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Result    string `json:"result"`
	Message   string `json:"message,omitempty"`
}

func printElections(w io.Writer, asJSON bool, rs []client.ElectionResult) error {
	if asJSON {
		out := make([]electionJSON, 0, len(rs))
		for _, r := range rs {
			out = append(out, electionJSON{r.Topic, r.Partition, electionResult(r), r.Message})
		}
		return writeJSON(w, out)
	}
	if len(rs) == 0 {
		_, err := fmt.Fprintln(w, "No partition needed an election.")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tRESULT\tMESSAGE")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Topic, r.Partition, electionResult(r), r.Message)
	}
	return tw.Flush()
}

// electionFailures is an error naming the partitions that could not be
// elected (ELECTION_NOT_NEEDED is no failure), or nil.
func electionFailures(rs []client.ElectionResult) error {
	var failed []string
	for _, r := range rs {
		if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
			failed = append(failed, fmt.Sprintf("%s-%d (%s)", r.Topic, r.Partition, electionResult(r)))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%d partition(s) could not be elected: %s", len(failed), strings.Join(failed, ", "))
}
