package main

// samsa group: list, describe (with lag per partition), delete and
// reset-offsets, over the client SDK's Admin, like Kafka's
// kafka-consumer-groups tool.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/client"
)

func newGroupCmd() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, delete consumer groups and reset their offsets",
	}
	f.cluster.register(cmd.PersistentFlags(), "how long the whole command may take")
	f.out.register(cmd.PersistentFlags())
	cmd.AddCommand(newGroupListCmd(f), newGroupDescribeCmd(f), newGroupDeleteCmd(f), newGroupResetCmd(f))
	return cmd
}

func newGroupListCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List consumer groups with their state",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				groups, err := adm.ListGroups(ctx)
				if err != nil {
					return err
				}
				return printGroupList(cmd.OutOrStdout(), f.out.json(), groups)
			})
		},
	}
}

type groupListJSON struct {
	Name         string `json:"name"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
}

func printGroupList(w io.Writer, asJSON bool, groups []client.GroupSummary) error {
	if asJSON {
		out := make([]groupListJSON, 0, len(groups))
		for _, g := range groups {
			out = append(out, groupListJSON{g.Name, g.State, g.ProtocolType})
		}
		return writeJSON(w, out)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL TYPE")
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Name, g.State, orDash(g.ProtocolType))
	}
	return tw.Flush()
}

func newGroupDescribeCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a group's state, members, and committed offsets with lag",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				d, err := adm.DescribeGroup(ctx, args[0])
				if err != nil {
					return err
				}
				if f.out.json() {
					return writeJSON(cmd.OutOrStdout(), groupDescribeJSON(d))
				}
				return printGroupDescription(cmd.OutOrStdout(), d)
			})
		},
	}
}

type groupMemberJSON struct {
	ID         string             `json:"id"`
	InstanceID string             `json:"instance_id,omitempty"`
	ClientID   string             `json:"client_id"`
	ClientHost string             `json:"client_host"`
	Assigned   map[string][]int32 `json:"assigned"`
}

type groupOffsetJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	Member    string `json:"member,omitempty"`
}

type groupJSON struct {
	Name         string            `json:"name"`
	State        string            `json:"state"`
	ProtocolType string            `json:"protocol_type"`
	Protocol     string            `json:"protocol"`
	Members      []groupMemberJSON `json:"members"`
	Offsets      []groupOffsetJSON `json:"offsets"`
}

func groupDescribeJSON(d client.GroupDescription) groupJSON {
	out := groupJSON{Name: d.Name, State: d.State, ProtocolType: d.ProtocolType, Protocol: d.Protocol,
		Members: []groupMemberJSON{}, Offsets: []groupOffsetJSON{}}
	for _, m := range d.Members {
		out.Members = append(out.Members, groupMemberJSON{m.ID, m.InstanceID, m.ClientID, m.ClientHost, m.Assigned})
	}
	for _, o := range d.Offsets {
		out.Offsets = append(out.Offsets, groupOffsetJSON{o.Topic, o.Partition, o.Committed, o.End, o.Lag, o.Member})
	}
	return out
}

func printGroupDescription(w io.Writer, d client.GroupDescription) error {
	fmt.Fprintf(w, "Group:\t%s\nState:\t%s\nProtocol:\t%s %s\nMembers:\t%d\n\n",
		d.Name, d.State, orDash(d.ProtocolType), d.Protocol, len(d.Members))
	tw := newTable(w)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tMEMBER\tCLIENT ID\tHOST")
	clients := map[string]client.GroupMember{}
	for _, m := range d.Members {
		clients[m.ID] = m
	}
	for _, o := range d.Offsets {
		m := clients[o.Member]
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", o.Topic, o.Partition, orUnknownDash(o.Committed),
			orUnknownDash(o.End), orUnknownDash(o.Lag), orDash(o.Member), orDash(m.ClientID), orDash(m.ClientHost))
	}
	return tw.Flush()
}

func newGroupDeleteCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete groups that have no members, with their committed offsets",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				var errs []error
				for _, name := range args {
					if err := adm.DeleteGroup(ctx, name); err != nil {
						errs = append(errs, err)
						continue
					}
					if !f.out.json() {
						fmt.Fprintf(cmd.OutOrStdout(), "Deleted group %q\n", name)
					}
				}
				return errors.Join(errs...)
			})
		},
	}
}

func newGroupResetCmd(f *topicFlags) *cobra.Command {
	var (
		topic                        string
		partitions                   []int32
		toEarliest, toLatest, dryRun bool
		toDatetime                   string
		toOffset, shiftBy            int64
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets NAME --topic TOPIC (--to-earliest | --to-latest | --to-datetime T | --to-offset N | --shift-by N)",
		Short: "Move a group's committed offsets (the group must have no members)",
		Example: `  samsa group reset-offsets billing --topic orders --to-earliest
  samsa group reset-offsets billing --topic orders --partitions 0,2 --shift-by -100 --dry-run
  samsa group reset-offsets billing --topic orders --to-datetime 2026-01-02T15:04:05Z`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resets []client.OffsetReset
			flags := cmd.Flags()
			if toEarliest {
				resets = append(resets, client.ResetToEarliest())
			}
			if toLatest {
				resets = append(resets, client.ResetToLatest())
			}
			if flags.Changed("to-offset") {
				resets = append(resets, client.ResetToOffset(toOffset))
			}
			if flags.Changed("shift-by") {
				resets = append(resets, client.ResetShiftBy(shiftBy))
			}
			if toDatetime != "" {
				at, err := time.Parse(time.RFC3339Nano, toDatetime)
				if err != nil {
					return fmt.Errorf("--to-datetime: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", toDatetime)
				}
				resets = append(resets, client.ResetToTime(at))
			}
			if len(resets) != 1 {
				return fmt.Errorf("give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by")
			}
			if topic == "" {
				return fmt.Errorf("--topic is required")
			}
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				changes, err := adm.ResetGroupOffsets(ctx, args[0], topic, partitions, resets[0], dryRun)
				if err != nil {
					return err
				}
				return printOffsetChanges(cmd.OutOrStdout(), f.out.json(), changes, dryRun)
			})
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "the topic whose offsets to move")
	cmd.Flags().Int32SliceVar(&partitions, "partitions", nil, "only these partitions (default: all)")
	cmd.Flags().BoolVar(&toEarliest, "to-earliest", false, "move to the log start offset")
	cmd.Flags().BoolVar(&toLatest, "to-latest", false, "move to the end offset")
	cmd.Flags().StringVar(&toDatetime, "to-datetime", "", "move to the first record at or after this RFC 3339 time")
	cmd.Flags().Int64Var(&toOffset, "to-offset", 0, "move to this offset")
	cmd.Flags().Int64Var(&shiftBy, "shift-by", 0, "move by this many records from the committed offset (negative: back)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the moves without committing them")
	return cmd
}

type offsetChangeJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
}

func printOffsetChanges(w io.Writer, asJSON bool, changes []client.OffsetChange, dryRun bool) error {
	if asJSON {
		out := make([]offsetChangeJSON, 0, len(changes))
		for _, c := range changes {
			out = append(out, offsetChangeJSON{c.Topic, c.Partition, c.From, c.To})
		}
		return writeJSON(w, struct {
			DryRun  bool               `json:"dry_run"`
			Changes []offsetChangeJSON `json:"changes"`
		}{dryRun, out})
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tFROM\tTO")
	for _, c := range changes {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", c.Topic, c.Partition, orUnknownDash(c.From), c.To)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if dryRun {
		_, err := fmt.Fprintln(w, "(dry run: nothing committed)")
		return err
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orUnknownDash(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}
