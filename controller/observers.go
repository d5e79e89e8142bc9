package controller

// Observers: broker-only nodes follow the metadata log as Raft non-voters
// (the analogue of KRaft observers, design decision 3).
//
// A broker-only node runs a Controller with Config.Observer: the same
// Raft log store, FSM, snapshots and image publisher as a voter, but it
// never bootstraps, and since the Raft configuration never lists it as a
// voter, hashicorp/raft never lets it stand for election (a follower
// without a vote aborts its election on every heartbeat timeout) and no
// candidate asks for its vote (candidates ask voters only). It serves no
// controller listener: its broker forwards admin requests to the voters'
// controller listeners (controller.quorum.bootstrap.servers) like any
// broker.
//
// Joining needs no operator action. The broker's BrokerRegistration
// carries, besides its client listener, a listener named RAFT (as in
// AddRaftVoter, api_80_add_raft_voter.go) with the node's Raft transport
// address. The active controller commits the registration first (the
// RAFT listener is not part of the broker's registered endpoints), then
// makes the node a non-voter (raft.AddNonvoter, committed before the
// broker is answered); both steps are idempotent, so the broker's retry
// after any failure completes them. There is no chicken-and-egg: the
// registration travels over TCP to the controller listener and needs
// nothing from the log; the broker then waits until the log, which the
// leader now replicates to the node, brings its registration into its own
// image, exactly as a combined node's broker does. The broker names the
// cluster id from its configuration (cluster.id, which a broker-only node
// requires), since its image is empty until the node is a non-voter.
//
// Every Raft connection still passes the handshake (raft_transport.go):
// another cluster's id or another node's id is refused as for voters.
// Directory ids are recorded for non-voters but not enforced: a
// non-voter that lost its log never voted, so the leader simply sends the
// log (or a snapshot) again. Nor does an observer check the leader's: it
// has no vote to protect, and refusing a voter it knew with another
// directory (removed and added back while the observer was down) would
// only cut it off from the log.
//
// UnregisterBroker removes the non-voter after the registration. A
// controller that becomes active removes every non-voter whose broker is
// not registered (an unregistration whose removal was interrupted by a
// failover, or a voter whose addition was). RemoveRaftVoter can remove a
// non-voter too; its broker then stops following the log, silently (a
// removed member is not told), until it registers again (restarts).
//
// A restarted broker-only node resumes from its own raft.db; the leader,
// which kept it in the configuration, sends it what it missed.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// observerChangeTimeout bounds how long a registration waits for the
// quorum-change slot (an AddVoter waiting for its node to catch up holds
// it); the broker retries after REQUEST_TIMED_OUT.
const observerChangeTimeout = 5 * time.Second

// validateObserver checks the settings an observer must have.
func (c Config) validateObserver() []error {
	var errs []error
	if c.ClusterID == "" {
		errs = append(errs, errors.New("a broker-only node (observer) needs the cluster id: set it to the quorum's"))
	}
	if c.Join {
		errs = append(errs, errors.New("a broker-only node (observer) cannot join the quorum as a voter: drop join, or give the node the controller role"))
	}
	if _, ok := c.selfVoter(); ok {
		errs = append(errs, fmt.Errorf("a broker-only node (observer) cannot be one of the voters (%d is in the voter list)", c.NodeID))
	}
	return errs
}

// observerConfigurationChanged logs when this observer learns that it is
// a member of the Raft configuration. (A removed member rarely learns of
// its removal: the leader stops replicating to it at once.)
func (c *Controller) observerConfigurationChanged(member bool) {
	if member && !c.observing.Swap(true) {
		c.log.Info().Msg("this node is a non-voter (observer) of the metadata quorum: following the metadata log")
	}
}

// brokerRaftListener returns the Raft address a registration names in its
// RAFT listener ("" without one), and the other listeners.
func brokerRaftListener(ls []kmsg.BrokerRegistrationRequestListener) (string, []kmsg.BrokerRegistrationRequestListener, error) {
	var addr string
	var rest []kmsg.BrokerRegistrationRequestListener
	for _, l := range ls {
		if !strings.EqualFold(l.Name, RaftListenerName) {
			rest = append(rest, l)
			continue
		}
		if l.Host == "" || l.Port == 0 {
			return "", nil, errorf(kerr.InvalidRegistration, "the %s listener needs a host and a port", RaftListenerName)
		}
		addr = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
	}
	return addr, rest, nil
}

