package test

// DeleteRecords on a replicated partition (KIP-107): the answer waits
// until every live replica has moved its log start, so the low watermark
// it reports holds on every broker that serves the partition. A paused
// follower holds the answer until the request's timeout
// (REQUEST_TIMED_OUT, the leader has deleted already); once the
// controller has fenced it, it no longer counts.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/test/harness"
)

// checkpointedLogStart reads a node's log-start-offset-checkpoint of
// topic-0 (0 when the start never moved).
func checkpointedLogStart(t *testing.T, node *harness.ClusterNode, topic string) int64 {
	t.Helper()
	dirs := partitionDirs(node, topic, 0)
	if len(dirs) != 1 {
		t.Fatalf("node %d holds %v for %s-0", node.ID(), dirs, topic)
	}
	f, err := os.Open(filepath.Join(dirs[0], "log-start-offset-checkpoint"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 2 || lines[0] != "0" {
		t.Fatalf("node %d: log-start-offset-checkpoint is %q", node.ID(), lines)
	}
	start, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return start
}

func TestDeleteRecordsWaitsForLiveFollowers(t *testing.T) {
	c := harness.StartCluster(t, 3)
	adm := newAdmin(t, c.Node(1).Bootstrap())
	const topic = "trimmed"
	createReplicatedTopic(t, adm, topic, 1, nil)
	waitISR(t, c.Node(1), topic, []int32{1, 2, 3}, 30*time.Second)
	cl := newKgo(t, c.Node(1).Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	for i := range 100 {
		if err := cl.ProduceSync(testCtx(t), kgo.StringRecord(strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deleteBefore := func(adm *kadm.Client, offset int64) kadm.DeleteRecordsResponse {
		t.Helper()
		resp, err := adm.DeleteRecords(testCtx(t), kadm.Offsets{topic: {0: {At: offset}}})
		if err != nil {
			t.Fatal(err)
		}
		r, ok := resp.Lookup(topic, 0)
		if !ok {
			t.Fatalf("no answer for %s-0", topic)
		}
		return r
	}

	// Answered once every replica has moved: the followers' checkpoints
	// already say so.
	began := time.Now()
	if r := deleteBefore(adm, 60); r.Err != nil || r.LowWatermark != 60 {
		t.Fatalf("DeleteRecords before 60: %+v", r)
	}
	t.Logf("DeleteRecords answered after %v", time.Since(began).Round(time.Millisecond))
	for _, nd := range c.Nodes() {
		if start := checkpointedLogStart(t, nd, topic); start != 60 {
			t.Errorf("node %d's log starts at %d when DeleteRecords answered, want 60", nd.ID(), start)
		}
	}

	// A paused follower cannot fetch the new start: the answer times out,
	// though the leader has moved.
	leader := leaderOf(t, c.Node(1), topic, 0)
	paused := c.Others(leader)[0]
	short := newAdmin(t, c.Node(leader).Bootstrap())
	short.SetTimeoutMillis(1000)
	paused.Pause()
	start := time.Now()
	r := deleteBefore(short, 80)
	if !errors.Is(r.Err, kerr.RequestTimedOut) {
		t.Fatalf("DeleteRecords before 80 with node %d paused: %+v, want REQUEST_TIMED_OUT", paused.ID(), r)
	}
	t.Logf("timed out after %v with node %d paused", time.Since(start).Round(time.Millisecond), paused.ID())
	starts, err := adm.ListStartOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup(topic, 0); o.Offset != 80 {
		t.Errorf("the leader's log start after the timeout: %+v, want 80", o)
	}

	// Once fenced, the paused follower no longer holds the answer.
	eventually(t, 30*time.Second, fmt.Sprintf("node %d fenced", paused.ID()), func() error {
		brokers, err := adm.ListBrokers(testCtx(t))
		if err != nil {
			return err
		}
		for _, b := range brokers {
			if b.NodeID == paused.ID() {
				return fmt.Errorf("node %d still listed as live", paused.ID())
			}
		}
		return nil
	})
	if r := deleteBefore(short, 90); r.Err != nil || r.LowWatermark != 90 {
		t.Fatalf("DeleteRecords before 90 with node %d fenced: %+v", paused.ID(), r)
	}

	// Resumed, it catches up with the leader's log start.
	paused.Resume()
	eventually(t, 30*time.Second, fmt.Sprintf("node %d's log to start at 90", paused.ID()), func() error {
		if start := checkpointedLogStart(t, paused, topic); start != 90 {
			return fmt.Errorf("it starts at %d", start)
		}
		return nil
	})
}
