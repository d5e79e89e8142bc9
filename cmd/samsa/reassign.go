package main

// samsa partition reassign / reassignments: move partition replicas between
// brokers (AlterPartitionReassignments, key 45) and watch the moves in
// progress (ListPartitionReassignments, key 46), as Kafka's
// kafka-reassign-partitions.sh does. --file takes Kafka's reassignment
// JSON ({"version":1,"partitions":[{"topic":…,"partition":…,"replicas":[…]}]}).
//
// The subcommands join `samsa partition` through partitionSubcommands,
// filled at init, so that partition.go needs no knowledge of them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/client"
)

// partitionSubcommands build the `samsa partition` subcommands defined
// outside partition.go; newPartitionCmd adds each.
var partitionSubcommands []func(*topicFlags) *cobra.Command

func init() {
	partitionSubcommands = append(partitionSubcommands, newPartitionReassignCmd, newPartitionReassignmentsCmd)
}

// reassignmentJSON is a reassignment in progress as --output json prints
// it.
type reassignmentJSON struct {
	Topic            string  `json:"topic"`
	Partition        int32   `json:"partition"`
	Replicas         []int32 `json:"replicas"`
	AddingReplicas   []int32 `json:"adding_replicas"`
	RemovingReplicas []int32 `json:"removing_replicas"`
}

// reassignFlags are reassign's own flags.
type reassignFlags struct {
	topic     string
	partition int32
	replicas  []int32
	cancel    bool
	file      string
}

// moves turns the flags into the partitions to move or cancel.
func (r *reassignFlags) moves(cmd *cobra.Command) ([]client.Reassignment, error) {
	single := cmd.Flags().Changed("topic") || cmd.Flags().Changed("partition") || cmd.Flags().Changed("replicas")
	switch {
	case r.file != "" && single:
		return nil, errors.New("--file names the partitions itself: give it without --topic, --partition and --replicas")
	case r.file != "":
		moves, err := readReassignmentPlan(r.file)
		if err != nil {
			return nil, err
		}
		if r.cancel {
			for i := range moves {
				moves[i].Replicas = nil
			}
		}
		return moves, nil
	case r.topic == "" || !cmd.Flags().Changed("partition"):
		return nil, errors.New("name the partition with --topic and --partition, or give a plan with --file")
	case r.partition < 0:
		return nil, fmt.Errorf("--partition: %d is negative", r.partition)
	case r.cancel && len(r.replicas) > 0:
		return nil, errors.New("--cancel reverts to the replicas before the move: give it without --replicas")
	case !r.cancel && len(r.replicas) == 0:
		return nil, errors.New("--replicas: give the target broker ids (comma-separated), or --cancel")
	}
	m := client.Reassignment{Topic: r.topic, Partition: r.partition}
	if !r.cancel {
		m.Replicas = r.replicas
	}
	return []client.Reassignment{m}, nil
}

// reassignmentPlan is Kafka's reassignment JSON (kafka-reassign-partitions
// --reassignment-json-file).
type reassignmentPlan struct {
	Version    int `json:"version"`
	Partitions []struct {
		Topic     *string  `json:"topic"`
		Partition *int32   `json:"partition"`
		Replicas  []int32  `json:"replicas"`
		LogDirs   []string `json:"log_dirs"`
	} `json:"partitions"`
}

// readReassignmentPlan reads and checks a plan file. Log directories other
// than "any" are refused: Samsa has one log directory per broker.
func readReassignmentPlan(path string) ([]client.Reassignment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseReassignmentPlan(data)
}

func parseReassignmentPlan(data []byte) ([]client.Reassignment, error) {
	var plan reassignmentPlan
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&plan); err != nil {
		return nil, fmt.Errorf("reassignment plan: %w", err)
	}
	if plan.Version != 1 {
		return nil, fmt.Errorf("reassignment plan: version %d, want 1", plan.Version)
	}
	if len(plan.Partitions) == 0 {
		return nil, errors.New("reassignment plan: no partitions")
	}
	var moves []client.Reassignment
	for i, p := range plan.Partitions {
		switch {
		case p.Topic == nil || *p.Topic == "" || p.Partition == nil:
			return nil, fmt.Errorf("reassignment plan: entry %d lacks its topic or partition", i)
		case len(p.Replicas) == 0:
			return nil, fmt.Errorf("reassignment plan: %s-%d has no replicas", *p.Topic, *p.Partition)
		case len(p.LogDirs) > 0 && len(p.LogDirs) != len(p.Replicas):
			return nil, fmt.Errorf("reassignment plan: %s-%d has %d log_dirs for %d replicas", *p.Topic, *p.Partition, len(p.LogDirs), len(p.Replicas))
		}
		for _, d := range p.LogDirs {
			if d != "any" {
				return nil, fmt.Errorf("reassignment plan: %s-%d: log directory %q: Samsa brokers have one log directory, give \"any\"", *p.Topic, *p.Partition, d)
			}
		}
		moves = append(moves, client.Reassignment{Topic: *p.Topic, Partition: *p.Partition, Replicas: p.Replicas})
	}
	return moves, nil
}

