package controller

// Online quorum changes (KIP-853 AddRaftVoter / RemoveRaftVoter) and the
// refusals that protect Raft's safety when a voter lost its disk, over real
// Raft on loopback TCP.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// addJoiner configures node id to join q's cluster (Config.Join), on a
// fresh data directory and a new Raft listener, and returns its index.
func (q *quorum) addJoiner(id int32) int {
	q.t.Helper()
	ln := bindListeners(q.t, "127.0.0.1", 1)[0]
	cfg := testConfig(q.t, q.t.TempDir())
	cfg.NodeID = id
	cfg.ClusterID = q.cfgs[0].ClusterID
	cfg.Voters = q.cfgs[0].Voters // the bootstrap list, without this node
	cfg.Join = true
	cfg.RaftBindAddr = ln.Addr().String()
	cfg.RaftListener = ln
	q.cfgs = append(q.cfgs, cfg)
	q.ctrls = append(q.ctrls, nil)
	return len(q.cfgs) - 1
}

// addVoterReq is an AddRaftVoter request for node id at raftAddr.
func addVoterReq(id int32, raftAddr string, timeout time.Duration) *kmsg.AddRaftVoterRequest {
	req := kmsg.NewPtrAddRaftVoterRequest()
	req.VoterID = id
	req.TimeoutMillis = int32(timeout.Milliseconds())
	host, port, _ := strings.Cut(raftAddr, ":")
	p, _ := strconv.Atoi(port)
	req.Listeners = []kmsg.AddRaftVoterRequestListener{{Name: "raft", Host: host, Port: uint16(p)}}
	return req
}

func addVoter(t *testing.T, c *Controller, id int32, raftAddr string, timeout time.Duration) (int16, string) {
	t.Helper()
	resp, err := c.AddRaftVoter(ctx(t), addVoterReq(id, raftAddr, timeout))
	if err != nil {
		t.Fatal(err)
	}
	return resp.ErrorCode, deref(resp.ErrorMessage)
}

