package test

// The container deployment of deploy/compose.yaml, tested as shipped: the
// image is built from deploy/Dockerfile (FROM scratch, nothing pulled)
// around the static binary the other tests run, the three combined nodes
// are started with compose, and the properties the process tests check on
// local processes are checked on the containers, with the faults done the
// container way: `docker kill` of the active controller, `docker start`,
// and `docker network disconnect` of a partition leader from the compose
// network, then `docker network connect`.
//
// Without a Docker engine (`docker info` fails) or a compose tool
// (`docker compose` or `docker-compose`) the test skips and says why;
// SAMSA_TEST_DOCKER=off skips it too. Each run uses its own image tag,
// compose project and host ports, and removes all of them (containers,
// network, volumes, image) when it ends, failed or not; on failure it
// prints the tail of `compose logs` and keeps the whole logs in a file.
//
// The test process is on the host: it reaches each node through the port
// compose publishes on 127.0.0.1, and maps the names the nodes advertise
// (samsa-N:port, which the containers resolve on their network) to those
// ports with a dialer, as an /etc/hosts line does for other host clients
// (docs/operations.md).

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/test/harness"
)

// dockerNodes are the compose services of deploy/compose.yaml by node id,
// with the Kafka port each listens on inside its container (and
// advertises, as samsa-N:port).
var dockerNodes = map[int32]int{1: 19092, 2: 29092, 3: 39092}

// dockerCluster is one compose project of deploy/compose.yaml.
type dockerCluster struct {
	t         *testing.T
	compose   []string         // "docker compose" or "docker-compose"
	args      []string         // -p project -f deploy/compose.yaml
	env       []string         // the image and host ports for compose
	hostPorts map[int32]int    // node id -> published port on 127.0.0.1
	ids       map[int32]string // node id -> container id
	network   string           // the compose network
	logFile   string
}