func newPartitionReassignCmd(f *topicFlags) *cobra.Command {
	r := &reassignFlags{}
	cmd := &cobra.Command{
		Use:   "reassign",
		Short: "Move a partition's replicas to other brokers, or cancel a move",
		Long: `Start partition reassignments (AlterPartitionReassignments, KIP-455).

The target brokers become replicas at once and copy the partition from its
leader; when every target replica is in sync, the controller makes the target
the replica list, moves leadership to the first target replica if the leader is
dropped, and the dropped brokers delete their copy. Producers and consumers
keep working throughout. The command returns when the move has started: follow
it with "samsa partition reassignments". leader.replication.throttled.rate
bounds the copying.

--cancel reverts a move in progress to the replicas before it (refused when
no original replica is in sync any more). --file takes a plan in Kafka's
reassignment JSON format; with --cancel it cancels the plan's partitions.`,
		Example: `  samsa partition reassign --topic orders --partition 0 --replicas 2,3,4
  samsa partition reassign --topic orders --partition 0 --cancel
  samsa partition reassign --file plan.json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			moves, err := r.moves(cmd)
			if err != nil {
				return err
			}
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				rs, err := adm.AlterPartitionReassignments(ctx, moves)
				if err != nil {
					return err
				}
				if err := printReassignResults(cmd.OutOrStdout(), f.out.json(), rs); err != nil {
					return err
				}
				return reassignFailures(rs)
			})
		},
	}
	cmd.Flags().StringVar(&r.topic, "topic", "", "topic of the partition to move")
	cmd.Flags().Int32Var(&r.partition, "partition", 0, "partition to move")
	cmd.Flags().Int32SliceVar(&r.replicas, "replicas", nil, "target broker ids, comma-separated, preferred leader first")
	cmd.Flags().BoolVar(&r.cancel, "cancel", false, "cancel the move in progress instead")
	cmd.Flags().StringVar(&r.file, "file", "", "reassignment plan in Kafka's JSON format")
	return cmd
}

func newPartitionReassignmentsCmd(f *topicFlags) *cobra.Command {
	var topic string
	cmd := &cobra.Command{
		Use:   "reassignments",
		Short: "List the partition reassignments in progress",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				var topics []string
				if topic != "" {
					topics = []string{topic}
				}
				rs, err := adm.ListPartitionReassignments(ctx, topics...)
				if err != nil {
					return err
				}
				return printReassignments(cmd.OutOrStdout(), f.out.json(), rs)
			})
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "only this topic's partitions")
	return cmd
}

type reassignResultJSON struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas,omitempty"`
	Cancel    bool    `json:"cancel,omitempty"`
	Error     string  `json:"error,omitempty"`
}

func printReassignResults(w io.Writer, asJSON bool, rs []client.ReassignmentResult) error {
	if asJSON {
		out := make([]reassignResultJSON, 0, len(rs))
		for _, r := range rs {
			j := reassignResultJSON{Topic: r.Topic, Partition: r.Partition, Replicas: r.Replicas, Cancel: r.Replicas == nil}
			if r.Err != nil {
				j.Error = r.Err.Error()
			}
			out = append(out, j)
		}
		return writeJSON(w, out)
	}
	for _, r := range rs {
		var err error
		switch {
		case r.Err != nil:
			_, err = fmt.Fprintf(w, "%s-%d: refused: %v\n", r.Topic, r.Partition, r.Err)
		case r.Replicas == nil:
			_, err = fmt.Fprintf(w, "%s-%d: reassignment cancelled.\n", r.Topic, r.Partition)
		default:
			_, err = fmt.Fprintf(w, "%s-%d: reassignment to %s started.\n", r.Topic, r.Partition, brokerList(r.Replicas))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// reassignFailures is an error naming the refused partitions, or nil.
func reassignFailures(rs []client.ReassignmentResult) error {
	var failed []string
	for _, r := range rs {
		if r.Err != nil {
			failed = append(failed, fmt.Sprintf("%s-%d", r.Topic, r.Partition))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%d partition(s) refused: %s", len(failed), strings.Join(failed, ", "))
}

func printReassignments(w io.Writer, asJSON bool, rs []client.PartitionReassignment) error {
	if asJSON {
		out := make([]reassignmentJSON, 0, len(rs))
		for _, r := range rs {
			out = append(out, reassignmentJSON(r))
		}
		return writeJSON(w, out)
	}
	if len(rs) == 0 {
		_, err := fmt.Fprintln(w, "No reassignment in progress.")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tADDING\tREMOVING")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.Topic, r.Partition, brokerList(r.Replicas), brokerList(r.AddingReplicas), brokerList(r.RemovingReplicas))
	}
	return tw.Flush()
}

// brokerList renders broker ids as "1,2,3" ("-" for none).
func brokerList(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}
