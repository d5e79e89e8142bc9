package controller

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testConfig is a single-voter configuration on loopback ports chosen by
// the kernel, with fast Raft timeouts and logs routed to t.Log.
func testConfig(t *testing.T, dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.RaftBindAddr = "127.0.0.1:0"
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	return cfg
}

// start starts a controller and closes it when the test ends.
func start(t *testing.T, cfg Config) *Controller {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// waitFor polls cond until it returns nil or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		<-tick.C
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// register registers brokers 1..n and returns their epochs.
func register(t *testing.T, c *Controller, n int) []int64 {
	t.Helper()
	var epochs []int64
	for id := int32(1); id <= int32(n); id++ {
		req := kmsg.NewPtrBrokerRegistrationRequest()
		req.BrokerID = id
		req.ClusterID = c.ClusterID()
		req.IncarnationID = [16]byte{byte(id)}
		req.Listeners = []kmsg.BrokerRegistrationRequestListener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: uint16(9000 + id)}}
		resp, err := c.BrokerRegistration(ctx(t), req)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("register broker %d: %v, code %d", id, err, resp.ErrorCode)
		}
		epochs = append(epochs, resp.BrokerEpoch)
	}
	return epochs
}

func TestSingleVoterStartsAndBootstraps(t *testing.T) {
	dir := t.TempDir()
	c := start(t, testConfig(t, dir))
	if !c.IsLeader() {
		t.Fatal("a lone voter is not the leader after Start")
	}
	id := c.ClusterID()
	if len(id) != 22 || strings.HasPrefix(id, "-") {
		t.Fatalf("generated cluster id %q is not 16 bytes of base64url", id)
	}
	img := c.Image()
	if img.ClusterID() != id || img.MetadataVersion() != metadata.CurrentMetadataVersion || img.Offset() == 0 {
		t.Fatalf("image: cluster %q, metadata version %d, offset %d", img.ClusterID(), img.MetadataVersion(), img.Offset())
	}
	if c.ListenAddr() == "" || strings.HasSuffix(c.ListenAddr(), ":0") {
		t.Fatalf("listen address %q", c.ListenAddr())
	}
	meta, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil || !strings.Contains(string(meta), "cluster.id="+id) {
		t.Fatalf("meta.properties: %q, %v", meta, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

// TestRestartPreservesImage restarts a controller on the same directory
// and checks that the rebuilt image equals the one before: topics,
// partitions, configs, brokers, the producer-id watermark and the cluster
// id.
func TestRestartPreservesImage(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	c := start(t, cfg)
	epochs := register(t, c, 3)
	createTopic(t, c, "orders", 4, 1, map[string]string{"retention.ms": "1000"})
	createTopic(t, c, "payments", 1, 1, nil)
	allocate(t, c, 1, epochs[0])
	before := c.Image()
	clusterID := c.ClusterID()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.ClusterID = clusterID // configured explicitly this time: must match
	c2 := start(t, cfg)
	if err := c2.WaitForOffset(ctx(t), before.Offset()); err != nil {
		t.Fatal(err)
	}
	after := c2.Image()
	if !reflect.DeepEqual(after.Records(), before.Records()) {
		t.Fatalf("image after restart differs:\n%v\n%v", after.Records(), before.Records())
	}
	if c2.ClusterID() != clusterID || after.ClusterID() != clusterID {
		t.Fatalf("cluster id %q / %q, want %q", c2.ClusterID(), after.ClusterID(), clusterID)
	}
	// The watermark survived: the next block follows the first.
	if start := allocate(t, c2, 1, epochs[0]); start != ProducerIDBlockSize {
		t.Fatalf("first block after restart starts at %d, want %d", start, ProducerIDBlockSize)
	}
}

func TestRestartWithAnotherClusterIDIsRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	c := start(t, cfg)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.ClusterID = "some-other-cluster"
	c2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = c2.Start(ctx(t))
	if !errors.Is(err, ErrClusterIDMismatch) || !strings.Contains(err.Error(), "some-other-cluster") {
		t.Fatalf("Start with another cluster id: %v", err)
	}
	if err := c2.Close(); err != nil {
		t.Fatalf("Close after failed Start: %v", err)
	}
	cfg.ClusterID = ""
	cfg.NodeID = 2
	c3, _ := New(cfg)
	if err := c3.Start(ctx(t)); !errors.Is(err, ErrDataDirMismatch) {
		t.Fatalf("Start as another node: %v", err)
	}
	_ = c3.Close()
}

// TestSnapshotTakenAndRestored sets a low snapshot threshold, waits for a
// snapshot, truncates the log behind it, and checks that a restart
// restores the snapshot and replays the rest.
func TestSnapshotTakenAndRestored(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.SnapshotThreshold = 4
	cfg.SnapshotInterval = 20 * time.Millisecond
	cfg.TrailingLogs = 1
	c := start(t, cfg)
	register(t, c, 2)
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		createTopic(t, c, name, 2, 1, nil)
	}
	snapDir := filepath.Join(dir, "raft", "snapshots")
	waitFor(t, 10*time.Second, func() error {
		entries, err := os.ReadDir(snapDir)
		if err != nil || len(entries) == 0 {
			return errors.New("no snapshot yet")
		}
		return nil
	})
	createTopic(t, c, "after-snapshot", 1, 1, nil)
	before := c.Image()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := start(t, cfg)
	if n := c2.fsm.restores.Load(); n != 1 {
		t.Fatalf("snapshots restored = %d, want 1", n)
	}
	if err := c2.WaitForOffset(ctx(t), before.Offset()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c2.Image().Records(), before.Records()) {
		t.Fatal("image after snapshot restore differs")
	}
}

// TestSubscribeDeliversEveryImageInOrder checks the publisher contract: a
// subscriber starts from the current image, then sees each new one in
// apply order with its delta.
func TestSubscribeDeliversEveryImageInOrder(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	register(t, c, 1)
	type seen struct {
		offset  uint64
		created []string
	}
	ch := make(chan seen, 100)
	unsubscribe := c.Subscribe(func(img *metadata.Image, d *metadata.Delta) {
		s := seen{offset: img.Offset()}
		for _, tp := range d.CreatedTopics {
			s.created = append(s.created, tp.Name)
		}
		ch <- s
	})
	first := <-ch
	if first.offset != c.Image().Offset() {
		t.Fatalf("first delivery at offset %d, image at %d", first.offset, c.Image().Offset())
	}
	createTopic(t, c, "x", 1, 1, nil)
	createTopic(t, c, "y", 1, 1, nil)
	a, b := <-ch, <-ch
	if !reflect.DeepEqual(a.created, []string{"x"}) || !reflect.DeepEqual(b.created, []string{"y"}) || a.offset >= b.offset {
		t.Fatalf("deliveries %+v then %+v", a, b)
	}
	unsubscribe()
}

func TestWaitForOffset(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	next := c.Image().Offset() + 1
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.WaitForOffset(short, next); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForOffset for a future offset: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.WaitForOffset(ctx(t), next) }()
	register(t, c, 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNotControllerWhenInactive checks that operations are refused with
// NOT_CONTROLLER while this node is not the active controller.
func TestNotControllerWhenInactive(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	c.active.Store(false)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "t", 1, 1
	req.Topics = append(req.Topics, rt)
	resp, err := c.CreateTopics(ctx(t), req)
	if err != nil || resp.Topics[0].ErrorCode != kerr.NotController.Code {
		t.Fatalf("CreateTopics on an inactive node: %v, %+v", err, resp)
	}
	ap := kmsg.NewPtrAllocateProducerIDsRequest()
	if resp, _ := c.AllocateProducerIDs(ctx(t), ap); resp.ErrorCode != kerr.NotController.Code {
		t.Fatalf("AllocateProducerIDs on an inactive node: code %d", resp.ErrorCode)
	}
}

func TestConfigValidate(t *testing.T) {
	good := testConfig(t, "/tmp/x")
	if err := good.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	cases := map[string]func(*Config){
		"no data dir":         func(c *Config) { c.DataDir = "" },
		"negative node":       func(c *Config) { c.NodeID = -1 },
		"bad bind":            func(c *Config) { c.RaftBindAddr = "nope" },
		"voters without self": func(c *Config) { c.Voters = []Voter{{ID: 9, Addr: "h:1"}} },
		"several voters, no cluster id": func(c *Config) {
			c.Voters = []Voter{{ID: 1, Addr: "h:1"}, {ID: 2, Addr: "h:2"}}
		},
		"bad cluster id":       func(c *Config) { c.ClusterID = "a b" },
		"zero partitions":      func(c *Config) { c.DefaultNumPartitions = 0 },
		"bad topic default":    func(c *Config) { c.TopicConfigDefaults = map[string]string{"retention.ms": "x"} },
		"election < heartbeat": func(c *Config) { c.ElectionTimeout = c.HeartbeatTimeout / 2 },
		"zero imbalance check": func(c *Config) { c.LeaderImbalanceCheckInterval = 0 },
		"imbalance over 100%":  func(c *Config) { c.LeaderImbalancePerBrokerPercentage = 101 },
	}
	for name, mod := range cases {
		cfg := good
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestCloseWhileStartWaits closes a controller whose Start is still waiting
// for leadership: Start returns ErrClosed and every goroutine exits.
func TestCloseWhileStartWaits(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.HeartbeatTimeout, cfg.ElectionTimeout = 10*time.Second, 10*time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx(t)) }()
	waitFor(t, 10*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.raft == nil {
			return errors.New("raft not started yet")
		}
		return nil
	})
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Start returned %v, want ErrClosed", err)
	}
}

