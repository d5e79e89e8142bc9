package main

// samsa cluster: describe the cluster (id, active controller, live
// brokers) and its controller quorum, and change the quorum online
// (add-controller, remove-controller: KIP-853's AddRaftVoter and
// RemoveRaftVoter), over the client SDK's Admin.

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/client"
)

func newClusterCmd() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Describe the cluster and its controller quorum",
	}
	f.cluster.register(cmd.PersistentFlags(), "how long the whole command may take")
	f.out.register(cmd.PersistentFlags())
	cmd.AddCommand(newClusterDescribeCmd(f), newClusterQuorumCmd(f),
		newClusterAddControllerCmd(f), newClusterRemoveControllerCmd(f))
	return cmd
}

// controllerCatchUpDefault is how long add-controller lets the new node
// catch up by default: below the 5 s a broker waits for one controller
// before it tries the next, so that the request is never sent twice.
const controllerCatchUpDefault = 4 * time.Second

func newClusterAddControllerCmd(f *topicFlags) *cobra.Command {
	var (
		id      int64
		addr    string
		catchUp time.Duration
	)
	cmd := &cobra.Command{
		Use:   "add-controller --id N --address HOST:PORT",
		Short: "Add a controller to the quorum as a voter (KIP-853 AddRaftVoter)",
		Long: `Add a node to the controller quorum as a voter.

Start the node first with controller.quorum.join=true (and this cluster's
cluster.id): it waits, without bootstrapping anything, to be added. --address is
its Raft transport address (raft.listener) as the other controllers reach it.
The active controller replicates the metadata log to it as a non-voter and
promotes it once it has caught up; if it has not within --catch-up-timeout, the
command fails with REQUEST_TIMED_OUT and the quorum is left as it was.

The Raft configuration, not controller.quorum.voters, is authoritative once a
cluster exists: the voter list is read only when a brand-new cluster
bootstraps. List the new controller's listener in every node's
controller.quorum.bootstrap.servers, so that brokers reach it when it leads.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id < 0 || id > math.MaxInt32 {
				return fmt.Errorf("--id %d: want a non-negative node id", id)
			}
			if catchUp <= 0 {
				return fmt.Errorf("--catch-up-timeout must be positive, not %s", catchUp)
			}
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				if err := adm.AddController(ctx, int32(id), addr, catchUp); err != nil {
					return err
				}
				return printQuorumChange(cmd.OutOrStdout(), f.out.json(), int32(id), "added")
			})
		},
	}
	cmd.Flags().Int64Var(&id, "id", -1, "the new controller's node.id (required)")
	cmd.Flags().StringVar(&addr, "address", "", "the new controller's Raft transport address, host:port (required)")
	cmd.Flags().DurationVar(&catchUp, "catch-up-timeout", controllerCatchUpDefault, "how long the new controller may take to catch up with the metadata log")
	_ = cmd.MarkFlagRequired("id")
	_ = cmd.MarkFlagRequired("address")
	return cmd
}

func newClusterRemoveControllerCmd(f *topicFlags) *cobra.Command {
	var id int64
	cmd := &cobra.Command{
		Use:   "remove-controller --id N",
		Short: "Remove a controller from the quorum (KIP-853 RemoveRaftVoter)",
		Long: `Remove a voter from the controller quorum; it need not be running.

The active controller may be removed: it commits its own removal and steps
down, and the remaining voters elect another. The last voter cannot be removed.
Stop the removed node afterwards: it no longer receives the metadata log.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id < 0 || id > math.MaxInt32 {
				return fmt.Errorf("--id %d: want a non-negative node id", id)
			}
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				if err := adm.RemoveController(ctx, int32(id)); err != nil {
					return err
				}
				return printQuorumChange(cmd.OutOrStdout(), f.out.json(), int32(id), "removed")
			})
		},
	}
	cmd.Flags().Int64Var(&id, "id", -1, "the controller's node.id (required)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func printQuorumChange(w io.Writer, asJSON bool, id int32, change string) error {
	if asJSON {
		return writeJSON(w, struct {
			Controller int32  `json:"controller"`
			Change     string `json:"change"`
		}{id, change})
	}
	_, err := fmt.Fprintf(w, "Controller %d %s.\n", id, change)
	return err
}

func newClusterDescribeCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe",
		Short: "Show the cluster id, the active controller and the live brokers",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				info, err := adm.DescribeCluster(ctx)
				if err != nil {
					return err
				}
				q, err := adm.DescribeQuorum(ctx)
				if err != nil {
					return err
				}
				return printCluster(cmd.OutOrStdout(), f.out.json(), info, q.LeaderID)
			})
		},
	}
}

func printCluster(w io.Writer, asJSON bool, info client.ClusterInfo, controller int32) error {
	if asJSON {
		type broker struct {
			ID   int32  `json:"id"`
			Host string `json:"host"`
			Port int32  `json:"port"`
			Rack string `json:"rack,omitempty"`
		}
		out := struct {
			ClusterID        string   `json:"cluster_id"`
			ActiveController int32    `json:"active_controller"`
			Brokers          []broker `json:"brokers"`
		}{ClusterID: info.ClusterID, ActiveController: controller, Brokers: []broker{}}
		for _, b := range info.Brokers {
			out.Brokers = append(out.Brokers, broker{b.ID, b.Host, b.Port, b.Rack})
		}
		return writeJSON(w, out)
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "Cluster id:\t%s\n", info.ClusterID)
	fmt.Fprintf(tw, "Active controller:\t%s\n", orNone(controller))
	fmt.Fprintf(tw, "Live brokers:\t%d\n\n", len(info.Brokers))
	fmt.Fprintln(tw, "BROKER\tHOST\tPORT\tRACK")
	for _, b := range info.Brokers {
		rack := b.Rack
		if rack == "" {
			rack = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", b.ID, b.Host, b.Port, rack)
	}
	return tw.Flush()
}

func newClusterQuorumCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "quorum",
		Short: "Show the controller quorum: leader, epoch, high watermark, voters and their lag",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				q, err := adm.DescribeQuorum(ctx)
				if err != nil {
					return err
				}
				return printQuorum(cmd.OutOrStdout(), f.out.json(), q)
			})
		},
	}
}

func printQuorum(w io.Writer, asJSON bool, q client.QuorumInfo) error {
	type member struct {
		ID           int32  `json:"id"`
		Role         string `json:"role"`
		LogEndOffset int64  `json:"log_end_offset"` // -1: unknown
		Lag          int64  `json:"lag"`            // -1: unknown
	}
	rows := func(ms []client.QuorumMember, role string) []member {
		out := []member{}
		for _, m := range ms {
			r, lag := role, int64(-1)
			if m.ID == q.LeaderID {
				r = "leader"
			}
			if m.LogEndOffset >= 0 {
				lag = max(q.HighWatermark-m.LogEndOffset, 0)
			}
			out = append(out, member{m.ID, r, m.LogEndOffset, lag})
		}
		return out
	}
	voters, observers := rows(q.Voters, "follower"), rows(q.Observers, "observer")
	if asJSON {
		return writeJSON(w, struct {
			Leader        int32    `json:"leader"`
			LeaderEpoch   int32    `json:"leader_epoch"`
			HighWatermark int64    `json:"high_watermark"`
			Voters        []member `json:"voters"`
			Observers     []member `json:"observers"`
		}{q.LeaderID, q.LeaderEpoch, q.HighWatermark, voters, observers})
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "Leader:\t%s\n", orNone(q.LeaderID))
	fmt.Fprintf(tw, "Leader epoch:\t%d\n", q.LeaderEpoch)
	fmt.Fprintf(tw, "High watermark:\t%d\n\n", q.HighWatermark)
	fmt.Fprintln(tw, "NODE\tROLE\tLOG END OFFSET\tLAG")
	for _, m := range append(voters, observers...) {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", m.ID, m.Role, unknownIfNegative(m.LogEndOffset), unknownIfNegative(m.Lag))
	}
	return tw.Flush()
}

// unknownIfNegative renders an offset or lag, or "unknown" for -1.
func unknownIfNegative(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprint(n)
}

// orNone renders a node id, or "none" for -1.
func orNone(id int32) string {
	if id < 0 {
		return "none"
	}
	return fmt.Sprint(id)
}
