package node

import (
	"context"
	"errors"
	"fmt"
)

// Kill stops the node as abruptly as code inside the process can, for
// in-process tests of failure (client/samsatest): gossip shuts down without
// a leave message, so the other nodes notice the failure only when it
// misses its probes (as after kill -9, not at once as after Shutdown); the
// broker stops with no grace (listeners and client connections closed,
// in-flight requests abandoned); the controller closes Raft without handing
// over leadership. Unlike kill -9 it cannot lose what the operating system
// has not written to disk, and the logs are closed rather than left
// mid-write: it tests failover, not crash recovery (test/crash_test.go does
// that with real processes). The node cannot be used afterwards; start a new
// one on the same Config to bring it back.
func (n *Node) Kill() error {
	var errs []error
	if n.gossip != nil {
		if err := n.gossip.Kill(); err != nil {
			errs = append(errs, fmt.Errorf("gossip: %w", err))
		}
	}
	if n.brk != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no grace: connections are closed at once
		if err := n.brk.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("broker: %w", err))
		}
	}
	if err := n.ctrl.Close(); err != nil {
		errs = append(errs, fmt.Errorf("controller: %w", err))
	}
	return errors.Join(errs...)
}
