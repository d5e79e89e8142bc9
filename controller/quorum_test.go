package controller

// Three-voter quorums in one process: election, replication of the
// metadata log to every voter, failover when the active controller stops,
// catch-up on restart, and the refusals of misconfigured voters.

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reserveAddrs returns n loopback addresses with free ports, for voters
// that are never started (the ports are free now, nothing more).
func reserveAddrs(t *testing.T, host string, n int) []string {
	t.Helper()
	var addrs []string
	for _, ln := range bindListeners(t, host, n) {
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
	}
	return addrs
}

// bindListeners binds n listeners on host's free ports. Voters need their
// peers' addresses before any of them starts, so the tests bind every
// Raft listener first and hand it to its controller (Config.RaftListener):
// no other process can take a port in between.
func bindListeners(t *testing.T, host string, n int) []net.Listener {
	t.Helper()
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	return lns
}

// quorum is a set of in-process voters.
type quorum struct {
	t     *testing.T
	cfgs  []Config
	ctrls []*Controller // nil when stopped
}

// newQuorum configures n voters (ids 1..n) of cluster clusterID.
func newQuorum(t *testing.T, n int, clusterID string) *quorum {
	lns := bindListeners(t, "127.0.0.1", n)
	var voters []Voter
	for i, ln := range lns {
		voters = append(voters, Voter{ID: int32(i + 1), Addr: ln.Addr().String()})
	}
	q := &quorum{t: t, ctrls: make([]*Controller, n)}
	for i := range n {
		cfg := testConfig(t, t.TempDir())
		cfg.NodeID = int32(i + 1)
		cfg.ClusterID = clusterID
		cfg.Voters = voters
		cfg.RaftBindAddr = voters[i].Addr
		cfg.RaftListener = lns[i]
		q.cfgs = append(q.cfgs, cfg)
	}
	t.Cleanup(func() {
		for i := range q.ctrls {
			q.stop(i)
		}
		for _, cfg := range q.cfgs {
			if cfg.RaftListener != nil {
				cfg.RaftListener.Close() // never started
			}
		}
	})
	return q
}

// startAll starts every voter, then waits until each has the metadata.
func (q *quorum) startAll() {
	q.t.Helper()
	for i := range q.cfgs {
		q.start(i)
	}
	for i := range q.cfgs {
		q.waitReady(i)
	}
}

// start starts voter i: the first time on its pre-bound listener, after a
// stop by binding its address again.
func (q *quorum) start(i int) {
	q.t.Helper()
	cfg := q.cfgs[i]
	q.cfgs[i].RaftListener = nil // the controller owns (and closes) it now
	c, err := New(cfg)
	if err != nil {
		q.t.Fatalf("voter %d: New: %v", i+1, err)
	}
	if err := c.Start(ctx(q.t)); err != nil {
		q.t.Fatalf("voter %d: Start: %v", i+1, err)
	}
	q.ctrls[i] = c
}

func (q *quorum) waitReady(i int) {
	q.t.Helper()
	if err := q.ctrls[i].WaitReady(ctx(q.t)); err != nil {
		q.t.Fatalf("voter %d: WaitReady: %v", i+1, err)
	}
}

func (q *quorum) stop(i int) {
	if q.ctrls[i] == nil {
		return
	}
	if err := q.ctrls[i].Close(); err != nil {
		q.t.Errorf("voter %d: Close: %v", i+1, err)
	}
	q.ctrls[i] = nil
}

// leader waits until exactly one running voter is the active controller
// and returns its index.
func (q *quorum) leader() int {
	q.t.Helper()
	idx := -1
	waitFor(q.t, 10*time.Second, func() error {
		idx = -1
		for i, c := range q.ctrls {
			if c == nil || !c.IsLeader() {
				continue
			}
			if idx >= 0 {
				return fmt.Errorf("voters %d and %d are both active", idx+1, i+1)
			}
			idx = i
		}
		if idx < 0 {
			return errors.New("no active controller")
		}
		return nil
	})
	return idx
}

