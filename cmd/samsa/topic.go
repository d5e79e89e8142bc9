package main

// samsa topic: create, list, describe, delete and alter-config, over the
// client SDK's Admin.

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/client"
)

// topicFlags are shared by every topic subcommand.
type topicFlags struct {
	cluster clusterFlags
	out     outputFlag
}

func newTopicCmd() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, delete and configure topics",
	}
	f.cluster.register(cmd.PersistentFlags(), "how long the whole command may take")
	f.out.register(cmd.PersistentFlags())
	cmd.AddCommand(
		newTopicCreateCmd(f),
		newTopicListCmd(f),
		newTopicDescribeCmd(f),
		newTopicDeleteCmd(f),
		newTopicAlterConfigCmd(f),
	)
	return cmd
}

// run connects, calls fn with the Admin, and closes. The whole call is
// bounded by --timeout and ends early on SIGINT.
func (f *topicFlags) run(cmd *cobra.Command, fn func(context.Context, *client.Admin) error) error {
	if err := f.out.validate(); err != nil {
		return err
	}
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	if f.cluster.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.cluster.timeout)
		defer cancel()
	}
	cl, err := f.cluster.connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	return fn(ctx, cl.Admin())
}

func newTopicCreateCmd(f *topicFlags) *cobra.Command {
	var (
		partitions int32
		rf         int16
		configs    []string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Example: `  samsa topic create orders --partitions 6 --replication-factor 3
  samsa topic create audit --config retention.ms=604800000 --config cleanup.policy=compact`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfgs, err := parseKVMap("config", configs)
			if err != nil {
				return err
			}
			if partitions == 0 || partitions < -1 || rf == 0 || rf < -1 {
				return fmt.Errorf("--partitions and --replication-factor must be positive, or -1 for the broker default")
			}
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				created, err := adm.CreateTopic(ctx, args[0], partitions, rf, cfgs)
				if err != nil {
					return err
				}
				return printCreated(cmd.OutOrStdout(), f.out.json(), created)
			})
		},
	}
	cmd.Flags().Int32Var(&partitions, "partitions", -1, "number of partitions (-1: the broker default)")
	cmd.Flags().Int16Var(&rf, "replication-factor", -1, "replicas per partition (-1: the broker default)")
	cmd.Flags().StringArrayVar(&configs, "config", nil, "topic config key=value (repeatable)")
	return cmd
}

func printCreated(w io.Writer, asJSON bool, c client.CreatedTopic) error {
	if asJSON {
		return writeJSON(w, struct {
			Name              string `json:"name"`
			ID                string `json:"id,omitempty"`
			Partitions        int32  `json:"partitions"`
			ReplicationFactor int16  `json:"replication_factor"`
		}{c.Name, idString(c.ID), c.Partitions, c.ReplicationFactor})
	}
	_, err := fmt.Fprintf(w, "Created topic %q (partitions: %s, replication factor: %s)\n",
		c.Name, orUnknown(int64(c.Partitions)), orUnknown(int64(c.ReplicationFactor)))
	return err
}

func newTopicListCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				topics, err := adm.ListTopics(ctx)
				if err != nil {
					return err
				}
				return printTopicList(cmd.OutOrStdout(), f.out.json(), topics)
			})
		},
	}
}

type topicListJSON struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
}

func printTopicList(w io.Writer, asJSON bool, topics []client.TopicSummary) error {
	if asJSON {
		out := make([]topicListJSON, 0, len(topics))
		for _, t := range topics {
			out = append(out, topicListJSON{t.Name, idString(t.ID), t.Partitions, t.ReplicationFactor})
		}
		return writeJSON(w, out)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICATION FACTOR\tID")
	for _, t := range topics {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", t.Name, t.Partitions, t.ReplicationFactor, idString(t.ID))
	}
	return tw.Flush()
}

func newTopicDescribeCmd(f *topicFlags) *cobra.Command {
	var allConfigs bool
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions (leader, replicas, ISR) and configs",
		Long: `Show a topic's partitions (leader, replicas, in-sync replicas) and configs.

Only configs set on the topic itself are shown unless --all-configs is given;
then inherited and default values are listed too, with their source.`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				d, err := adm.DescribeTopic(ctx, args[0])
				if err != nil {
					return err
				}
				if !allConfigs {
					d.Configs = overridesOnly(d.Configs)
				}
				if f.out.json() {
					return writeJSON(cmd.OutOrStdout(), describeJSON(d))
				}
				return printDescription(cmd.OutOrStdout(), d, allConfigs)
			})
		},
	}
	cmd.Flags().BoolVar(&allConfigs, "all-configs", false, "also show inherited and default configs")
	return cmd
}

func overridesOnly(cs []client.ConfigEntry) []client.ConfigEntry {
	var out []client.ConfigEntry
	for _, c := range cs {
		if c.IsOverride() {
			out = append(out, c)
		}
	}
	return out
}

type partitionJSON struct {
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	Error           string  `json:"error,omitempty"`
}

type configJSON struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	Sensitive bool   `json:"sensitive"`
}

type topicJSON struct {
	Name              string          `json:"name"`
	ID                string          `json:"id,omitempty"`
	Internal          bool            `json:"internal"`
	ReplicationFactor int             `json:"replication_factor"`
	Partitions        []partitionJSON `json:"partitions"`
	Configs           []configJSON    `json:"configs"`
}

