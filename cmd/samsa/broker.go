package main

// samsa broker: list and describe the brokers, and decommission one
// (UnregisterBroker, key 64), over the client SDK's Admin.
//
// The list comes from DescribeCluster v2 with fenced brokers included
// (KIP-1073): every registered broker, with a FENCED column. A broker that
// partitions are still assigned to but that is no longer registered is
// shown fenced, without an address.

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/client"
)

func newBrokerCmd() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "List, describe and decommission brokers",
	}
	f.cluster.register(cmd.PersistentFlags(), "how long the whole command may take")
	f.out.register(cmd.PersistentFlags())
	cmd.AddCommand(newBrokerListCmd(f), newBrokerDescribeCmd(f), newBrokerDecommissionCmd(f))
	return cmd
}

// parseBrokerID parses a broker id argument: a non-negative int32.
func parseBrokerID(s string) (int32, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("broker id %q: want a non-negative integer", s)
	}
	return int32(n), nil
}

func newBrokerListCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the brokers: id, address, rack and fenced state",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				bs, err := adm.ListBrokers(ctx)
				if err != nil {
					return err
				}
				return printBrokers(cmd.OutOrStdout(), f.out.json(), bs)
			})
		},
	}
}

func newBrokerDescribeCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe ID",
		Short: "Describe one broker",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBrokerID(args[0])
			if err != nil {
				return err
			}
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				bs, err := adm.ListBrokers(ctx)
				if err != nil {
					return err
				}
				for _, b := range bs {
					if b.ID == id {
						return printBroker(cmd.OutOrStdout(), f.out.json(), b)
					}
				}
				return fmt.Errorf("broker %d is neither live nor assigned any partition", id)
			})
		},
	}
}

func newBrokerDecommissionCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "decommission ID",
		Short: "Remove a stopped (fenced) broker's registration",
		Long: `Remove a broker's registration from the cluster metadata (UnregisterBroker).

The broker must be fenced: stop it and wait until the controller has fenced it
(it disappears from the live brokers). An unfenced broker is refused with
INVALID_REQUEST. Partitions still assigned to the broker keep it in their
replica lists; reassign them.`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBrokerID(args[0])
			if err != nil {
				return err
			}
			return f.run(cmd, func(ctx context.Context, adm *client.Admin) error {
				if err := adm.UnregisterBroker(ctx, id); err != nil {
					return err
				}
				if f.out.json() {
					return writeJSON(cmd.OutOrStdout(), struct {
						Broker       int32 `json:"broker"`
						Unregistered bool  `json:"unregistered"`
					}{id, true})
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Broker %d unregistered.\n", id)
				return err
			})
		},
	}
}

type brokerJSON struct {
	ID     int32  `json:"id"`
	Host   string `json:"host,omitempty"`
	Port   int32  `json:"port,omitempty"`
	Rack   string `json:"rack,omitempty"`
	Fenced bool   `json:"fenced"`
}

func toBrokerJSON(b client.BrokerStatus) brokerJSON {
	return brokerJSON{b.ID, b.Host, b.Port, b.Rack, b.Fenced}
}

func brokerAddr(b client.BrokerStatus) string {
	if b.Host == "" {
		return "-"
	}
	return fmt.Sprintf("%s:%d", b.Host, b.Port)
}

func brokerRack(b client.BrokerStatus) string {
	if b.Rack == "" {
		return "-"
	}
	return b.Rack
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

func printBrokers(w io.Writer, asJSON bool, bs []client.BrokerStatus) error {
	if asJSON {
		out := []brokerJSON{}
		for _, b := range bs {
			out = append(out, toBrokerJSON(b))
		}
		return writeJSON(w, out)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "BROKER\tADDRESS\tRACK\tFENCED")
	for _, b := range bs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", b.ID, brokerAddr(b), brokerRack(b), yesNo(b.Fenced))
	}
	return tw.Flush()
}

func printBroker(w io.Writer, asJSON bool, b client.BrokerStatus) error {
	if asJSON {
		return writeJSON(w, toBrokerJSON(b))
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "Broker:\t%d\n", b.ID)
	fmt.Fprintf(tw, "Address:\t%s\n", brokerAddr(b))
	fmt.Fprintf(tw, "Rack:\t%s\n", brokerRack(b))
	fenced := yesNo(b.Fenced)
	if b.Fenced {
		fenced = "yes (registered, not live)"
		if b.Host == "" {
			fenced = "yes (not registered; still assigned partitions)"
		}
	}
	fmt.Fprintf(tw, "Fenced:\t%s\n", fenced)
	return tw.Flush()
}