// TestThreeVotersReplicateAndFailOver checks the quorum's promises: every
// voter applies the same log; when the active controller stops, another
// voter takes over and serves admin requests, with every change that was
// acknowledged before still there; a restarted voter catches up.
func TestThreeVotersReplicateAndFailOver(t *testing.T) {
	q := newQuorum(t, 3, "three-voters")
	q.startAll()
	first := q.leader()
	register(t, q.ctrls[first], 3)
	for _, name := range []string{"a", "b", "c"} {
		createTopic(t, q.ctrls[first], name, 3, 1, nil)
	}
	acked := q.ctrls[first].Image()
	for i, c := range q.ctrls {
		if err := c.WaitForOffset(ctx(t), acked.Offset()); err != nil {
			t.Fatalf("voter %d did not apply offset %d: %v", i+1, acked.Offset(), err)
		}
		if _, ok := c.Image().TopicByName("c"); !ok || c.Image().ClusterID() != "three-voters" {
			t.Fatalf("voter %d: image without topic c or with cluster %q", i+1, c.Image().ClusterID())
		}
	}

	checkDescribeQuorum(t, q, first)

	q.stop(first)
	second := q.leader()
	if second == first {
		t.Fatal("the stopped voter is still the leader")
	}
	createTopic(t, q.ctrls[second], "after-failover", 1, 1, nil)
	img := q.ctrls[second].Image()
	for _, name := range []string{"a", "b", "c", "after-failover"} {
		if _, ok := img.TopicByName(name); !ok {
			t.Fatalf("topic %q missing on the new active controller", name)
		}
	}

	q.start(first)
	q.waitReady(first)
	if err := q.ctrls[first].WaitForOffset(ctx(t), img.Offset()); err != nil {
		t.Fatalf("restarted voter did not catch up: %v", err)
	}
	if _, ok := q.ctrls[first].Image().TopicByName("after-failover"); !ok {
		t.Fatal("restarted voter misses the topic created while it was down")
	}
}

// TestVoterOfAnotherClusterRefusesToStart starts a voter whose cluster id
// differs from its peers': the peers form the quorum without it, and it
// fails WaitReady with ErrClusterIDMismatch, naming both ids.
func TestVoterOfAnotherClusterRefusesToStart(t *testing.T) {
	q := newQuorum(t, 3, "good-cluster")
	q.cfgs[2].ClusterID = "other-cluster"
	for i := range q.cfgs {
		q.start(i)
	}
	q.waitReady(0)
	q.waitReady(1)
	err := q.ctrls[2].WaitReady(ctx(t))
	if !errors.Is(err, ErrClusterIDMismatch) || !strings.Contains(err.Error(), "good-cluster") ||
		!strings.Contains(err.Error(), "other-cluster") {
		t.Fatalf("WaitReady of the foreign voter: %v, want a cluster id mismatch naming both ids", err)
	}
	l := q.leader()
	register(t, q.ctrls[l], 1)
	createTopic(t, q.ctrls[l], "still-works", 1, 1, nil)
}

// TestVoterWithAnotherVotersIDRefusesToStart starts a node that claims
// voter 2's id from voter 3's host (the same port on another loopback
// address, as when a config file is copied between machines without
// changing node.id): before it takes part in Raft it dials its own
// address in the voter list, reaches the real voter 2, and refuses to
// start with ErrNodeIDMismatch; voters 1 and 2 keep working.
func TestVoterWithAnotherVotersIDRefusesToStart(t *testing.T) {
	q := newQuorum(t, 3, "dup-ids")
	port := q.cfgs[1].RaftBindAddr[strings.LastIndex(q.cfgs[1].RaftBindAddr, ":")+1:]
	voters := append([]Voter(nil), q.cfgs[0].Voters...)
	voters[2].Addr = net.JoinHostPort("127.0.0.2", port)
	for i := range q.cfgs {
		q.cfgs[i].Voters = voters
	}
	if ln, err := net.Listen("tcp", voters[2].Addr); err != nil {
		t.Skipf("cannot bind 127.0.0.2 here: %v", err)
	} else {
		ln.Close()
	}
	q.start(0)
	q.start(1)
	impostor := q.cfgs[1]
	impostor.RaftListener = nil
	impostor.DataDir = t.TempDir()
	impostor.RaftBindAddr = voters[2].Addr
	c, err := New(impostor)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(ctx(t))
	if !errors.Is(err, ErrNodeIDMismatch) || !strings.Contains(err.Error(), "another process answers") {
		t.Fatalf("Start of the impostor: %v, want a node id mismatch", err)
	}
	q.waitReady(0)
	q.waitReady(1)
	l := q.leader()
	register(t, q.ctrls[l], 1)
	createTopic(t, q.ctrls[l], "still-works", 1, 1, nil)
}

