package test

// The controller quorum changed online (KIP-853: samsa cluster
// add-controller / remove-controller), the refusals of a controller that
// lost or corrupted its Raft log, and DescribeCluster v2's fenced brokers
// (KIP-1073), on real server processes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/test/harness"
)

// cliText runs the samsa CLI against bootstrap and returns its output; a
// failure fails the test unless wantFail, which returns stderr instead.
func cliText(t *testing.T, bootstrap string, wantFail bool, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), append(args, "--bootstrap", bootstrap)...)
	cmd.Env = append(os.Environ(), "SAMSA_BOOTSTRAP=")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	switch {
	case wantFail && err == nil:
		t.Fatalf("samsa %s succeeded, want a failure:\n%s", strings.Join(args, " "), stdout.String())
	case wantFail:
		return stderr.String()
	case err != nil:
		t.Fatalf("samsa %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// quorumVoters returns the voter ids samsa cluster quorum reports.
func quorumVoters(t *testing.T, bootstrap string) ([]int32, cliQuorum) {
	t.Helper()
	var q cliQuorum
	cliJSON(t, bootstrap, &q, "cluster", "quorum", "-o", "json")
	var ids []int32
	for _, v := range q.Voters {
		ids = append(ids, v.ID)
	}
	slices.Sort(ids)
	return ids, q
}

// creator creates a topic every interval through one node's broker, until
// stopped, and records every CreateTopics that failed.
type creator struct {
	t        *testing.T
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	created  []string
	failures []string
}

func startCreator(t *testing.T, bootstrap string) *creator {
	c := &creator{t: t, stop: make(chan struct{}), done: make(chan struct{})}
	adm := newAdmin(t, bootstrap)
	go func() {
		defer close(c.done)
		for i := 0; ; i++ {
			select {
			case <-c.stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			name := fmt.Sprintf("during-%03d", i)
			ctx, cancel := context.WithTimeout(context.Background(), failoverBudget)
			_, err := adm.CreateTopic(ctx, 1, 1, nil, name)
			cancel()
			c.mu.Lock()
			if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
				c.created = append(c.created, name)
			} else {
				c.failures = append(c.failures, fmt.Sprintf("%s: %v", name, err))
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// finish stops the creator, once it has created at least three topics
// (a quick quorum change may be over before then: the creates that count
// are the ones that ran through it, but a few more do no harm), and fails
// the test if any CreateTopics failed.
func (c *creator) finish() []string {
	c.t.Helper()
	eventually(c.t, failoverBudget, "three topics created", func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if n := len(c.created) + len(c.failures); n < 3 {
			return fmt.Errorf("%d CreateTopics done", n)
		}
		return nil
	})
	close(c.stop)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failures) > 0 {
		c.t.Fatalf("CreateTopics failed while the quorum changed:\n%s", strings.Join(c.failures, "\n"))
	}
	if len(c.created) < 3 {
		c.t.Fatalf("only %d topics created while the quorum changed", len(c.created))
	}
	return c.created
}

// TestClusterReplaceKilledController follows the operations guide's
// "Replacing a controller" (KIP-853): with one of three voters killed
// (kill -9), a fourth node started with controller.quorum.join is added
// with samsa cluster add-controller and the dead voter removed with
// remove-controller, while a client keeps creating topics through a
// surviving broker, every one of which succeeds. The quorum then has
// the survivors and the new node as voters, and keeps that configuration
// when every node is restarted at once (the bootstrap voter list in their
// config files still names the dead one and not the new one).
func TestClusterReplaceKilledController(t *testing.T) {
	c := harness.StartCluster(t, 3)
	leader := c.WaitActiveController(30 * time.Second)
	dead := c.Others(leader)[0]
	survivor := c.Node(leader)
	createTopic(t, newAdmin(t, survivor.Bootstrap()), "before", 1, nil)

	dead.Kill()
	cr := startCreator(t, survivor.Bootstrap())

	joiner := c.StartJoiningNode()
	out := cliText(t, survivor.Bootstrap(), false, "cluster", "add-controller",
		"--id", fmt.Sprint(joiner.ID()), "--address", joiner.RaftAddr())
	if !strings.Contains(out, fmt.Sprintf("Controller %d added", joiner.ID())) {
		t.Fatalf("samsa cluster add-controller: %q", out)
	}
	joiner.WaitServing()
	if ids, _ := quorumVoters(t, survivor.Bootstrap()); !slices.Contains(ids, joiner.ID()) || len(ids) != 4 {
		t.Fatalf("voters after add-controller: %v, want four with node %d", ids, joiner.ID())
	}
	// Adding it again is refused, with Kafka's code and a clear message.
	msg := cliText(t, survivor.Bootstrap(), true, "cluster", "add-controller",
		"--id", fmt.Sprint(joiner.ID()), "--address", joiner.RaftAddr())
	if !strings.Contains(msg, "DUPLICATE_VOTER") || !strings.Contains(msg, "already a voter") {
		t.Fatalf("adding a voter twice: %s", msg)
	}

	cliText(t, survivor.Bootstrap(), false, "cluster", "remove-controller", "--id", fmt.Sprint(dead.ID()))
	var want []int32
	for _, nd := range c.Nodes() {
		if nd != dead {
			want = append(want, nd.ID())
		}
	}
	var q cliQuorum
	eventually(t, 10*time.Second, "the dead voter gone and every follower's progress known", func() error {
		ids, got := quorumVoters(t, survivor.Bootstrap())
		if !slices.Equal(ids, want) {
			return fmt.Errorf("voters %v, want %v", ids, want)
		}
		for _, v := range got.Voters {
			if v.LogEndOffset < 0 {
				return fmt.Errorf("voter %d's log end offset unknown", v.ID)
			}
		}
		q = got
		return nil
	})
	msg = cliText(t, survivor.Bootstrap(), true, "cluster", "remove-controller", "--id", fmt.Sprint(dead.ID()))
	if !strings.Contains(msg, "VOTER_NOT_FOUND") {
		t.Fatalf("removing a voter twice: %s", msg)
	}
	created := cr.finish()
	t.Logf("quorum after the replacement: %+v; %d topics created during it", q, len(created))

	// Restart everything at once. Brokers must reach the new controller
	// when it leads: its listener goes into every bootstrap list.
	var ctrls []string
	for _, nd := range c.Nodes() {
		if nd != dead {
			ctrls = append(ctrls, nd.ControllerAddr())
		}
	}
	for _, nd := range c.Nodes() {
		if nd == dead {
			continue
		}
		nd.Kill()
		nd.SetConfig("controller.quorum.bootstrap.servers", strings.Join(ctrls, ","))
	}
	for _, nd := range c.Nodes() {
		if nd != dead {
			nd.Launch()
		}
	}
	for _, nd := range c.Nodes() {
		if nd != dead {
			nd.WaitServing()
		}
	}
	if ids, _ := quorumVoters(t, joiner.Bootstrap()); !slices.Equal(ids, want) {
		t.Fatalf("voters after restarting every node: %v, want %v", ids, want)
	}
	createTopic(t, newAdmin(t, joiner.Bootstrap()), "after-restart", 1, nil)
	for _, name := range append([]string{"before", "after-restart"}, created...) {
		waitTopicOnAll(t, []*harness.ClusterNode{survivor, joiner}, name, 1)
	}
}

// TestClusterControllerWithLostOrCorruptLogRefusesToStart: a voter whose
// raft.db is corrupt refuses to start naming the file; one whose data
// directory was wiped refuses to rejoin as the voter it was (it could vote
// twice in a term) and says to remove-controller / add-controller it;
// following that procedure brings it back as a voter with the whole log.
// The other two voters serve throughout.
func TestClusterControllerWithLostOrCorruptLogRefusesToStart(t *testing.T) {
	c := harness.StartCluster(t, 3)
	leader := c.WaitActiveController(30 * time.Second)
	bad := c.Others(leader)[0]
	good := c.Node(leader)
	adm := newAdmin(t, good.Bootstrap())
	createTopic(t, adm, "before", 1, nil)
	bad.Kill()

	db := filepath.Join(bad.DataDir(), "controller", "raft", "raft.db")
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 32<<10)
	for i := range junk {
		junk[i] = 0x5A
	}
	if _, err := f.WriteAt(junk, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := bad.StartExpectingFailure(30 * time.Second)
	if !strings.Contains(out, "raft log corrupt") || !strings.Contains(out, db) {
		t.Fatalf("node %d with a corrupt raft.db: want a refusal naming %s, got:\n%s", bad.ID(), db, lastLines(out, 10))
	}
	t.Logf("corrupt raft.db:\n%s", lastLines(out, 2))

	bad.WipeData()
	out = bad.StartExpectingFailure(30 * time.Second)
	if !strings.Contains(out, "raft log lost") || !strings.Contains(out, fmt.Sprintf("remove-controller --id %d", bad.ID())) ||
		!strings.Contains(out, "controller.quorum.join") {
		t.Fatalf("node %d on a wiped data directory: want a refusal with the replacement procedure, got:\n%s", bad.ID(), lastLines(out, 10))
	}
	t.Logf("wiped data directory:\n%s", lastLines(out, 2))
	createTopic(t, adm, "while-refused", 1, nil)

	// The procedure the refusal names.
	cliText(t, good.Bootstrap(), false, "cluster", "remove-controller", "--id", fmt.Sprint(bad.ID()))
	bad.WipeData()
	bad.SetConfig("controller.quorum.join", "true")
	bad.Launch()
	cliText(t, good.Bootstrap(), false, "cluster", "add-controller", "--id", fmt.Sprint(bad.ID()), "--address", bad.RaftAddr())
	bad.WaitServing()
	if ids, _ := quorumVoters(t, good.Bootstrap()); len(ids) != 3 || !slices.Contains(ids, bad.ID()) {
		t.Fatalf("voters after re-adding node %d: %v", bad.ID(), ids)
	}
	waitTopicOnAll(t, []*harness.ClusterNode{bad}, "before", 1)
	waitTopicOnAll(t, []*harness.ClusterNode{bad}, "while-refused", 1)
}

// TestClusterBrokerListShowsFencedBrokers: after kill -9, a broker is
// fenced but still registered; DescribeCluster v2 with
// IncludeFencedBrokers (KIP-1073) lists it with IsFenced, v2 without the
// flag and v1 leave it out, and samsa broker list shows it in the FENCED
// column with its address.
func TestClusterBrokerListShowsFencedBrokers(t *testing.T) {
	c := harness.StartCluster(t, 3)
	leader := c.WaitActiveController(30 * time.Second)
	victim := c.Others(leader)[0]
	watcher := c.Node(leader)
	victim.Kill()

	eventually(t, 30*time.Second, fmt.Sprintf("node %d fenced", victim.ID()), func() error {
		var list []struct {
			ID     int32  `json:"id"`
			Host   string `json:"host"`
			Fenced bool   `json:"fenced"`
		}
		// Not cliJSON: the CLI's client may try the killed broker first
		// and fail this round.
		out, err := exec.Command(harness.Binary(t), "broker", "list", "-o", "json", "--bootstrap", watcher.Bootstrap()).Output()
		if err != nil {
			return fmt.Errorf("samsa broker list: %w", err)
		}
		if err := json.Unmarshal(out, &list); err != nil {
			return fmt.Errorf("samsa broker list: %w: %s", err, out)
		}
		for _, b := range list {
			if b.ID == victim.ID() && b.Fenced && b.Host != "" {
				return nil
			}
		}
		return fmt.Errorf("broker list: %+v", list)
	})
	// The CLI's client may ask any live broker; one that follows the
	// metadata log applies the fence a moment after the controller does.
	eventually(t, 10*time.Second, "the FENCED column in the broker table", func() error {
		out, err := exec.Command(harness.Binary(t), "broker", "list", "--bootstrap", watcher.Bootstrap()).Output()
		if err != nil {
			return fmt.Errorf("samsa broker list: %w", err)
		}
		if table := string(out); !strings.Contains(table, "FENCED") || !strings.Contains(table, "yes") {
			return fmt.Errorf("samsa broker list table:\n%s", table)
		}
		return nil
	})

	describe := func(version int16, includeFenced bool) map[int32]bool {
		cl := protocol.NewClient(watcher.Bootstrap(), "samsa-test")
		defer cl.Close()
		req := kmsg.NewPtrDescribeClusterRequest()
		req.SetVersion(version)
		req.EndpointType = 1
		req.IncludeFencedBrokers = includeFenced
		resp, err := cl.Request(testCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.DescribeClusterResponse)
		got := map[int32]bool{}
		for _, b := range r.Brokers {
			got[b.NodeID] = b.IsFenced
		}
		return got
	}
	if got := describe(2, true); len(got) != 3 || !got[victim.ID()] {
		t.Errorf("DescribeCluster v2 with fenced brokers: %v, want all three, node %d fenced", got, victim.ID())
	}
	for _, v := range []int16{1, 2} {
		if got := describe(v, false); len(got) != 2 {
			t.Errorf("DescribeCluster v%d without fenced brokers: %v, want the two live ones", v, got)
		}
	}
}
