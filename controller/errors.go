package controller

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrClusterIDMismatch: the data directory belongs to another cluster
	// than the configured one. The node refuses to start.
	ErrClusterIDMismatch = errors.New("controller: cluster id mismatch")
	// ErrDataDirMismatch: the data directory belongs to another node, or
	// its meta.properties is missing or unreadable.
	ErrDataDirMismatch = errors.New("controller: data directory does not match this node")
	// ErrNodeIDMismatch: the other voters do not know this node by its id
	// at its address (node.id or controller.quorum.voters is wrong). The
	// node refuses to start.
	ErrNodeIDMismatch = errors.New("controller: node id mismatch")
	// ErrLogLost: this node was a voter, but its Raft log (and with it
	// every vote it cast and every entry it acknowledged) is gone: its data
	// directory, or raft.db, was wiped or replaced. Rejoining as the same
	// voter with an empty log could let two leaders be elected in one term
	// and lose committed metadata, so the node refuses to start; the
	// operator removes it from the quorum and adds it back as a new member.
	ErrLogLost = errors.New("controller: raft log lost")
	// ErrCorruptLog: raft.db cannot be read. The node refuses to start.
	ErrCorruptLog = errors.New("controller: raft log corrupt")
	// ErrNotController wraps kerr.NotController: this node is not the
	// active controller (the Raft leader), or stopped being it before the
	// operation committed.
	ErrNotController error = &apiError{code: kerr.NotController, msg: "this node is not the active controller"}
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("controller: closed")
)

// apiError carries a Kafka error code and a message for the client; its
// Error() is the message alone (protocol.ErrorMessage puts it in the
// response as is).
type apiError struct {
	code *kerr.Error
	msg  string
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.code }

func errorf(code *kerr.Error, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// commitError classifies an error from raft.Apply. Every one of these
// means this node cannot answer for the outcome, so the client is told to
// find the active controller and retry: ErrLeadershipLost in particular
// means the entry may still commit under the next leader, so it must not
// be reported as a failure of the operation itself.
func commitError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrRaftShutdown),
		errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w (%v)", ErrNotController, err)
	}
	return fmt.Errorf("controller: commit: %w: %w", kerr.UnknownServerError, err)
}
