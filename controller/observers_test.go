package controller

// Broker-only nodes follow the metadata log as Raft non-voters (design
// decision 3; the analogue of KRaft's observers, KIP-595): over real Raft
// on loopback TCP, an observer is added by its broker's registration,
// applies the committed log to its own image and publishes it, resumes
// from its own raft.db, is listed among DescribeQuorum's observers, and
// never votes or stands for election.

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// observerConfig configures broker-only node id of cluster clusterID, on a
// fresh data directory, with its Raft transport at raftAddr.
func observerConfig(t *testing.T, id int32, clusterID, raftAddr string) Config {
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID = id
	cfg.ClusterID = clusterID
	cfg.Observer = true
	cfg.ListenAddr = ""
	cfg.RaftBindAddr = raftAddr
	return cfg
}

// registerObserver registers broker id at the active controller c, naming
// raftAddr in a RAFT listener, and returns the answer.
func registerObserver(t *testing.T, c *Controller, id int32, incarnation byte, raftAddr string) *kmsg.BrokerRegistrationResponse {
	t.Helper()
	host, portStr, _ := net.SplitHostPort(raftAddr)
	port, _ := strconv.Atoi(portStr)
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID = id
	req.ClusterID = c.ClusterID()
	req.IncarnationID = [16]byte{incarnation}
	req.Listeners = []kmsg.BrokerRegistrationRequestListener{
		{Name: "PLAINTEXT", Host: "127.0.0.1", Port: uint16(9000 + id)},
		{Name: RaftListenerName, Host: host, Port: uint16(port)},
	}
	resp, err := c.BrokerRegistration(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// suffrageOf returns node id's suffrage in c's latest Raft configuration.
func suffrageOf(t *testing.T, c *Controller, id int32) (raft.ServerSuffrage, bool) {
	t.Helper()
	conf, err := c.configuration()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range conf.Servers {
		if s.ID == raft.ServerID(strconv.Itoa(int(id))) {
			return s.Suffrage, true
		}
	}
	return 0, false
}

// TestObserverFollowsTheMetadataLog: a broker-only node's controller
// (Config.Observer) starts without bootstrapping or waiting for anything;
// its broker's registration, carrying a RAFT listener, makes it a Raft
// non-voter; it then applies the same log as the voter and publishes each
// image in order, is listed among DescribeQuorum's observers with its
// progress, and resumes from its own raft.db after a restart, catching up
// with what was committed while it was down. Its RAFT listener is not a
// registered endpoint, and a retried registration changes nothing.
func TestObserverFollowsTheMetadataLog(t *testing.T) {
	vcfg := testConfig(t, t.TempDir())
	vcfg.ClusterID = "observed"
	voter := start(t, vcfg)

	ocfg := observerConfig(t, 2, "observed", "127.0.0.1:0")
	obs, err := New(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []uint64
	obs.Subscribe(func(img *metadata.Image, _ *metadata.Delta) {
		mu.Lock()
		seen = append(seen, img.Offset())
		mu.Unlock()
	})
	if err := obs.Start(ctx(t)); err != nil {
		t.Fatalf("observer Start: %v", err)
	}
	defer func() { obs.Close() }()
	if obs.ListenAddr() != "" || obs.IsLeader() {
		t.Fatalf("observer: listener %q, leader %v", obs.ListenAddr(), obs.IsLeader())
	}
	raftAddr := obs.RaftAddr()

	if resp := registerObserver(t, voter, 2, 1, raftAddr); resp.ErrorCode != 0 {
		t.Fatalf("registration: %s", kerr.ErrorForCode(resp.ErrorCode))
	}
	if s, ok := suffrageOf(t, voter, 2); !ok || s != raft.Nonvoter {
		t.Fatalf("node 2 in the configuration: %v %v, want a non-voter", s, ok)
	}
	b, _ := voter.Image().Broker(2)
	if len(b.Listeners) != 1 || b.Listeners[0].Name != "PLAINTEXT" {
		t.Errorf("registered listeners %+v, want PLAINTEXT only", b.Listeners)
	}
	index := voter.raft.LastIndex()
	if resp := registerObserver(t, voter, 2, 1, raftAddr); resp.ErrorCode != 0 || voter.raft.LastIndex() != index {
		t.Errorf("retried registration: %s, last index %d -> %d", kerr.ErrorForCode(resp.ErrorCode), index, voter.raft.LastIndex())
	}

	createTopic(t, voter, "followed", 2, 1, nil)
	want := voter.Image().Offset()
	if err := obs.WaitForOffset(ctx(t), want); err != nil {
		t.Fatalf("observer did not apply offset %d: %v", want, err)
	}
	img := obs.Image()
	if _, ok := img.TopicByName("followed"); !ok || img.ClusterID() != "observed" {
		t.Fatalf("observer image: cluster %q, topic followed missing", img.ClusterID())
	}
	if _, ok := img.Broker(2); !ok {
		t.Fatal("observer image lacks its own registration")
	}
	waitFor(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.IsSorted(seen) || len(seen) == 0 || seen[len(seen)-1] != want {
			return fmt.Errorf("published offsets %v, want ascending up to %d", seen, want)
		}
		return nil
	})

	waitFor(t, 5*time.Second, func() error {
		voters, observers := quorumOf(t, voter)
		if got := replicaIDs(voters); !slices.Equal(got, []int32{1}) {
			return fmt.Errorf("voters %v", got)
		}
		if len(observers) != 1 || observers[0].ReplicaID != 2 || observers[0].LogEndOffset < int64(want) ||
			observers[0].LastFetchTimestamp <= 0 {
			return fmt.Errorf("observers %+v, want node 2 at offset %d or later", observers, want)
		}
		return nil
	})

	// Restart from its own raft.db, at the same Raft address.
	if err := obs.Close(); err != nil {
		t.Fatal(err)
	}
	createTopic(t, voter, "while-down", 1, 1, nil)
	ocfg.RaftBindAddr = raftAddr
	obs = start(t, ocfg)
	want = voter.Image().Offset()
	if err := obs.WaitForOffset(ctx(t), want); err != nil {
		t.Fatalf("restarted observer did not catch up to %d: %v", want, err)
	}
	if _, ok := obs.Image().TopicByName("while-down"); !ok {
		t.Fatal("restarted observer misses the topic created while it was down")
	}
	if s, _ := suffrageOf(t, obs, 2); s != raft.Nonvoter {
		t.Errorf("restarted observer's own configuration lists it as %v", s)
	}
}

// TestObserverLosingItsLogIsHarmless: unlike a voter (TestWipedVoterRefusesToStart),
// a broker-only node that lost its data directory never voted, so it is
// not refused: the leader records its new directory id and sends it the
// log again.
func TestObserverLosingItsLogIsHarmless(t *testing.T) {
	vcfg := testConfig(t, t.TempDir())
	vcfg.ClusterID = "wiped-observer"
	voter := start(t, vcfg)
	ocfg := observerConfig(t, 2, "wiped-observer", "127.0.0.1:0")
	obs := start(t, ocfg)
	raftAddr := obs.RaftAddr()
	if resp := registerObserver(t, voter, 2, 1, raftAddr); resp.ErrorCode != 0 {
		t.Fatalf("registration: %s", kerr.ErrorForCode(resp.ErrorCode))
	}
	createTopic(t, voter, "before", 1, 1, nil)
	if err := obs.WaitForOffset(ctx(t), voter.Image().Offset()); err != nil {
		t.Fatal(err)
	}
	if err := obs.Close(); err != nil {
		t.Fatal(err)
	}

	fresh := observerConfig(t, 2, "wiped-observer", raftAddr) // a new data directory
	obs = start(t, fresh)
	if resp := registerObserver(t, voter, 2, 2, raftAddr); resp.ErrorCode != 0 {
		t.Fatalf("registration after the wipe: %s", kerr.ErrorForCode(resp.ErrorCode))
	}
	if err := obs.WaitForOffset(ctx(t), voter.Image().Offset()); err != nil {
		t.Fatalf("wiped observer did not receive the log again: %v", err)
	}
	if _, ok := obs.Image().TopicByName("before"); !ok {
		t.Fatal("wiped observer misses topic before")
	}
}

// TestObserverRegistrationRefusals: a RAFT listener from a node that is a
// voter, or naming another member's Raft address, is refused with
// INVALID_REGISTRATION before anything is committed.
func TestObserverRegistrationRefusals(t *testing.T) {
	vcfg := testConfig(t, t.TempDir())
	vcfg.ClusterID = "refusals"
	voter := start(t, vcfg)
	before := voter.Image().Offset()
	if resp := registerObserver(t, voter, 1, 1, "127.0.0.1:1"); resp.ErrorCode != kerr.InvalidRegistration.Code {
		t.Errorf("voter registering as an observer: %s, want INVALID_REGISTRATION", kerr.ErrorForCode(resp.ErrorCode))
	}
	if resp := registerObserver(t, voter, 5, 1, voter.RaftAddr()); resp.ErrorCode != kerr.InvalidRegistration.Code {
		t.Errorf("observer at the voter's raft address: %s, want INVALID_REGISTRATION", kerr.ErrorForCode(resp.ErrorCode))
	}
	if got := voter.Image().Offset(); got != before {
		t.Errorf("refused registrations committed something: offset %d -> %d", before, got)
	}
	bad := observerConfig(t, 2, "", "127.0.0.1:0")
	if _, err := New(bad); err == nil {
		t.Error("an observer without a cluster id was accepted")
	}
}

// TestObserverNeverVotes: with two of three voters stopped the quorum has
// no leader, and the observer, which hears no leader either, must not
// stand for election or become leader (Raft non-voters take no part in
// elections); its term does not move. Removing it (as UnregisterBroker
// does) takes it out of the configuration.
func TestObserverNeverVotes(t *testing.T) {
	q := newQuorum(t, 3, "never-votes")
	q.startAll()
	l := q.leader()
	obs := start(t, observerConfig(t, 9, "never-votes", "127.0.0.1:0"))
	if resp := registerObserver(t, q.ctrls[l], 9, 1, obs.RaftAddr()); resp.ErrorCode != 0 {
		t.Fatalf("registration: %s", kerr.ErrorForCode(resp.ErrorCode))
	}
	if err := obs.WaitForOffset(ctx(t), q.ctrls[l].Image().Offset()); err != nil {
		t.Fatal(err)
	}

	survivor := (l + 1) % 3
	for i := range q.ctrls {
		if i != survivor {
			q.stop(i)
		}
	}
	term := obs.raft.CurrentTerm()
	// Something that must not happen needs a window: 40 election timeouts.
	deadline := time.Now().Add(40 * q.cfgs[0].ElectionTimeout)
	for time.Now().Before(deadline) {
		if st := obs.raft.State(); st != raft.Follower {
			t.Fatalf("observer in state %v without a leader", st)
		}
		if q.ctrls[survivor].IsLeader() {
			t.Fatal("one voter of three became leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := obs.raft.CurrentTerm(); got != term {
		t.Errorf("observer's term moved from %d to %d", term, got)
	}

	// Back to a quorum; then remove the observer.
	for i := range q.ctrls {
		if i != survivor {
			q.start(i)
		}
	}
	l = q.leader()
	waitFor(t, 10*time.Second, func() error {
		if !q.ctrls[l].IsLeader() {
			l = q.leader()
		}
		return q.ctrls[l].removeObserver(ctx(t), 9)
	})
	if _, ok := suffrageOf(t, q.ctrls[l], 9); ok {
		t.Fatal("removed observer still in the configuration")
	}
	if _, observers := quorumOf(t, q.ctrls[l]); len(observers) != 0 {
		t.Fatalf("DescribeQuorum lists observers %+v after the removal", observers)
	}
}

// TestUnregisteredObserverIsForgotten: a controller that becomes active
// removes every non-voter whose broker is not registered (an
// UnregisterBroker whose removal a failover interrupted), and keeps the
// registered ones.
func TestUnregisteredObserverIsForgotten(t *testing.T) {
	vcfg := testConfig(t, t.TempDir())
	vcfg.ClusterID = "forgotten"
	voter := start(t, vcfg)
	for _, id := range []int32{2, 3} {
		obs := start(t, observerConfig(t, id, "forgotten", "127.0.0.1:0"))
		if resp := registerObserver(t, voter, id, 1, obs.RaftAddr()); resp.ErrorCode != 0 {
			t.Fatalf("registration of %d: %s", id, kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	_, err := voter.commit(ctx(t), func(img *metadata.Image) ([]metadata.Record, error) {
		b, _ := img.Broker(2)
		return []metadata.Record{&metadata.UnregisterBrokerRecord{NodeID: 2, BrokerEpoch: b.Epoch}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	voter.forgetUnregisteredObservers()
	if _, ok := suffrageOf(t, voter, 2); ok {
		t.Error("the unregistered observer is still a member")
	}
	if s, ok := suffrageOf(t, voter, 3); !ok || s != raft.Nonvoter {
		t.Error("the registered observer was removed")
	}
}
