package harness

// Network isolation for a Cluster (WithNetworkIsolation): every node runs
// in its own network namespace, so that a test can cut the traffic between
// one node and the others while clients still reach every node.
//
//	root namespace (the test, its clients)      10.77.X.254  samsa-netX
//	  │ veth
//	<prefix>-sw: bridge br0 (a namespace of its own: no firewall rules of
//	  │          the host, such as Docker's FORWARD DROP, apply to it)
//	  ├─ veth ─ <prefix>-n1: eth0 10.77.X.1   node 1
//	  ├─ veth ─ <prefix>-n2: eth0 10.77.X.2   node 2
//	  └─ veth ─ <prefix>-n3: eth0 10.77.X.3   node 3
//
// Each node listens on its own address with fixed ports (Kafka 9092,
// controller 9093, Raft 9094, gossip 7946 TCP and UDP), so no port can
// collide. X is the first free index in 1..254: the root-namespace link
// samsa-netX, created first, is the lock on it (link names are unique),
// and <prefix> = samsa<X>p<pid of the test process>c<a counter of the
// process>, never the same twice.
//
// Cutting node a off from node b replaces, in each of the two namespaces,
// the neighbour (ARP) entry of the other with a permanent one for a MAC
// address nobody has: the frames still leave, the bridge floods them and
// nobody takes them. Both directions are lost silently, as in a real
// partition (a connection attempt hangs, an established connection sees
// nothing, UDP datagrams vanish), whatever the protocol, and the client
// subnet's .254 is not touched. Only iproute2 (`ip`) is needed: no
// iptables, nftables or tc actions.
//
// Everything is removed in t.Cleanup, after the nodes are killed. A test
// process that dies without its cleanups leaves namespaces named after its
// pid; the next cluster that sets up a network removes those of dead pids.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// Fixed ports of a node in its own namespace.
const (
	nsKafkaPort      = 9092
	nsControllerPort = 9093
	nsRaftPort       = 9094
	nsGossipPort     = 7946
)

// nowhereMAC is the neighbour address of a cut peer: locally administered
// and unused.
const nowhereMAC = "02:00:5a:5a:00:01"

// WithNetworkIsolation runs every node in its own network namespace with
// its own address (see netns.go), so that ClusterNode.Isolate can cut it
// off from the other nodes while clients still reach it. Where that is
// not possible (not root, no iproute2, no network namespaces, or
// SAMSA_TEST_NETNS=off) StartCluster skips the test and prints why;
// NetworkIsolationAvailable tells beforehand.
func WithNetworkIsolation() ClusterOption {
	return func(o *clusterOptions) { o.isolation = true }
}

var (
	netnsProbeOnce sync.Once
	netnsProbeErr  error
)

// NetworkIsolationAvailable returns nil when WithNetworkIsolation can work
// here, or why not. It creates and deletes a network namespace once per
// test process.
func NetworkIsolationAvailable() error {
	netnsProbeOnce.Do(func() { netnsProbeErr = probeNetns() })
	return netnsProbeErr
}

func probeNetns() error {
	if v := os.Getenv("SAMSA_TEST_NETNS"); v == "off" || v == "0" {
		return errors.New("SAMSA_TEST_NETNS=" + v)
	}
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("no ip command (iproute2): %w", err)
	}
	name := fmt.Sprintf("samsa0p%dc0-probe", os.Getpid())
	if err := ipRun("netns", "add", name); err != nil {
		return err
	}
	err := ipRun("netns", "exec", name, "ip", "link", "set", "dev", "lo", "up")
	return errors.Join(err, ipRun("netns", "del", name))
}

// ipRun runs ip with args and returns its output in the error.
func ipRun(args ...string) error {
	_, err := ipOutput(args...)
	return err
}

