// AddRaftVoter (key 80), versions 0-1 (KIP-853).
//
// Adds a voter to the controller quorum (AddVoter, membership.go). The new
// voter is named by its id and one listener called RAFT, its Raft
// transport address (host:port): this quorum's members reach each other
// over the Raft transport, not the controller listener, so the listeners
// KRaft uses (CONTROLLER) carry nothing the leader could use. The node must
// already run with controller.quorum.join; the request answers once the
// node has caught up and its promotion to voter is committed, whatever
// AckWhenCommitted says (v1), or fails with REQUEST_TIMED_OUT after
// TimeoutMillis and leaves the quorum as it was.
//
// Deliberate deviation: VoterDirectoryID is not checked against the new
// node's directory id (the leader records the one the node presents in
// its first Raft handshake).

package controller

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// RaftListenerName is the listener of an AddRaftVoter request that names
// the new voter's Raft transport address.
const RaftListenerName = "RAFT"

// AddRaftVoter adds a voter to the quorum.
func (c *Controller) AddRaftVoter(ctx context.Context, req *kmsg.AddRaftVoterRequest) (*kmsg.AddRaftVoterResponse, error) {
	resp := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
	addr, err := c.checkAddRaftVoter(req)
	if err == nil {
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		if timeout <= 0 {
			timeout = 15 * time.Second
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		err = c.AddVoter(wctx, req.VoterID, addr)
		cancel()
	}
	if err != nil {
		c.log.Info().Err(err).Int32("voter", req.VoterID).Msg("AddRaftVoter refused")
		resp.ErrorCode, resp.ErrorMessage = errResult(err)
	}
	return resp, nil
}

// checkAddRaftVoter validates the request and returns the Raft address.
func (c *Controller) checkAddRaftVoter(req *kmsg.AddRaftVoterRequest) (string, error) {
	if err := c.checkClusterID(req.ClusterID); err != nil {
		return "", err
	}
	if req.VoterID < 0 {
		return "", errorf(kerr.InvalidRequest, "voter id %d is negative", req.VoterID)
	}
	for _, l := range req.Listeners {
		if !strings.EqualFold(l.Name, RaftListenerName) {
			continue
		}
		if l.Host == "" || l.Port == 0 {
			return "", errorf(kerr.InvalidRequest, "the %s listener needs a host and a port", RaftListenerName)
		}
		return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))), nil
	}
	return "", errorf(kerr.InvalidRequest, "no listener named %s: name the new voter's Raft transport address (host:port) in a listener called %s",
		RaftListenerName, RaftListenerName)
}

// checkClusterID refuses a request that names another cluster.
func (c *Controller) checkClusterID(id *string) error {
	if id != nil && *id != "" && *id != c.clusterID {
		return errorf(kerr.InconsistentClusterID, "the request names cluster %q, this is cluster %q", *id, c.clusterID)
	}
	return nil
}
