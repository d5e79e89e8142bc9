// Command samsa is the single Samsa binary: the server (controller, broker or
// both), the zero-configuration dev mode, and the admin CLI.
//
// This package only wires things together; every behaviour lives in the
// packages it imports.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "samsa:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "samsa",
		Short:         "Samsa: a Kafka-compatible streaming platform in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newDevCmd(),
		newServerCmd(),
		newTopicCmd(),
		newPartitionCmd(),
		newGroupCmd(),
		newClusterCmd(),
		newBrokerCmd(),
		newProduceCmd(),
		newConsumeCmd(),
	)
	return root
}