func ipOutput(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// clusterNet is the network of an isolatable cluster.
type clusterNet struct {
	index    int    // the subnet is 10.77.<index>.0/24
	prefix   string // namespace names: <prefix>-sw, <prefix>-n<id>
	hostLink string // the root namespace's end of the clients' link

	mu       sync.Mutex
	nodes    []int32        // ids with a namespace
	isolated map[int32]bool // nodes cut off from every other
	cut      map[[2]int32]bool
}

func (n *clusterNet) switchNS() string       { return n.prefix + "-sw" }
func (n *clusterNet) nodeNS(id int32) string { return fmt.Sprintf("%s-n%d", n.prefix, id) }
func (n *clusterNet) nodeIP(id int32) string { return fmt.Sprintf("10.77.%d.%d", n.index, id) }

// staleNS matches the namespaces this file creates: index, pid, counter.
var staleNS = regexp.MustCompile(`^samsa(\d+)p(\d+)c\d+-`)

// netCount numbers the networks of this process.
var netCount atomic.Int64

// removeStaleNetworks deletes what test processes that are gone left
// behind (they died before their cleanups ran): the samsa processes still
// in their namespaces and the namespaces. The root-namespace link goes
// with the switch namespace (its veth peer is there).
func removeStaleNetworks() {
	out, err := ipOutput("netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		m := staleNS.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[2])
		if pid <= 0 || pid == os.Getpid() || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		if pids, err := ipOutput("netns", "pids", name); err == nil {
			for _, f := range strings.Fields(pids) {
				if p, err := strconv.Atoi(f); err == nil && p > 0 {
					syscall.Kill(p, syscall.SIGKILL)
				}
			}
		}
		ipRun("netns", "del", name)
	}
}

// newClusterNet sets up the switch and the clients' link; the nodes'
// namespaces come with addNode. Everything is removed in t.Cleanup.
func newClusterNet(t testing.TB) (*clusterNet, error) {
	removeStaleNetworks()
	for index := 1; index <= 254; index++ {
		n := &clusterNet{index: index, prefix: fmt.Sprintf("samsa%dp%dc%d", index, os.Getpid(), netCount.Add(1)),
			hostLink: fmt.Sprintf("samsa-net%d", index), isolated: map[int32]bool{}, cut: map[[2]int32]bool{}}
		// The link is the lock on the index.
		if err := ipRun("link", "add", n.hostLink, "type", "veth", "peer", "name", n.hostLink+"p"); err != nil {
			if strings.Contains(err.Error(), "exists") {
				continue
			}
			return nil, err
		}
		addrs, err := ipOutput("-4", "-o", "addr", "show")
		if err == nil && strings.Contains(addrs, fmt.Sprintf(" 10.77.%d.", index)) {
			ipRun("link", "del", n.hostLink) // the subnet is taken by something else
			continue
		}
		if err := ipRun("netns", "add", n.switchNS()); err != nil {
			ipRun("link", "del", n.hostLink)
			if strings.Contains(err.Error(), "exists") {
				continue
			}
			return nil, err
		}
		t.Cleanup(n.remove)
		if err := n.setupSwitch(); err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, errors.New("no free subnet 10.77.X.0/24 for an isolatable cluster")
}

func (n *clusterNet) setupSwitch() error {
	sw := n.switchNS()
	for _, args := range [][]string{
		{"link", "set", "dev", n.hostLink + "p", "netns", sw},
		{"-n", sw, "link", "add", "br0", "type", "bridge"},
		{"-n", sw, "link", "set", "dev", "br0", "up"},
		{"-n", sw, "link", "set", "dev", n.hostLink + "p", "master", "br0", "up"},
		{"addr", "add", fmt.Sprintf("10.77.%d.254/24", n.index), "dev", n.hostLink},
		{"link", "set", "dev", n.hostLink, "up"},
	} {
		if err := ipRun(args...); err != nil {
			return err
		}
	}
	return nil
}

// addNode gives node id a namespace with its address on the switch.
func (n *clusterNet) addNode(id int32) error {
	if id < 1 || id > 253 {
		return fmt.Errorf("node id %d: an isolatable cluster numbers its nodes 1..253", id)
	}
	ns, sw := n.nodeNS(id), n.switchNS()
	if err := ipRun("netns", "add", ns); err != nil {
		return err
	}
	n.mu.Lock()
	n.nodes = append(n.nodes, id)
	n.mu.Unlock()
	port := fmt.Sprintf("n%d", id)
	for _, args := range [][]string{
		{"link", "add", "name", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", sw},
		{"-n", sw, "link", "set", "dev", port, "master", "br0", "up"},
		{"-n", ns, "addr", "add", n.nodeIP(id) + "/24", "dev", "eth0"},
		{"-n", ns, "link", "set", "dev", "eth0", "up"},
		{"-n", ns, "link", "set", "dev", "lo", "up"},
	} {
		if err := ipRun(args...); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes the link (which frees the index) and every namespace
// (whose names no other network uses). The nodes' processes are gone by
// then (the cluster's cleanup, registered later, runs first).
func (n *clusterNet) remove() {
	ipRun("link", "del", n.hostLink)
	n.mu.Lock()
	nodes := n.nodes
	n.mu.Unlock()
	for _, id := range nodes {
		ipRun("netns", "del", n.nodeNS(id))
	}
	ipRun("netns", "del", n.switchNS())
}

// setCut cuts (on) or restores (off) the traffic between nodes a and b,
// both directions, by their neighbour entries of each other.
func (n *clusterNet) setCut(a, b int32, on bool) error {
	key := [2]int32{min(a, b), max(a, b)}
	if n.cut[key] == on {
		return nil
	}
	var errs []error
	for _, p := range [][2]int32{{a, b}, {b, a}} {
		ns, peer := n.nodeNS(p[0]), n.nodeIP(p[1])
		var err error
		if on {
			err = ipRun("-n", ns, "neigh", "replace", peer, "lladdr", nowhereMAC, "dev", "eth0", "nud", "permanent")
		} else if err = ipRun("-n", ns, "neigh", "del", peer, "dev", "eth0"); err != nil &&
			strings.Contains(err.Error(), "No such file") {
			err = nil
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n.cut[key] = on
	return nil
}

// isolate cuts id off from every other node (on), or restores its links
// to every node that is not isolated itself (off).
func (n *clusterNet) isolate(id int32, on bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[id] = on
	var errs []error
	for _, o := range n.nodes {
		if o == id || (!on && n.isolated[o]) {
			continue
		}
		errs = append(errs, n.setCut(id, o, on))
	}
	return errors.Join(errs...)
}

// newIsolatableCluster is newCluster for WithNetworkIsolation: every node
// in its own namespace, on its own address with fixed ports.
func newIsolatableCluster(t testing.TB, c *Cluster, n int, o clusterOptions) error {
	if err := NetworkIsolationAvailable(); err != nil {
		return err
	}
	cn, err := newClusterNet(t)
	if err != nil {
		return err
	}
	c.net = cn
	for i := range n {
		nd := &ClusterNode{c: c, id: int32(i + 1), dir: t.TempDir()}
		if err := c.placeInNamespace(nd); err != nil {
			return err
		}
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes {
		nd.writeConfig(o.extra)
	}
	return nil
}

// placeInNamespace creates nd's namespace and sets its addresses.
func (c *Cluster) placeInNamespace(nd *ClusterNode) error {
	if err := c.net.addNode(nd.id); err != nil {
		return err
	}
	ip := c.net.nodeIP(nd.id)
	nd.netns = c.net.nodeNS(nd.id)
	nd.kafka = fmt.Sprintf("%s:%d", ip, nsKafkaPort)
	nd.controller = fmt.Sprintf("%s:%d", ip, nsControllerPort)
	nd.raft = fmt.Sprintf("%s:%d", ip, nsRaftPort)
	nd.gossip = fmt.Sprintf("%s:%d", ip, nsGossipPort)
	return nil
}

// command returns the command that runs the samsa binary with args for
// nd: in its namespace when it has one (ip netns exec execs the binary,
// so the process is the samsa server itself and signals reach it).
func (nd *ClusterNode) command(bin string, args ...string) *exec.Cmd {
	if nd.netns == "" {
		return exec.Command(bin, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", nd.netns, bin}, args...)...)
}

// Isolatable reports whether the cluster was started WithNetworkIsolation.
func (c *Cluster) Isolatable() bool { return c.net != nil }

// Isolate cuts every packet between this node and every other node, both
// directions (Kafka replication, controller, Raft, gossip over TCP and
// UDP), silently, while clients still reach it. The cluster must have
// been started WithNetworkIsolation.
func (nd *ClusterNode) Isolate() {
	nd.c.t.Helper()
	if nd.c.net == nil {
		nd.c.t.Fatal("Isolate needs a cluster started WithNetworkIsolation")
	}
	if err := nd.c.net.isolate(nd.id, true); err != nil {
		nd.c.t.Fatalf("isolating node %d: %v", nd.id, err)
	}
}

// Heal restores the traffic between this node and every other node that
// is not isolated itself.
func (nd *ClusterNode) Heal() {
	nd.c.t.Helper()
	if nd.c.net == nil {
		nd.c.t.Fatal("Heal needs a cluster started WithNetworkIsolation")
	}
	if err := nd.c.net.isolate(nd.id, false); err != nil {
		nd.c.t.Fatalf("healing node %d: %v", nd.id, err)
	}
}

// Namespace is the node's network namespace ("" without
// WithNetworkIsolation), for `ip netns exec`.
func (nd *ClusterNode) Namespace() string { return nd.netns }