// checkObserver refuses to make node id, at Raft address addr, a
// non-voter when the configuration has it as a voter, or another member
// at that address.
func checkObserver(conf raft.Configuration, id int32, addr string) error {
	sid := serverID(id)
	for _, s := range conf.Servers {
		switch {
		case s.ID == sid && s.Suffrage == raft.Voter:
			return errorf(kerr.InvalidRegistration, "node %d is a voter of the controller quorum, but registers as a broker-only node: "+
				"give it its controller role back, or remove it from the quorum first (samsa cluster remove-controller --id %d)", id, id)
		case s.ID != sid && string(s.Address) == addr:
			return errorf(kerr.InvalidRegistration, "raft address %s of broker %d belongs to node %s of the metadata quorum (check raft.listener)", addr, id, s.ID)
		}
	}
	return nil
}

// isObserver reports whether the configuration has node id as a
// non-voter at addr.
func isObserver(conf raft.Configuration, id int32, addr string) bool {
	sid := serverID(id)
	return slices.ContainsFunc(conf.Servers, func(s raft.Server) bool {
		return s.ID == sid && s.Suffrage != raft.Voter && string(s.Address) == addr
	})
}

// precheckObserver is checkObserver on the latest configuration, before a
// registration is committed.
func (c *Controller) precheckObserver(id int32, addr string) error {
	if !c.IsLeader() {
		return ErrNotController
	}
	conf, err := c.configuration()
	if err != nil {
		return err
	}
	return checkObserver(conf, id, addr)
}

// ensureObserver makes node id, whose Raft transport listens at addr, a
// non-voter of the quorum, unless it is one at that address already. It
// returns once the change is committed.
func (c *Controller) ensureObserver(ctx context.Context, id int32, addr string) error {
	if !c.IsLeader() {
		return ErrNotController
	}
	if conf, err := c.configuration(); err == nil && isObserver(conf, id, addr) {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, observerChangeTimeout)
	defer cancel()
	release, err := c.acquireReconfig(wctx)
	if err != nil {
		return err
	}
	defer release()
	conf, err := c.configuration()
	if err != nil {
		return err
	}
	if err := checkObserver(conf, id, addr); err != nil {
		return err
	}
	if isObserver(conf, id, addr) {
		return nil
	}
	c.stream.setPeer(addr, id)
	c.stream.markNonvoter(id)
	sid := serverID(id)
	if err := c.raft.AddNonvoter(sid, raft.ServerAddress(addr), 0, applyEnqueueTimeout).Error(); err != nil {
		return commitError(err)
	}
	c.log.Info().Int32("observer", id).Str("raft_addr", addr).Msg("broker-only node added to the metadata quorum as a non-voter (observer)")
	return nil
}

// removeObserver removes node id from the quorum if it is a non-voter.
func (c *Controller) removeObserver(ctx context.Context, id int32) error {
	conf, err := c.configuration()
	if err != nil {
		return err
	}
	sid := serverID(id)
	if !slices.ContainsFunc(conf.Servers, func(s raft.Server) bool { return s.ID == sid && s.Suffrage != raft.Voter }) {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, observerChangeTimeout)
	defer cancel()
	release, err := c.acquireReconfig(wctx)
	if err != nil {
		return err
	}
	defer release()
	return c.removeNonvoterLocked(id)
}

// removeNonvoterLocked removes node id if the latest configuration has it
// as a non-voter; the caller holds the quorum-change slot.
func (c *Controller) removeNonvoterLocked(id int32) error {
	conf, err := c.configuration()
	if err != nil {
		return err
	}
	sid := serverID(id)
	if !slices.ContainsFunc(conf.Servers, func(s raft.Server) bool { return s.ID == sid && s.Suffrage != raft.Voter }) {
		return nil
	}
	if err := c.raft.RemoveServer(sid, 0, applyEnqueueTimeout).Error(); err != nil {
		return commitError(err)
	}
	c.log.Info().Int32("observer", id).Msg("non-voter removed from the metadata quorum")
	return nil
}

// forgetUnregisteredObservers removes, on a controller that has just
// become active, every non-voter whose broker is not registered. It skips
// the pass when a quorum change is under way (an AddVoter's new member is
// a non-voter until it has caught up).
func (c *Controller) forgetUnregisteredObservers() {
	select {
	case c.reconfig <- struct{}{}:
	default:
		return
	}
	defer func() { <-c.reconfig }()
	conf, err := c.configuration()
	if err != nil {
		return
	}
	img := c.fsm.Image()
	for _, s := range conf.Servers {
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil || s.Suffrage == raft.Voter {
			continue
		}
		if _, registered := img.Broker(int32(id)); registered {
			continue
		}
		if err := c.removeNonvoterLocked(int32(id)); err != nil {
			c.log.Warn().Err(err).Int32("observer", int32(id)).Msg("could not remove a non-voter whose broker is not registered")
			return
		}
	}
}
