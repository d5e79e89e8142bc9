package harness

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

// brokersSeenBy returns the broker ids (the unfenced ones) that node's own
// Metadata lists, asked from the test process: a client.
func brokersSeenBy(ctx context.Context, nd *ClusterNode) ([]int32, error) {
	cl := protocol.NewClient(nd.Bootstrap(), "samsa-netns-test")
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp, err := cl.Request(ctx, req)
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids, nil
}

func waitBrokers(t *testing.T, nd *ClusterNode, want []int32, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		got, err := brokersSeenBy(ctx, nd)
		cancel()
		if err == nil && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d lists brokers %v (err %v), want %v within %v", nd.ID(), got, err, want, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dialFrom tries a TCP connection to addr from inside nd's namespace
// (bash's /dev/tcp), and returns nil once connected.
func dialFrom(nd *ClusterNode, addr string, timeout time.Duration) error {
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", nd.Namespace(), "bash", "-c",
		fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port)).CombinedOutput()
	if ctx.Err() != nil {
		return fmt.Errorf("no connection within %v", timeout)
	}
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// TestClusterNodeIsolate cuts one node off from the others: connections
// between them hang, the others fence it (gossip declares it dead), and
// the test process still reaches it as a client. Healed, it is unfenced
// again.
func TestClusterNodeIsolate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash for /dev/tcp")
	}
	c := StartCluster(t, 3, WithNetworkIsolation())
	n1, n2, n3 := c.Node(1), c.Node(2), c.Node(3)
	for _, nd := range c.Nodes() {
		waitBrokers(t, nd, []int32{1, 2, 3}, 30*time.Second)
	}
	if err := dialFrom(n1, n3.ControllerAddr(), 5*time.Second); err != nil {
		t.Fatalf("node 1 to node 3 before the isolation: %v", err)
	}

	n3.Isolate()
	for _, pair := range [][2]*ClusterNode{{n1, n3}, {n3, n2}} {
		if err := dialFrom(pair[0], pair[1].Bootstrap(), 2*time.Second); err == nil {
			t.Errorf("node %d reached node %d while node 3 is isolated", pair[0].ID(), pair[1].ID())
		}
	}
	if err := dialFrom(n1, n2.RaftAddr(), 5*time.Second); err != nil {
		t.Errorf("node 1 to node 2 while node 3 is isolated: %v", err)
	}
	waitBrokers(t, n1, []int32{1, 2}, 30*time.Second)
	waitBrokers(t, n2, []int32{1, 2}, 30*time.Second)
	// A client still reaches the isolated node.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := brokersSeenBy(ctx, n3); err != nil {
		t.Errorf("a client cannot reach the isolated node: %v", err)
	}

	// Healed, node 3 is unfenced once gossip has it alive again. That may
	// take memberlist's push-pull interval (30 s) or more (49 s seen): the
	// others have it dead, and unless it found itself alone (gossip then
	// joins its seeds again at once) it learns so, and refutes, only when
	// it next exchanges state with one of them.
	n3.Heal()
	healed := time.Now()
	for _, nd := range c.Nodes() {
		waitBrokers(t, nd, []int32{1, 2, 3}, 90*time.Second)
	}
	t.Logf("node 3 unfenced on every node %v after the heal", time.Since(healed).Round(100*time.Millisecond))
	if err := dialFrom(n1, n3.Bootstrap(), 5*time.Second); err != nil {
		t.Errorf("node 1 to node 3 after healing: %v", err)
	}
}
