package harness

// A cluster of real samsa server processes: N combined controller+broker
// nodes on 127.0.0.1, each with its own data directory and generated YAML
// config, that a test can kill -9, SIGSTOP, SIGCONT, SIGTERM and restart.
// Every node's log is kept across restarts and printed (its tail) when the
// test fails.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

// clusterStartTimeout bounds how long a node may take to serve.
const clusterStartTimeout = 60 * time.Second

// logTailLines is how much of each node's log a failed test prints;
// SAMSA_TEST_LOGS=all prints everything.
const logTailLines = 150

// Cluster is a set of samsa server processes forming one cluster.
type Cluster struct {
	t     testing.TB
	id    string
	nodes []*ClusterNode
	net   *clusterNet // WithNetworkIsolation (netns.go)
}

// ClusterNode is one samsa server process of a Cluster. Its addresses stay
// the same across restarts (the voters are configured with them).
type ClusterNode struct {
	c          *Cluster
	id         int32
	dir        string
	cfgPath    string
	kafka      string
	controller string
	raft       string
	gossip     string
	settings   map[string]string // the config file's contents
	netns      string            // its network namespace (WithNetworkIsolation)

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current process has exited
	ready  chan struct{} // closed when the current process logs "broker serving"
	logs   lockedBuffer  // every run's stderr, runs separated by a banner
	runs   int
}

type clusterOptions struct {
	extra     map[string]string
	isolation bool
}

// ClusterOption configures StartCluster.
type ClusterOption func(*clusterOptions)

// WithNodeConfig adds a server setting to every node's config file.
func WithNodeConfig(key, value string) ClusterOption {
	return func(o *clusterOptions) { o.extra[key] = value }
}

// StartCluster starts n combined nodes (ids 1..n, all voters) and waits
// until every one serves. Everything is killed when the test ends.
//
// The nodes' ports are chosen up front, because every voter must know the
// others' addresses before any of them starts: the harness binds port 0
// on 127.0.0.1 for each, notes the ports, and releases them all just
// before the nodes start. Another process (any outgoing connection's
// local port) could take one in between; when a node then fails with
// "address already in use", the whole cluster is started again on fresh
// ports and directories, up to clusterStartAttempts times.
func StartCluster(t testing.TB, n int, opts ...ClusterOption) *Cluster {
	t.Helper()
	o := clusterOptions{extra: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.isolation {
		if err := NetworkIsolationAvailable(); err != nil {
			t.Skipf("needs network isolation (a network namespace per node), unavailable here: %v", err)
		}
	}
	bin := Binary(t)
	for attempt := 1; ; attempt++ {
		c := newCluster(t, n, o)
		err := c.startAll(bin)
		if err == nil {
			t.Cleanup(func() {
				if t.Failed() {
					c.DumpLogs()
				}
				c.killAll()
			})
			return c
		}
		c.killAll()
		if !strings.Contains(err.Error(), "address already in use") || attempt == clusterStartAttempts {
			c.DumpLogs()
			t.Fatal(err)
		}
		t.Logf("cluster start attempt %d: %v; starting again on fresh ports", attempt, err)
	}
}

// clusterStartAttempts bounds the restarts after port collisions.
const clusterStartAttempts = 3

func newCluster(t testing.TB, n int, o clusterOptions) *Cluster {
	c := &Cluster{t: t, id: "test-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	if o.isolation {
		if err := newIsolatableCluster(t, c, n, o); err != nil {
			t.Fatalf("setting up the nodes' network namespaces: %v", err)
		}
		return c
	}
	ports := reservePorts(t)
	for i := range n {
		c.nodes = append(c.nodes, &ClusterNode{
			c: c, id: int32(i + 1), dir: t.TempDir(),
			kafka: ports.take(false), controller: ports.take(false), raft: ports.take(false),
			gossip: ports.take(true),
		})
	}
	for _, nd := range c.nodes {
		nd.writeConfig(o.extra)
	}
	ports.release()
	return c
}

// startAll starts every node and waits until all serve.
func (c *Cluster) startAll(bin string) error {
	for _, nd := range c.nodes {
		nd.start(bin)
	}
	for _, nd := range c.nodes {
		if err := nd.waitServing(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) killAll() {
	for _, nd := range c.nodes {
		nd.Kill()
	}
}

// portReserver hands out distinct free ports on 127.0.0.1 (see
// StartCluster). Each port stays bound until release, so that the kernel
// cannot hand the same one out twice.
type portReserver struct {
	t       testing.TB
	holders []io.Closer
}

func reservePorts(t testing.TB) *portReserver { return &portReserver{t: t} }

// take returns a free address; withUDP also reserves the UDP port of the
// same number (gossip uses both).
func (r *portReserver) take(withUDP bool) string {
	r.t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.t.Fatal(err)
		}
		addr := ln.Addr().String()
		if withUDP {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				ln.Close()
				continue
			}
			r.holders = append(r.holders, pc)
		}
		r.holders = append(r.holders, ln)
		return addr
	}
	r.t.Fatal("no free TCP+UDP port found")
	return ""
}

