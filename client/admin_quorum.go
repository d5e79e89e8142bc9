package client

// Controller quorum changes (KIP-853): AddRaftVoter and RemoveRaftVoter,
// which the broker forwards to the active controller.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddController adds node id, whose Raft transport listens at raftAddr
// (host:port), to the controller quorum as a voter. The node must already
// run with controller.quorum.join=true. The controller first replicates
// the metadata log to it and promotes it only once it has caught up; if it
// has not within timeout, the request fails with REQUEST_TIMED_OUT and the
// quorum is left as it was.
func (a *Admin) AddController(ctx context.Context, id int32, raftAddr string, timeout time.Duration) error {
	host, port, err := net.SplitHostPort(raftAddr)
	p, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil || host == "" || p == 0 {
		return fmt.Errorf("add controller %d: address %q: want host:port", id, raftAddr)
	}
	req := kmsg.NewPtrAddRaftVoterRequest()
	req.VoterID = id
	req.TimeoutMillis = int32(timeout.Milliseconds())
	l := kmsg.NewAddRaftVoterRequestListener()
	l.Name, l.Host, l.Port = "RAFT", host, uint16(p)
	req.Listeners = []kmsg.AddRaftVoterRequestListener{l}
	resp, err := req.RequestWith(ctx, a.kcl)
	if err != nil {
		return fmt.Errorf("add controller %d: %w", id, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("add controller %d: %w%s", id, err, msgSuffix(resp.ErrorMessage))
	}
	return nil
}

// RemoveController removes node id from the controller quorum. The active
// controller itself may be removed: it steps down and another voter takes
// over. The last voter cannot be removed.
func (a *Admin) RemoveController(ctx context.Context, id int32) error {
	req := kmsg.NewPtrRemoveRaftVoterRequest()
	req.VoterID = id
	resp, err := req.RequestWith(ctx, a.kcl)
	if err != nil {
		return fmt.Errorf("remove controller %d: %w", id, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("remove controller %d: %w%s", id, err, msgSuffix(resp.ErrorMessage))
	}
	return nil
}