// dockerRun runs a command with a timeout and returns its combined output.
func dockerRun(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// dockerAvailable returns the compose command, or why the test cannot run.
func dockerAvailable() ([]string, error) {
	if v := os.Getenv("SAMSA_TEST_DOCKER"); v == "off" || v == "0" {
		return nil, errors.New("SAMSA_TEST_DOCKER=" + v)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, errors.New("no docker command")
	}
	if out, err := dockerRun(30*time.Second, nil, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil || strings.TrimSpace(out) == "" {
		return nil, fmt.Errorf("no Docker engine answers `docker info`: %v", err)
	}
	if _, err := dockerRun(30*time.Second, nil, "docker", "compose", "version"); err == nil {
		return []string{"docker", "compose"}, nil
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}, nil
	}
	return nil, errors.New("neither `docker compose` nor docker-compose is installed")
}

// checkStatic fails the test unless bin is a statically linked ELF
// executable (no program interpreter), the only kind a FROM scratch image
// can run.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked; the FROM scratch image needs CGO_ENABLED=0", bin)
		}
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// freePorts returns n ports free on 127.0.0.1 just now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startDockerCluster builds the image and starts the compose cluster, or
// skips the test when Docker is not there.
func startDockerCluster(t *testing.T) *dockerCluster {
	compose, err := dockerAvailable()
	if err != nil {
		t.Skipf("Docker test skipped: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var suffix [4]byte
	rand.Read(suffix[:])
	run := hex.EncodeToString(suffix[:])
	project, image := "samsatest"+run, "samsa-test:"+run
	start := time.Now()

	// The image: deploy/Dockerfile, as `make image` builds it, on a
	// context holding just what the Dockerfile copies. The binary is the
	// one the other tests run (built with CGO_ENABLED=0).
	bin := harness.Binary(t)
	checkStatic(t, bin)
	ctxDir := t.TempDir()
	copyFile(t, bin, filepath.Join(ctxDir, "bin", "samsa"), 0o755)
	copyFile(t, filepath.Join(root, "deploy", "samsa.yaml"), filepath.Join(ctxDir, "deploy", "samsa.yaml"), 0o644)
	t.Cleanup(func() {
		if out, err := dockerRun(time.Minute, nil, "docker", "rmi", "-f", image); err != nil {
			t.Logf("removing image %s: %v %s", image, err, out)
		}
	})
	if _, err := dockerRun(3*time.Minute, nil, "docker", "build", "-q", "-f", filepath.Join(root, "deploy", "Dockerfile"), "-t", image, ctxDir); err != nil {
		t.Fatalf("building the image: %v", err)
	}
	t.Logf("%v: image %s built", time.Since(start).Round(time.Millisecond), image)

	ports := freePorts(t, len(dockerNodes))
	c := &dockerCluster{
		t:         t,
		compose:   compose,
		args:      []string{"-p", project, "-f", filepath.Join(root, "deploy", "compose.yaml")},
		env:       append(os.Environ(), "SAMSA_IMAGE="+image),
		hostPorts: map[int32]int{},
		ids:       map[int32]string{},
		logFile:   filepath.Join(os.TempDir(), "samsa-docker-test-"+project+".log"),
	}
	for i, id := range []int32{1, 2, 3} {
		c.hostPorts[id] = ports[i]
		c.env = append(c.env, fmt.Sprintf("SAMSA_KAFKA_PORT_%d=%d", id, ports[i]))
	}
	t.Cleanup(c.down)
	if _, err := c.composeRun(3*time.Minute, "up", "-d"); err != nil {
		t.Fatalf("compose up: %v", err)
	}
	for id := range dockerNodes {
		out, err := c.composeRun(time.Minute, "ps", "-q", fmt.Sprintf("samsa-%d", id))
		if err != nil || strings.TrimSpace(out) == "" {
			t.Fatalf("container of samsa-%d: %v %q", id, err, out)
		}
		c.ids[id] = strings.TrimSpace(out)
	}
	out, err := dockerRun(time.Minute, nil, "docker", "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", c.ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if nets := strings.Fields(out); len(nets) != 1 {
		t.Fatalf("samsa-1 is on networks %q, want one", nets)
	} else {
		c.network = nets[0]
	}
	// Up: every node serves, and its own Metadata lists all three brokers
	// (each registered and unfenced).
	for id := range dockerNodes {
		eventually(t, 90*time.Second, fmt.Sprintf("node %d listing three brokers", id), func() error {
			return c.brokersAre(id, []int32{1, 2, 3})
		})
	}
	t.Logf("%v: compose project %s up, Kafka ports 127.0.0.1:%v", time.Since(start).Round(time.Millisecond), project, ports)
	return c
}

func (c *dockerCluster) composeRun(timeout time.Duration, args ...string) (string, error) {
	all := append(append(slices.Clone(c.compose[1:]), c.args...), args...)
	return dockerRun(timeout, c.env, c.compose[0], all...)
}

// down dumps the logs if the test failed, then removes the containers,
// the network and the volumes.
func (c *dockerCluster) down() {
	if c.t.Failed() {
		if out, err := c.composeRun(time.Minute, "logs", "--no-color", "--tail", "60"); err == nil {
			c.t.Logf("compose logs, the last 60 lines of each node:\n%s", out)
		} else {
			c.t.Logf("compose logs: %v", err)
		}
		if out, err := c.composeRun(time.Minute, "logs", "--no-color"); err == nil && os.WriteFile(c.logFile, []byte(out), 0o644) == nil {
			c.t.Logf("compose logs of every node, in full: %s", c.logFile)
		}
	}
	if out, err := c.composeRun(3*time.Minute, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
		c.t.Errorf("compose down: %v %s", err, out)
	}
}

// addr is node id's Kafka listener as the host reaches it.
func (c *dockerCluster) addr(id int32) string {
	return "127.0.0.1:" + strconv.Itoa(c.hostPorts[id])
}

// dial maps the advertised samsa-N:port to the published port of node N.
func (c *dockerCluster) dial(ctx context.Context, network, host string) (net.Conn, error) {
	h, _, err := net.SplitHostPort(host)
	if err == nil && strings.HasPrefix(h, "samsa-") {
		if id, err := strconv.Atoi(strings.TrimPrefix(h, "samsa-")); err == nil && c.hostPorts[int32(id)] != 0 {
			host = c.addr(int32(id))
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, host)
}

// client is a franz-go client seeded with the given nodes (all when none).
func (c *dockerCluster) client(nodes []int32, opts ...kgo.Opt) *kgo.Client {
	if len(nodes) == 0 {
		nodes = []int32{1, 2, 3}
	}
	var seeds []string
	for _, id := range nodes {
		seeds = append(seeds, c.addr(id))
	}
	return newKgo(c.t, seeds[0], append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.Dialer(c.dial)}, opts...)...)
}

// admin is a kadm client that sends admin requests to node id (a Samsa
// broker reports itself as the controller and forwards them).
func (c *dockerCluster) admin(id int32) *kadm.Client {
	return kadm.NewClient(c.client([]int32{id}, kgo.MetadataMinAge(10*time.Millisecond)))
}

// request sends req to node id itself over one connection.
func (c *dockerCluster) request(id int32, req kmsg.Request) (kmsg.Response, error) {
	cl := protocol.NewClient(c.addr(id), "samsa-docker-test")
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", id, err)
	}
	return resp, nil
}

// metadata is node id's own Metadata (its image) for the given topics.
func (c *dockerCluster) metadata(id int32, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, topic := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := c.request(id, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// brokersAre checks that node id's Metadata lists exactly want.
func (c *dockerCluster) brokersAre(id int32, want []int32) error {
	resp, err := c.metadata(id)
	if err != nil {
		return err
	}
	var ids []int32
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, want) {
		return fmt.Errorf("node %d lists brokers %v, want %v", id, ids, want)
	}
	return nil
}

// topic is topic as node id's own Metadata describes it.
func (c *dockerCluster) topic(id int32, topic string) (kmsg.MetadataResponseTopic, error) {
	resp, err := c.metadata(id, topic)
	if err != nil {
		return kmsg.MetadataResponseTopic{}, err
	}
	if len(resp.Topics) != 1 {
		return kmsg.MetadataResponseTopic{}, fmt.Errorf("node %d: %d topics in the answer", id, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return kmsg.MetadataResponseTopic{}, fmt.Errorf("node %d: topic %s: %w", id, topic, err)
	}
	return resp.Topics[0], nil
}

// isrIs checks, on node id, that every partition of topic has a leader
// among want and the ISR want.
func (c *dockerCluster) isrIs(id int32, topic string, want []int32) error {
	td, err := c.topic(id, topic)
	if err != nil {
		return err
	}
	if len(td.Partitions) == 0 {
		return fmt.Errorf("node %d: %s has no partitions", id, topic)
	}
	for _, p := range td.Partitions {
		isr := slices.Clone(p.ISR)
		slices.Sort(isr)
		if !slices.Contains(want, p.Leader) || !slices.Equal(isr, want) {
			return fmt.Errorf("node %d: %s-%d: leader %d, ISR %v, want ISR %v", id, topic, p.Partition, p.Leader, p.ISR, want)
		}
	}
	return nil
}

// activeController asks node id which voter leads the metadata quorum
// (DescribeQuorum, forwarded by the broker to the active controller).
func (c *dockerCluster) activeController(id int32) (int32, error) {
	resp, err := c.request(id, harness.DescribeQuorumRequest())
	if err != nil {
		return -1, err
	}
	return harness.QuorumLeader(resp.(*kmsg.DescribeQuorumResponse))
}

// docker runs a docker command on the test's containers.
func (c *dockerCluster) docker(args ...string) {
	c.t.Helper()
	if out, err := dockerRun(time.Minute, nil, "docker", args...); err != nil {
		c.t.Fatalf("%v %s", err, out)
	}
}

// others are the node ids but id.
func dockerOthers(id int32) []int32 {
	var out []int32
	for _, o := range []int32{1, 2, 3} {
		if o != id {
			out = append(out, o)
		}
	}
	return out
}

// produceAcross produces n records valued prefix-i with acks=all through
// p, calling fault after the first third was sent, and returns the values
// acknowledged. Every record must be acknowledged: with two of three
// replicas in sync and min.insync.replicas=2 the cluster takes acks=all
// writes again once the faulty node is fenced, and the producer retries
// (idempotently) until then.
func (c *dockerCluster) produceAcross(p *kgo.Client, prefix string, n int, fault func()) []string {
	c.t.Helper()
	var mu sync.Mutex
	var acked []string
	var failed []error
	var wg sync.WaitGroup
	for i := range n {
		if i == n/3 && fault != nil {
			fault()
		}
		v := fmt.Sprintf("%s-%d", prefix, i)
		wg.Add(1)
		p.Produce(context.Background(), kgo.StringRecord(v), func(_ *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, fmt.Errorf("%s: %w", v, err))
				return
			}
			acked = append(acked, v)
		})
		if i%10 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	wg.Wait()
	if len(failed) > 0 {
		c.t.Fatalf("%d of %d acks=all records %s-* not acknowledged; first: %v", len(failed), n, prefix, failed[0])
	}
	return acked
}

// createSoon starts retrying CreateTopics of name through adm until it
// succeeds (a retry that finds the topic created by an earlier attempt
// counts) or budget has passed, and delivers how long that took, or the
// last error.
func createSoon(adm *kadm.Client, name string, budget time.Duration) <-chan createResult {
	done := make(chan createResult, 1)
	go func() {
		start := time.Now()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := adm.CreateTopic(ctx, 1, 1, nil, name)
			cancel()
			if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
				done <- createResult{took: time.Since(start)}
				return
			}
			if time.Since(start) > budget {
				done <- createResult{err: fmt.Errorf("CreateTopics %s still failing after %v: %w", name, budget, err)}
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return done
}

type createResult struct {
	took time.Duration
	err  error
}

// TestDockerComposeCluster runs deploy/compose.yaml's three combined nodes
// from the FROM scratch image and checks, through the ports published on
// the host: a topic created through one node is visible, with its id, on
// every node; a topic with three replicas and min.insync.replicas=2 takes
// acks=all idempotent writes on every partition; after `docker kill` of
// the active controller CreateTopics through another node succeeds within
// 15 s, acks=all writes go on, and no acknowledged topic or record is
// lost; `docker start` brings the node back into the brokers and every
// ISR; `docker network disconnect` of a partition leader from the compose
// network makes the two others fence it, elect new leaders and keep
// taking acks=all writes and admin requests; `docker network connect`
// brings it back into every ISR. At the end every acknowledged record is
// read back exactly once.
func TestDockerComposeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image and runs three containers; skipped with -short")
	}
	c := startDockerCluster(t)
	start := time.Now()
	step := func(format string, args ...any) {
		t.Logf("%v: %s", time.Since(start).Round(time.Millisecond), fmt.Sprintf(format, args...))
	}

	// A topic created through node 1 is on every node, with one id.
	everywhere := createTopic(t, c.admin(1), "everywhere", 3, nil)
	for id := range dockerNodes {
		eventually(t, opTimeout, fmt.Sprintf("topic everywhere on node %d", id), func() error {
			td, err := c.topic(id, "everywhere")
			if err != nil {
				return err
			}
			if td.TopicID != everywhere.ID || len(td.Partitions) != 3 {
				return fmt.Errorf("node %d: id %x with %d partitions, created as %x with 3", id, td.TopicID, len(td.Partitions), everywhere.ID)
			}
			return nil
		})
	}
	step("topic created through node 1 is on all three")

	// Three replicas, min.insync.replicas=2: followers on the other
	// containers copy each leader's log (they reach it at its advertised
	// name), so every ISR is all three brokers.
	const topic = "durable"
	adm := c.admin(2)
	if resp, err := adm.CreateTopic(testCtx(t), 3, 3, map[string]*string{"min.insync.replicas": strp("2")}, topic); err != nil {
		t.Fatalf("CreateTopics %s: %v %s", topic, err, resp.ErrMessage)
	}
	eventually(t, 30*time.Second, "every ISR of "+topic+" complete", func() error { return c.isrIs(1, topic, []int32{1, 2, 3}) })
	producer := c.client(nil, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RecordDeliveryTimeout(90*time.Second), kgo.ProducerLinger(0))
	acked := c.produceAcross(producer, "start", 90, nil)
	step("%d acks=all idempotent records on %s (RF 3, ISR 1,2,3)", len(acked), topic)

	// docker kill of the active controller, while records are produced.
	ctrl := int32(-1)
	eventually(t, 30*time.Second, "an active controller", func() (err error) {
		ctrl, err = c.activeController(1)
		return err
	})
	survivors := dockerOthers(ctrl)
	sadm := c.admin(survivors[0])
	var created <-chan createResult
	acked = append(acked, c.produceAcross(producer, "kill", 150, func() {
		c.docker("kill", c.ids[ctrl])
		created = createSoon(sadm, "after-kill", failoverBudget)
	})...)
	step("docker kill of the active controller (node %d); records produced across it acknowledged", ctrl)
	if r := <-created; r.err != nil {
		t.Fatalf("after docker kill of the active controller, through node %d: %v", survivors[0], r.err)
	} else {
		step("CreateTopics through node %d succeeded %v after the kill", survivors[0], r.took.Round(time.Millisecond))
	}
	for _, id := range survivors {
		eventually(t, 30*time.Second, fmt.Sprintf("node %d with the new controller, every topic, ISR %v", id, survivors), func() error {
			if leader, err := c.activeController(id); err != nil || leader == ctrl {
				return fmt.Errorf("active controller %d (%v), want another than %d", leader, err, ctrl)
			}
			for _, name := range []string{"everywhere", topic, "after-kill"} {
				if _, err := c.topic(id, name); err != nil {
					return err
				}
			}
			if err := c.brokersAre(id, survivors); err != nil {
				return err
			}
			return c.isrIs(id, topic, survivors)
		})
	}
	if out, err := dockerRun(time.Minute, nil, "docker", "inspect", "-f", "{{.State.Running}}", c.ids[ctrl]); err != nil || strings.TrimSpace(out) != "false" {
		t.Fatalf("node %d's container after docker kill: running %q (%v); the restart policy must leave it stopped", ctrl, out, err)
	}

	// docker start: the node rejoins the brokers and every ISR.
	c.docker("start", c.ids[ctrl])
	startedAt := time.Now()
	eventually(t, 90*time.Second, fmt.Sprintf("node %d back in the brokers and every ISR", ctrl), func() error {
		for id := range dockerNodes {
			if err := c.brokersAre(id, []int32{1, 2, 3}); err != nil {
				return err
			}
		}
		if _, err := c.topic(ctrl, "after-kill"); err != nil {
			return err
		}
		return c.isrIs(survivors[0], topic, []int32{1, 2, 3})
	})
	step("docker start of node %d: back in the brokers and every ISR after %v", ctrl, time.Since(startedAt).Round(time.Millisecond))

	// docker network disconnect of the leader of partition 0: it is cut
	// off from the other nodes, and from the host too (its published port
	// goes with its endpoint), so what is checked is what the two others
	// do: fence it, move its leaderships to in-sync followers, shrink the
	// ISRs to themselves, and go on taking acks=all writes and admin
	// requests.
	td, err := c.topic(survivors[0], topic)
	if err != nil {
		t.Fatal(err)
	}
	victim := td.Partitions[0].Leader
	rest := dockerOthers(victim)
	var aliases []string
	out, err := dockerRun(time.Minute, nil, "docker", "inspect", "-f", fmt.Sprintf("{{json (index .NetworkSettings.Networks %q).Aliases}}", c.network), c.ids[victim])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(bytes.TrimSpace([]byte(out)), &aliases); err != nil || !slices.Contains(aliases, fmt.Sprintf("samsa-%d", victim)) {
		t.Fatalf("node %d's aliases on %s: %q (%v), want samsa-%d among them", victim, c.network, out, err, victim)
	}
	radm := c.admin(rest[0])
	var cutAt time.Time
	acked = append(acked, c.produceAcross(producer, "cut", 150, func() {
		c.docker("network", "disconnect", c.network, c.ids[victim])
		cutAt = time.Now()
		created = createSoon(radm, "while-cut-off", failoverBudget)
	})...)
	step("docker network disconnect of node %d (leader of %s-0); records produced across it acknowledged", victim, topic)
	if r := <-created; r.err != nil {
		t.Fatalf("with node %d cut off, through node %d: %v", victim, rest[0], r.err)
	} else {
		step("CreateTopics through node %d succeeded %v after the disconnect", rest[0], r.took.Round(time.Millisecond))
	}
	for _, id := range rest {
		eventually(t, 30*time.Second, fmt.Sprintf("node %d fencing node %d with ISR %v", id, victim, rest), func() error {
			if err := c.brokersAre(id, rest); err != nil {
				return err
			}
			return c.isrIs(id, topic, rest)
		})
	}
	step("nodes %v fenced node %d and lead every partition, %v after the disconnect", rest, victim, time.Since(cutAt).Round(time.Millisecond))

	// docker network connect, with the aliases it had (the others reach
	// it by its service name): it rejoins, catches up and is back in every
	// ISR; the host reaches it again at its published port.
	connect := []string{"network", "connect"}
	for _, a := range aliases {
		connect = append(connect, "--alias", a)
	}
	c.docker(append(connect, c.network, c.ids[victim])...)
	connectedAt := time.Now()
	eventually(t, 90*time.Second, fmt.Sprintf("node %d back in the brokers and every ISR", victim), func() error {
		for _, id := range rest {
			if err := c.brokersAre(id, []int32{1, 2, 3}); err != nil {
				return err
			}
		}
		if err := c.isrIs(rest[0], topic, []int32{1, 2, 3}); err != nil {
			return err
		}
		_, err := c.topic(victim, "while-cut-off")
		return err
	})
	step("docker network connect of node %d: back in the brokers and every ISR after %v", victim, time.Since(connectedAt).Round(time.Millisecond))
	acked = append(acked, c.produceAcross(producer, "end", 30, nil)...)

	// Every acknowledged record, exactly once.
	ends := map[int32]int64{}
	lo, err := c.admin(rest[0]).ListEndOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatalf("ListOffsets %s: %v", topic, err)
	}
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("ListOffsets %s-%d: %v", topic, o.Partition, o.Err)
		}
		ends[o.Partition] = o.Offset
	})
	seen := map[string]int{}
	for _, r := range consumeUntil(t, c.addr(rest[0]), topic, ends, kgo.Dialer(c.dial), kgo.SeedBrokers(c.addr(1), c.addr(2), c.addr(3))) {
		seen[string(r.Value)]++
	}
	for _, v := range acked {
		if seen[v] != 1 {
			t.Errorf("acknowledged record %s read %d times, want once", v, seen[v])
		}
	}
	for v, n := range seen {
		if n > 1 && !slices.Contains(acked, v) {
			t.Errorf("unacknowledged record %s read %d times", v, n)
		}
	}
	step("%d acknowledged records read back, each once (%d records in %s)", len(acked), len(seen), topic)
}