// release unbinds every reserved port for the nodes to bind.
func (r *portReserver) release() {
	for _, h := range r.holders {
		h.Close()
	}
	r.holders = nil
}

func (nd *ClusterNode) writeConfig(extra map[string]string) {
	var voters, ctrls, seeds []string
	for _, o := range nd.c.nodes {
		voters = append(voters, fmt.Sprintf("%d@%s", o.id, o.raft))
		ctrls = append(ctrls, o.controller)
		if o != nd {
			seeds = append(seeds, o.gossip)
		}
	}
	nd.settings = map[string]string{
		"node.id":                             strconv.Itoa(int(nd.id)),
		"roles":                               "controller,broker",
		"data.dir":                            filepath.Join(nd.dir, "data"),
		"listeners":                           nd.kafka,
		"controller.listener":                 nd.controller,
		"raft.listener":                       nd.raft,
		"controller.quorum.voters":            strings.Join(voters, ","),
		"controller.quorum.bootstrap.servers": strings.Join(ctrls, ","),
		"cluster.id":                          nd.c.id,
		"gossip.listener":                     nd.gossip,
		"gossip.seeds":                        strings.Join(seeds, ","),
		"log.format":                          "json",
		"log.level":                           "info",
	}
	for k, v := range extra {
		nd.settings[k] = v
	}
	nd.flushConfig()
}

func (nd *ClusterNode) flushConfig() {
	keys := make([]string, 0, len(nd.settings))
	for k := range nd.settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %q\n", k, nd.settings[k])
	}
	nd.cfgPath = filepath.Join(nd.dir, "samsa.yaml")
	if err := os.WriteFile(nd.cfgPath, []byte(b.String()), 0o644); err != nil {
		nd.c.t.Fatal(err)
	}
}

// SetConfig changes one setting of the node's config file, for its next
// start (a test of misconfiguration).
func (nd *ClusterNode) SetConfig(key, value string) {
	nd.settings[key] = value
	nd.flushConfig()
}

// WipeData removes the node's data directory while it is down (a node that
// lost its disk).
func (nd *ClusterNode) WipeData() {
	if nd.Running() {
		nd.c.t.Fatalf("node %d: data wiped while running", nd.id)
	}
	if err := os.RemoveAll(nd.DataDir()); err != nil {
		nd.c.t.Fatal(err)
	}
}