// TestSeveralVotersStartWithoutWaiting checks that a member of a
// multi-voter quorum bootstraps the whole voter set and returns from Start
// without waiting for a leader (its peers are not running here).
func TestSeveralVotersStartWithoutWaiting(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.ClusterID = "three-voters"
	lns := bindListeners(t, "127.0.0.1", 3)
	cfg.Voters = []Voter{{ID: 1, Addr: lns[0].Addr().String()}, {ID: 2, Addr: lns[1].Addr().String()}, {ID: 3, Addr: lns[2].Addr().String()}}
	cfg.RaftBindAddr, cfg.RaftListener = cfg.Voters[0].Addr, lns[0]
	lns[1].Close()
	lns[2].Close()
	c := start(t, cfg)
	if c.IsLeader() {
		t.Fatal("a voter without its peers became the active controller")
	}
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil || len(f.Configuration().Servers) != 3 {
		t.Fatalf("raft configuration %+v, %v", f.Configuration(), err)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Topics = []kmsg.CreateTopicsRequestTopic{createReq("t", 1, 1, nil)}
	if resp, _ := c.CreateTopics(ctx(t), req); resp.Topics[0].ErrorCode != kerr.NotController.Code {
		t.Fatalf("CreateTopics on a follower: %+v", resp.Topics[0])
	}
}
