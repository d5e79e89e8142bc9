package main

// samsa dev: one combined controller+broker node with zero configuration,
// console logs, and a banner that says how to use it.

import (
	"fmt"
	"io"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/node"
)

func newDevCmd() *cobra.Command {
	var (
		listen, dataDir string
		ephemeral       bool
		numPartitions   int
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a single-node development cluster on 127.0.0.1:9092",
		Long: `Run one combined controller+broker node with zero configuration.

Topics are created on first use. Data is kept in ./samsa-data (or --data-dir)
across restarts; --ephemeral uses a temporary directory removed on exit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ephemeral {
				dir, err := os.MkdirTemp("", "samsa-dev-")
				if err != nil {
					return fmt.Errorf("creating ephemeral data directory: %w", err)
				}
				defer os.RemoveAll(dir)
				dataDir = dir
			}
			// The dev flags are defaults that a config file or SAMSA_
			// variable may change, unless they were given explicitly.
			// A dev node is alone: its gossip port is any free one, so that
			// dev nodes on other Kafka ports never collide on 7946.
			gossipAddr := "127.0.0.1:0"
			if host, _, err := net.SplitHostPort(listen); err == nil {
				gossipAddr = net.JoinHostPort(host, "0")
			}
			defaults := map[string]any{
				"listeners": listen, "data.dir": dataDir, "log.format": "console",
				"num.partitions": numPartitions, "gossip.listener": gossipAddr,
			}
			overrides := map[string]any{}
			flagKeys := map[string]string{"listen": "listeners", "data-dir": "data.dir", "num-partitions": "num.partitions"}
			for flag, key := range flagKeys {
				if cmd.Flags().Changed(flag) {
					overrides[key] = defaults[key]
				}
			}
			if ephemeral {
				overrides["data.dir"] = dataDir
			}
			s, err := loadSettings(cmd.Flags(), defaults, overrides)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return runNode(cmd.Context(), s, cmd.ErrOrStderr(), func(n *node.Node) {
				printBanner(out, n, s.DataDir, ephemeral)
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&listen, "listen", "127.0.0.1:9092", "Kafka listener host:port (controller and Raft use the next two ports)")
	fs.StringVar(&dataDir, "data-dir", "./samsa-data", "data directory")
	fs.BoolVar(&ephemeral, "ephemeral", false, "use a temporary data directory, removed on exit")
	fs.IntVar(&numPartitions, "num-partitions", 1, "partitions of auto-created topics")
	fs.String("config", "", "optional YAML file with any server key (see docs/configuration.md)")
	return cmd
}

func printBanner(w io.Writer, n *node.Node, dataDir string, ephemeral bool) {
	where := dataDir
	if ephemeral {
		where += " (ephemeral)"
	}
	bs := n.Bootstrap()
	fmt.Fprintf(w, `
  Samsa dev node is up
    bootstrap:   %s
    cluster id:  %s
    data:        %s

  try it:
    echo 'hello samsa' | samsa produce greetings --bootstrap %s
    samsa consume greetings --from beginning --bootstrap %s
    kcat -b %s -L

`, bs, n.ClusterID(), where, bs, bs, bs)
}