// TestVoterThatCannotReachItselfRefusesToStart starts a voter whose entry
// in the voter list names an address where nothing listens (a wrong
// node.id or raft.listener): it refuses to start instead of joining Raft
// under an identity it cannot prove.
func TestVoterThatCannotReachItselfRefusesToStart(t *testing.T) {
	defer func(d time.Duration) { selfCheckTimeout = d }(selfCheckTimeout)
	selfCheckTimeout = 300 * time.Millisecond
	addrs := reserveAddrs(t, "127.0.0.1", 3)
	cfg := testConfig(t, t.TempDir())
	cfg.ClusterID = "unreachable"
	cfg.Voters = []Voter{{ID: 1, Addr: addrs[0]}, {ID: 2, Addr: addrs[1]}, {ID: 3, Addr: addrs[2]}}
	cfg.RaftBindAddr = "127.0.0.1:0"
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(ctx(t))
	if !errors.Is(err, ErrNodeIDMismatch) || !strings.Contains(err.Error(), "cannot reach itself") {
		t.Fatalf("Start: %v, want a node id mismatch", err)
	}
}

// TestHandshakeRefusesForeignPeers checks the stream layer directly: a
// dialer of another cluster, one that expects another node, and a
// connection that is not a samsa handshake are all refused with the
// reason; a good dial gets through.
func TestHandshakeRefusesForeignPeers(t *testing.T) {
	addr := reserveAddrs(t, "127.0.0.1", 1)[0]
	voters := []Voter{{ID: 1, Addr: addr}, {ID: 2, Addr: "127.0.0.1:1"}}
	acceptor, err := newStreamLayer(nil, addr, "", "c1", 1, voters)
	if err != nil {
		t.Fatal(err)
	}
	defer acceptor.Close()
	go func() {
		for {
			conn, err := acceptor.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 1)
				if _, err := conn.Read(buf); err == nil {
					conn.Write(buf) // echo one byte after a good handshake
				}
			}()
		}
	}()
	dial := func(cluster string, from int32, expect []Voter) error {
		s := &streamLayer{clusterID: cluster, nodeID: from, peerIDs: map[string]int32{}, refused: map[string]*PeerRefusedError{}}
		for _, v := range expect {
			s.peerIDs[v.Addr] = v.ID
		}
		conn, err := s.Dial(raft.ServerAddress(addr), time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.Write([]byte{7}); err != nil {
			return err
		}
		buf := make([]byte, 1)
		if _, err := conn.Read(buf); err != nil || buf[0] != 7 {
			return fmt.Errorf("echo: %v %v", buf, err)
		}
		return nil
	}
	if err := dial("c1", 2, voters); err != nil {
		t.Fatalf("good dial: %v", err)
	}
	var refused *PeerRefusedError
	if err := dial("c2", 2, voters); !errors.As(err, &refused) || !strings.Contains(err.Error(), "cluster id mismatch") {
		t.Fatalf("dial from another cluster: %v", err)
	}
	if err := dial("c1", 2, []Voter{{ID: 3, Addr: addr}}); !errors.As(err, &refused) || !strings.Contains(err.Error(), "node id mismatch") {
		t.Fatalf("dial expecting another node: %v", err)
	}
	if err := dial("c1", 1, voters); !errors.As(err, &refused) || !refused.duplicateID() {
		t.Fatalf("dial claiming the acceptor's id: %v", err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	status, msg, err := readAnswer(conn)
	if err != nil || status != handshakeBad || !strings.Contains(msg, "not a samsa raft handshake") {
		t.Fatalf("foreign protocol: status %d %q %v", status, msg, err)
	}
}

// checkDescribeQuorum checks DescribeQuorum (KIP-595): the leader answers
// with itself, its term and every voter; a follower answers
// NOT_LEADER_OR_FOLLOWER and names the leader; another topic is unknown.
func checkDescribeQuorum(t *testing.T, q *quorum, leader int) {
	t.Helper()
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.Topics = []kmsg.DescribeQuorumRequestTopic{
		{Topic: MetadataTopic, Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}},
		{Topic: "other", Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}},
	}
	for i, c := range q.ctrls {
		resp, err := c.DescribeQuorum(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.LeaderID != int32(leader+1) || p.LeaderEpoch < 1 {
			t.Errorf("voter %d: leader %d epoch %d, want leader %d", i+1, p.LeaderID, p.LeaderEpoch, leader+1)
		}
		if other := resp.Topics[1].Partitions[0].ErrorCode; other != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("voter %d: another topic answered %d", i+1, other)
		}
		if i != leader {
			if p.ErrorCode != kerr.NotLeaderForPartition.Code {
				t.Errorf("follower %d answered error %d", i+1, p.ErrorCode)
			}
			continue
		}
		var ids []int32
		for _, v := range p.CurrentVoters {
			ids = append(ids, v.ReplicaID)
		}
		if p.ErrorCode != 0 || p.HighWatermark < int64(c.Image().Offset()) || !slices.Equal(ids, []int32{1, 2, 3}) {
			t.Errorf("leader answered %+v", p)
		}
	}
}