func removeVoter(t *testing.T, c *Controller, id int32) (int16, string) {
	t.Helper()
	req := kmsg.NewPtrRemoveRaftVoterRequest()
	req.VoterID = id
	resp, err := c.RemoveRaftVoter(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.ErrorCode, deref(resp.ErrorMessage)
}

// quorumOf returns the voters and observers the leader describes.
func quorumOf(t *testing.T, c *Controller) (voters, observers []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) {
	t.Helper()
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(1)
	req.Topics = []kmsg.DescribeQuorumRequestTopic{{Topic: MetadataTopic, Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}}}
	resp, err := c.DescribeQuorum(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("DescribeQuorum on the leader: %s", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.CurrentVoters, p.Observers
}

func replicaIDs(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) []int32 {
	var ids []int32
	for _, r := range rs {
		ids = append(ids, r.ReplicaID)
	}
	slices.Sort(ids)
	return ids
}

// waitVoters waits until the leader describes exactly the voters want.
func waitVoters(t *testing.T, q *quorum, want ...int32) int {
	t.Helper()
	var l int
	waitFor(t, 10*time.Second, func() error {
		l = q.leader()
		voters, _ := quorumOf(t, q.ctrls[l])
		if got := replicaIDs(voters); !slices.Equal(got, want) {
			return fmt.Errorf("voters %v, want %v", got, want)
		}
		return nil
	})
	return l
}

// TestReplaceDeadVoterOnline is KIP-853's procedure for a lost controller:
// with one of three voters dead, a fourth node started with Join is added
// (as a non-voter until it has caught up, then a voter), the dead one is
// removed, and the quorum commits throughout; DescribeQuorum follows the
// Raft configuration, with every live follower's progress known; a restart
// of every node keeps the new configuration (the bootstrap voter list is
// not consulted again).
func TestReplaceDeadVoterOnline(t *testing.T) {
	q := newQuorum(t, 3, "replace-voter")
	q.startAll()
	l := q.leader()
	register(t, q.ctrls[l], 1)
	createTopic(t, q.ctrls[l], "before", 1, 1, nil)

	dead := (l + 1) % 3
	q.stop(dead)
	createTopic(t, q.ctrls[q.leader()], "one-down", 1, 1, nil)

	four := q.addJoiner(4)
	q.start(four) // returns at once: a joining node waits to be added
	if q.ctrls[four].IsLeader() || q.ctrls[four].Image().ClusterID() != "" {
		t.Fatal("a joining node bootstrapped on its own")
	}
	l = q.leader()
	if code, msg := addVoter(t, q.ctrls[l], 4, q.ctrls[four].RaftAddr(), 10*time.Second); code != 0 {
		t.Fatalf("AddRaftVoter 4: %s %s", kerr.ErrorForCode(code), msg)
	}
	q.waitReady(four)
	l = waitVoters(t, q, 1, 2, 3, 4)
	createTopic(t, q.ctrls[l], "four-voters", 1, 1, nil)

	// Refusals, with Kafka's codes.
	if code, msg := addVoter(t, q.ctrls[l], 4, q.ctrls[four].RaftAddr(), time.Second); code != kerr.DuplicateVoter.Code || !strings.Contains(msg, "already a voter") {
		t.Errorf("adding voter 4 twice: %s %q, want DUPLICATE_VOTER", kerr.ErrorForCode(code), msg)
	}
	if code, _ := removeVoter(t, q.ctrls[l], 9); code != kerr.VoterNotFound.Code {
		t.Errorf("removing unknown voter 9: %s, want VOTER_NOT_FOUND", kerr.ErrorForCode(code))
	}
	for i, c := range q.ctrls {
		if c == nil || i == l {
			continue
		}
		if code, _ := removeVoter(t, c, 1); code != kerr.NotController.Code {
			t.Errorf("RemoveRaftVoter on follower %d: %s, want NOT_CONTROLLER", i+1, kerr.ErrorForCode(code))
		}
	}

	if code, msg := removeVoter(t, q.ctrls[l], int32(dead+1)); code != 0 {
		t.Fatalf("RemoveRaftVoter %d: %s %s", dead+1, kerr.ErrorForCode(code), msg)
	}
	var live []int32
	for i, c := range q.ctrls {
		if c != nil {
			live = append(live, q.cfgs[i].NodeID)
		}
	}
	slices.Sort(live)
	l = waitVoters(t, q, live...)
	createTopic(t, q.ctrls[l], "dead-removed", 1, 1, nil)

	// The leader knows every live follower's progress (KIP-595 fields).
	waitFor(t, 10*time.Second, func() error {
		voters, _ := quorumOf(t, q.ctrls[q.leader()])
		for _, v := range voters {
			if v.LogEndOffset < 1 || v.LastFetchTimestamp < 0 || v.LastCaughtUpTimestamp < 0 {
				return fmt.Errorf("voter %d's progress is unknown: %+v", v.ReplicaID, v)
			}
		}
		return nil
	})

	// Every remaining node restarts with the new configuration.
	for i := range q.ctrls {
		q.stop(i)
	}
	for i := range q.cfgs {
		if i != dead {
			q.start(i)
		}
	}
	for i := range q.cfgs {
		if i != dead {
			q.waitReady(i)
		}
	}
	l = waitVoters(t, q, live...)
	createTopic(t, q.ctrls[l], "after-restart", 1, 1, nil)
	for _, name := range []string{"before", "one-down", "four-voters", "dead-removed"} {
		if _, ok := q.ctrls[l].Image().TopicByName(name); !ok {
			t.Errorf("topic %q lost", name)
		}
	}
}

// TestRemoveActiveController removes the leader itself: it commits its
// own removal and steps down, another voter takes over and serves, and the
// removed node takes no further part.
func TestRemoveActiveController(t *testing.T) {
	q := newQuorum(t, 3, "remove-leader")
	q.startAll()
	l := q.leader()
	register(t, q.ctrls[l], 1)
	if code, msg := removeVoter(t, q.ctrls[l], int32(l+1)); code != 0 {
		t.Fatalf("removing the active controller: %s %s", kerr.ErrorForCode(code), msg)
	}
	var next int
	waitFor(t, 10*time.Second, func() error {
		next = q.leader()
		if next == l {
			return errors.New("the removed node still leads")
		}
		return nil
	})
	var want []int32
	for i := range q.cfgs {
		if i != l {
			want = append(want, int32(i+1))
		}
	}
	waitVoters(t, q, want...)
	createTopic(t, q.ctrls[next], "after-removal", 1, 1, nil)

	// The last voter cannot be removed.
	if code, _ := removeVoter(t, q.ctrls[next], int32(next+1)); code != 0 {
		t.Fatalf("removing down to one voter: %s", kerr.ErrorForCode(code))
	}
	last := q.leader()
	waitVoters(t, q, int32(last+1))
	if code, msg := removeVoter(t, q.ctrls[last], int32(last+1)); code != kerr.InvalidRequest.Code || !strings.Contains(msg, "last voter") {
		t.Fatalf("removing the last voter: %s %q, want INVALID_REQUEST", kerr.ErrorForCode(code), msg)
	}
}

// TestAddVoterThatNeverCatchesUpLeavesQuorumUnchanged adds a node that is
// not running: the request fails with REQUEST_TIMED_OUT and the quorum is
// as before (a dead voter was never added, so the majority is unchanged).
// A request without the RAFT listener, or of another cluster, is refused.
func TestAddVoterThatNeverCatchesUpLeavesQuorumUnchanged(t *testing.T) {
	q := newQuorum(t, 3, "no-catch-up")
	q.startAll()
	nowhere := reserveAddrs(t, "127.0.0.1", 1)[0]
	// A loaded machine can move the leadership meanwhile: ask the new
	// leader then (the quorum must still end unchanged).
	var l int
	var code int16
	var msg string
	for range 5 {
		l = q.leader()
		if code, msg = addVoter(t, q.ctrls[l], 7, nowhere, 500*time.Millisecond); code != kerr.NotController.Code {
			break
		}
	}
	if code != kerr.RequestTimedOut.Code || !strings.Contains(msg, "did not catch up") {
		t.Fatalf("adding an absent node: %s %q, want REQUEST_TIMED_OUT", kerr.ErrorForCode(code), msg)
	}
	waitVoters(t, q, 1, 2, 3)
	if _, observers := quorumOf(t, q.ctrls[q.leader()]); len(observers) != 0 {
		t.Fatalf("the absent node is still a member: observers %v", replicaIDs(observers))
	}

	l = q.leader()
	req := addVoterReq(7, nowhere, time.Second)
	req.Listeners[0].Name = "CONTROLLER"
	resp, _ := q.ctrls[l].AddRaftVoter(ctx(t), req)
	expectCode(t, "AddRaftVoter without a RAFT listener", resp.ErrorCode, resp.ErrorMessage, kerr.InvalidRequest, "RAFT")
	req = addVoterReq(7, nowhere, time.Second)
	other := "another-cluster"
	req.ClusterID = &other
	resp, _ = q.ctrls[l].AddRaftVoter(ctx(t), req)
	expectCode(t, "AddRaftVoter of another cluster", resp.ErrorCode, resp.ErrorMessage, kerr.InconsistentClusterID, "another-cluster")
	if code, _ := addVoter(t, q.ctrls[l], 7, q.ctrls[(l+1)%3].RaftAddr(), time.Second); code != kerr.DuplicateVoter.Code {
		t.Errorf("adding a node at a voter's address: %s, want DUPLICATE_VOTER", kerr.ErrorForCode(code))
	}
}

// TestWipedVoterRefusesToStart wipes a follower's data directory: started
// again as the voter it was, it would be an empty voter that may vote a
// second time in a term, so it refuses to start (ErrLogLost) and says how
// to replace it; removed and added back as a joining node, it is a voter
// again. A voter whose raft.db alone was deleted refuses too.
func TestWipedVoterRefusesToStart(t *testing.T) {
	q := newQuorum(t, 3, "wiped-voter")
	q.startAll()
	l := q.leader()
	register(t, q.ctrls[l], 1)
	createTopic(t, q.ctrls[l], "kept", 1, 1, nil)
	f := (l + 1) % 3
	id := q.cfgs[f].NodeID

	q.stop(f)
	if err := os.Remove(filepath.Join(q.cfgs[f].DataDir, "raft", "raft.db")); err != nil {
		t.Fatal(err)
	}
	c, _ := New(q.cfgs[f])
	err := c.Start(ctx(t))
	if !errors.Is(err, ErrLogLost) || !strings.Contains(err.Error(), "raft.db") || !strings.Contains(err.Error(), "remove-controller --id "+strconv.Itoa(int(id))) {
		t.Fatalf("restart without raft.db: %v, want ErrLogLost naming raft.db and remove-controller", err)
	}

	if err := os.RemoveAll(q.cfgs[f].DataDir); err != nil {
		t.Fatal(err)
	}
	c, _ = New(q.cfgs[f])
	err = c.Start(ctx(t))
	if err == nil {
		err = c.WaitReady(ctx(t))
		c.Close()
	}
	if !errors.Is(err, ErrLogLost) || !strings.Contains(err.Error(), "remove-controller --id "+strconv.Itoa(int(id))) ||
		!strings.Contains(err.Error(), "controller.quorum.join") {
		t.Fatalf("restart on a wiped data directory: %v, want ErrLogLost with the procedure", err)
	}
	createTopic(t, q.ctrls[q.leader()], "still-served", 1, 1, nil)

	// The procedure: remove it, then add it back as a new member.
	l = q.leader()
	if code, msg := removeVoter(t, q.ctrls[l], id); code != 0 {
		t.Fatalf("RemoveRaftVoter %d: %s %s", id, kerr.ErrorForCode(code), msg)
	}
	if err := os.RemoveAll(q.cfgs[f].DataDir); err != nil {
		t.Fatal(err)
	}
	q.cfgs[f].Join = true
	q.start(f)
	if code, msg := addVoter(t, q.ctrls[q.leader()], id, q.cfgs[f].Voters[f].Addr, 10*time.Second); code != 0 {
		t.Fatalf("AddRaftVoter %d: %s %s", id, kerr.ErrorForCode(code), msg)
	}
	q.waitReady(f)
	waitVoters(t, q, 1, 2, 3)
	if _, ok := q.ctrls[f].Image().TopicByName("still-served"); !ok {
		t.Fatal("the re-added voter did not receive the log")
	}
}

// TestCorruptRaftLogRefusesToStart overwrites raft.db (both bolt meta
// pages, then a truncated file): the controller refuses to start with
// ErrCorruptLog naming the file, rather than starting on a log it cannot
// trust.
func TestCorruptRaftLogRefusesToStart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(path string) error
	}{
		{"garbage header", func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			junk := make([]byte, 32<<10)
			for i := range junk {
				junk[i] = 0xAB
			}
			_, err = f.WriteAt(junk, 0)
			return err
		}},
		{"truncated", func(path string) error { return os.Truncate(path, 100) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir)
			c := start(t, cfg)
			register(t, c, 1)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "raft", "raft.db")
			if err := tc.corrupt(path); err != nil {
				t.Fatal(err)
			}
			c2, _ := New(cfg)
			err := c2.Start(ctx(t))
			if !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Start on a corrupt raft.db: %v, want ErrCorruptLog naming %s", err, path)
			}
		})
	}
}

// TestJoinNeedsClusterID: a joining node takes the quorum's cluster id
// from its configuration, so it must be set; a node outside the bootstrap
// voters must join.
func TestJoinNeedsClusterID(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID = 4
	cfg.Voters = []Voter{{ID: 1, Addr: "127.0.0.1:1"}, {ID: 2, Addr: "127.0.0.1:2"}}
	cfg.ClusterID = "c"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "controller.quorum.join") {
		t.Fatalf("a node outside the voters without join: %v", err)
	}
	cfg.Join = true
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a joining node: %v", err)
	}
	cfg.ClusterID = ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "cluster id") {
		t.Fatalf("a joining node without a cluster id: %v", err)
	}
}