func describeJSON(d client.TopicDescription) topicJSON {
	out := topicJSON{
		Name:              d.Name,
		ID:                idString(d.ID),
		Internal:          d.Internal,
		ReplicationFactor: d.ReplicationFactor(),
		Partitions:        make([]partitionJSON, 0, len(d.Partitions)),
		Configs:           make([]configJSON, 0, len(d.Configs)),
	}
	for _, p := range d.Partitions {
		pj := partitionJSON{
			Partition:       p.Partition,
			Leader:          p.Leader,
			LeaderEpoch:     p.LeaderEpoch,
			Replicas:        nonNil(p.Replicas),
			ISR:             nonNil(p.ISR),
			OfflineReplicas: nonNil(p.OfflineReplicas),
		}
		if p.Err != nil {
			pj.Error = p.Err.Error()
		}
		out.Partitions = append(out.Partitions, pj)
	}
	for _, c := range d.Configs {
		out.Configs = append(out.Configs, configJSON{c.Name, c.Value, c.Source.String(), c.Sensitive})
	}
	return out
}

func printDescription(w io.Writer, d client.TopicDescription, allConfigs bool) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "Topic:\t%s\n", d.Name)
	if id := idString(d.ID); id != "" {
		fmt.Fprintf(tw, "ID:\t%s\n", id)
	}
	fmt.Fprintf(tw, "Partitions:\t%d\n", len(d.Partitions))
	fmt.Fprintf(tw, "Replication factor:\t%d\n", d.ReplicationFactor())
	if d.Internal {
		fmt.Fprintf(tw, "Internal:\ttrue\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	tw = newTable(w)
	anyErr := slices.ContainsFunc(d.Partitions, func(p client.PartitionInfo) bool { return p.Err != nil })
	if anyErr {
		fmt.Fprintln(tw, "PARTITION\tLEADER\tREPLICAS\tISR\tERROR")
	} else {
		fmt.Fprintln(tw, "PARTITION\tLEADER\tREPLICAS\tISR")
	}
	for _, p := range d.Partitions {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s", p.Partition, p.Leader, int32List(p.Replicas), int32List(p.ISR))
		if anyErr && p.Err != nil {
			fmt.Fprintf(tw, "\t%v", p.Err)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if len(d.Configs) == 0 {
		if allConfigs {
			_, err := fmt.Fprintln(w, "No configs reported.")
			return err
		}
		_, err := fmt.Fprintln(w, "No configs set on the topic (--all-configs shows inherited ones).")
		return err
	}
	tw = newTable(w)
	fmt.Fprintln(tw, "CONFIG\tVALUE\tSOURCE")
	for _, c := range d.Configs {
		v := c.Value
		if c.Sensitive {
			v = "(sensitive)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, v, c.Source)
	}
	return tw.Flush()
}

func newTopicDeleteCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic and all its records",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				if err := adm.DeleteTopic(ctx, args[0]); err != nil {
					return err
				}
				if f.out.json() {
					return writeJSON(cmd.OutOrStdout(), struct {
						Name    string `json:"name"`
						Deleted bool   `json:"deleted"`
					}{args[0], true})
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Deleted topic %q\n", args[0])
				return err
			})
		},
	}
}

func newTopicAlterConfigCmd(f *topicFlags) *cobra.Command {
	var sets, deletes []string
	cmd := &cobra.Command{
		Use:   "alter-config NAME",
		Short: "Set or remove configs on a topic, leaving the others alone",
		Example: `  samsa topic alter-config orders --set retention.ms=86400000
  samsa topic alter-config orders --delete retention.ms`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := parseKVMap("set", sets)
			if err != nil {
				return err
			}
			for _, k := range deletes {
				if k == "" || strings.Contains(k, "=") {
					return fmt.Errorf("--delete takes a config name, not %q", k)
				}
			}
			if len(set) == 0 && len(deletes) == 0 {
				return fmt.Errorf("nothing to do: give --set key=value or --delete key")
			}
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				if err := adm.AlterTopicConfig(ctx, args[0], set, deletes); err != nil {
					return err
				}
				return printAltered(cmd.OutOrStdout(), f.out.json(), args[0], set, deletes)
			})
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "config key=value to set (repeatable)")
	cmd.Flags().StringArrayVar(&deletes, "delete", nil, "config key to remove from the topic, so it inherits again (repeatable)")
	return cmd
}

func printAltered(w io.Writer, asJSON bool, topic string, set map[string]string, deleted []string) error {
	if asJSON {
		return writeJSON(w, struct {
			Name    string            `json:"name"`
			Set     map[string]string `json:"set"`
			Deleted []string          `json:"deleted"`
		}{topic, set, nonNil(deleted)})
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		parts = append(parts, "set "+k+"="+set[k])
	}
	for _, k := range deleted {
		parts = append(parts, "deleted "+k)
	}
	_, err := fmt.Fprintf(w, "Altered configs of topic %q: %s\n", topic, strings.Join(parts, "; "))
	return err
}

func idString(id client.TopicID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

func orUnknown(n int64) string {
	if n < 0 {
		return "broker default"
	}
	return fmt.Sprint(n)
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
