// RemoveRaftVoter (key 81), version 0 (KIP-853).
//
// Removes a voter from the controller quorum (RemoveVoter, membership.go),
// the active controller included: it commits its own removal and steps
// down. Refused: an id that is not a member (VOTER_NOT_FOUND), the last
// voter (INVALID_REQUEST), another cluster's id (INCONSISTENT_CLUSTER_ID).
//
// Deliberate deviation: VoterDirectoryID is not checked; the voter is
// named by its id alone.

package controller

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// RemoveRaftVoter removes a voter from the quorum.
func (c *Controller) RemoveRaftVoter(ctx context.Context, req *kmsg.RemoveRaftVoterRequest) (*kmsg.RemoveRaftVoterResponse, error) {
	resp := req.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
	err := c.checkClusterID(req.ClusterID)
	if err == nil {
		err = c.RemoveVoter(ctx, req.VoterID)
	}
	if err != nil {
		c.log.Info().Err(err).Int32("voter", req.VoterID).Msg("RemoveRaftVoter refused")
		resp.ErrorCode, resp.ErrorMessage = errResult(err)
	}
	return resp, nil
}