// StartExpectingFailure starts the node and waits for it to exit without
// serving, as a misconfigured node must; it returns what the node wrote.
func (nd *ClusterNode) StartExpectingFailure(timeout time.Duration) string {
	nd.c.t.Helper()
	if nd.Running() {
		nd.c.t.Fatalf("node %d started while running", nd.id)
	}
	before := len(nd.Logs())
	nd.start(Binary(nd.c.t))
	nd.mu.Lock()
	cmd, ready, exited := nd.cmd, nd.ready, nd.exited
	nd.mu.Unlock()
	select {
	case <-exited:
	case <-ready:
		nd.c.t.Fatalf("node %d serves, but it should have refused to start", nd.id)
	case <-time.After(timeout):
		nd.c.t.Fatalf("node %d neither served nor exited within %v", nd.id, timeout)
	}
	if cmd.ProcessState.Success() {
		nd.c.t.Fatalf("node %d exited with status 0, want a failure", nd.id)
	}
	return nd.Logs()[before:]
}

// start launches the process; it does not wait for it to serve.
func (nd *ClusterNode) start(bin string) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.runs++
	fmt.Fprintf(&nd.logs, "==== node %d, run %d, %s ====\n", nd.id, nd.runs, time.Now().Format(time.RFC3339Nano))
	cmd := nd.command(bin, "server", "--config", nd.cfgPath)
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		nd.c.t.Fatal(err)
	}
	cmd.Stdout = &nd.logs
	if err := cmd.Start(); err != nil {
		nd.c.t.Fatalf("starting node %d: %v", nd.id, err)
	}
	exited, ready := make(chan struct{}), make(chan struct{})
	nd.cmd, nd.exited, nd.ready = cmd, exited, ready
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		var readyOnce sync.Once
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			nd.logs.Write(append(line, '\n'))
			var entry struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(line, &entry) == nil && entry.Message == "broker serving" {
				readyOnce.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		<-scanned // Wait must not run before the pipe is drained
		cmd.Wait()
		close(exited)
	}()
}

// WaitServing waits until the node's current process serves Kafka clients.
func (nd *ClusterNode) WaitServing() {
	nd.c.t.Helper()
	if err := nd.waitServing(); err != nil {
		nd.c.t.Fatal(err)
	}
}

func (nd *ClusterNode) waitServing() error {
	nd.mu.Lock()
	ready, exited := nd.ready, nd.exited
	nd.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-exited:
		return fmt.Errorf("node %d exited before serving:\n%s", nd.id, lastLines(nd.Logs(), 20))
	case <-time.After(clusterStartTimeout):
		return fmt.Errorf("node %d did not serve within %v", nd.id, clusterStartTimeout)
	}
}

// Restart starts the node again on the same data directory and ports
// (after Kill or Stop) and waits until it serves.
func (nd *ClusterNode) Restart() {
	nd.c.t.Helper()
	if nd.Running() {
		nd.c.t.Fatalf("node %d restarted while running", nd.id)
	}
	nd.start(Binary(nd.c.t))
	nd.WaitServing()
}

// Running reports whether the node's process is alive (paused counts).
func (nd *ClusterNode) Running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (kill -9) and waits for the process to exit.
func (nd *ClusterNode) Kill() {
	if !nd.Running() {
		return
	}
	nd.signal(syscall.SIGKILL)
	nd.mu.Lock()
	exited := nd.exited
	nd.mu.Unlock()
	<-exited
}

// Stop sends SIGTERM and waits for a clean exit.
func (nd *ClusterNode) Stop(ctx context.Context) error {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.mu.Unlock()
	nd.signal(syscall.SIGTERM)
	select {
	case <-exited:
		if !cmd.ProcessState.Success() {
			return fmt.Errorf("node %d exited with %v", nd.id, cmd.ProcessState)
		}
		return nil
	case <-ctx.Done():
		nd.Kill()
		return fmt.Errorf("node %d did not stop after SIGTERM; killed", nd.id)
	}
}

// Pause sends SIGSTOP: the process keeps its sockets but does nothing.
func (nd *ClusterNode) Pause() { nd.signal(syscall.SIGSTOP) }

// Resume sends SIGCONT.
func (nd *ClusterNode) Resume() { nd.signal(syscall.SIGCONT) }

func (nd *ClusterNode) signal(sig syscall.Signal) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil && nd.cmd.Process != nil {
		nd.cmd.Process.Signal(sig)
	}
}

// ID is the node id.
func (nd *ClusterNode) ID() int32 { return nd.id }

// Bootstrap is the node's Kafka listener.
func (nd *ClusterNode) Bootstrap() string { return nd.kafka }

// ControllerAddr is the node's controller listener.
func (nd *ClusterNode) ControllerAddr() string { return nd.controller }

// DataDir is the node's data directory.
func (nd *ClusterNode) DataDir() string { return filepath.Join(nd.dir, "data") }

// Logs is everything the node logged, over all its runs.
func (nd *ClusterNode) Logs() string { return nd.logs.String() }

// ID is the cluster id.
func (c *Cluster) ID() string { return c.id }

// Nodes returns the nodes, in id order.
func (c *Cluster) Nodes() []*ClusterNode { return slices.Clone(c.nodes) }

// Node returns the node with the given id.
func (c *Cluster) Node(id int32) *ClusterNode {
	for _, nd := range c.nodes {
		if nd.id == id {
			return nd
		}
	}
	c.t.Fatalf("no node %d", id)
	return nil
}

// Others returns every node but the given one.
func (c *Cluster) Others(id int32) []*ClusterNode {
	var out []*ClusterNode
	for _, nd := range c.nodes {
		if nd.id != id {
			out = append(out, nd)
		}
	}
	return out
}

// DumpLogs prints the tail of every node's log (all of it with
// SAMSA_TEST_LOGS=all).
func (c *Cluster) DumpLogs() {
	for _, nd := range c.nodes {
		logs := nd.Logs()
		if os.Getenv("SAMSA_TEST_LOGS") != "all" {
			logs = lastLines(logs, logTailLines)
		}
		c.t.Logf("---- node %d (kafka %s, controller %s, raft %s, gossip %s) ----\n%s", nd.id, nd.kafka, nd.controller, nd.raft, nd.gossip, logs)
	}
}

// ActiveController asks the controller listeners of the running nodes
// with DescribeQuorum (key 55) which node leads the metadata quorum; only
// the leader answers without NOT_LEADER_OR_FOLLOWER.
func (c *Cluster) ActiveController(ctx context.Context) (int32, error) {
	var errs []error
	for _, nd := range c.nodes {
		if !nd.Running() {
			continue
		}
		id, err := describeQuorumLeader(ctx, nd.controller)
		if err == nil {
			return id, nil
		}
		errs = append(errs, fmt.Errorf("node %d: %w", nd.id, err))
	}
	return -1, fmt.Errorf("no active controller: %w", errors.Join(errs...))
}

// WaitActiveController waits until some node is the active controller and
// returns its id.
func (c *Cluster) WaitActiveController(timeout time.Duration) int32 {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		id, err := c.ActiveController(ctx)
		cancel()
		if err == nil {
			return id
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no active controller within %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describeQuorumLeader(ctx context.Context, addr string) (int32, error) {
	cl := protocol.NewClient(addr, "samsa-test-harness")
	defer cl.Close()
	resp, err := cl.Request(ctx, DescribeQuorumRequest())
	if err != nil {
		return -1, err
	}
	return QuorumLeader(resp.(*kmsg.DescribeQuorumResponse))
}

// DescribeQuorumRequest asks for the metadata log's quorum.
func DescribeQuorumRequest() *kmsg.DescribeQuorumRequest {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{rt}
	return req
}

// QuorumLeader reads the active controller's id from a DescribeQuorum
// answer.
func QuorumLeader(r *kmsg.DescribeQuorumResponse) (int32, error) {
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return -1, err
	}
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return -1, fmt.Errorf("malformed DescribeQuorum answer: %+v", r)
	}
	p := r.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return -1, fmt.Errorf("%w (leader known here: %d)", err, p.LeaderID)
	}
	return p.LeaderID, nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
