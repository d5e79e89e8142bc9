package test

// A partition directory that the metadata assigns to no replica on its
// broker is a stray: a deletion that a crash interrupted (the topic was
// deleted, or the partition moved away, and the broker died while it
// removed the directory) leaves one behind, and the broker's next start
// never opens it, because the metadata it restores no longer mentions the
// partition. Once the metadata a broker has caught up to holds its own
// registration, it deletes such directories; the partitions it hosts keep
// theirs.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
	"github.com/samsa-io/samsa/controller"
)

func TestStrayPartitionDirectoryRemovedAtStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := samsatest.Start(t, samsatest.WithNodes(3),
		samsatest.WithTopic("staying", 1), samsatest.WithTopic("doomed", 1),
		// Snapshot the metadata log often, so that node 3 restarts from
		// a snapshot taken after the deletion.
		samsatest.WithControllerConfig(func(c *controller.Config) {
			c.SnapshotThreshold = 2
			c.SnapshotInterval = 20 * time.Millisecond
			c.TrailingLogs = 1
		}))
	cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := cl.Admin()
	p, err := cl.NewProducer() // acks=all: the records reach node 3 too
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"staying", "doomed"} {
		waitReplicaState(t, ctx, adm, topic, func(p client.PartitionInfo) bool { return len(p.ISR) == 3 })
		if _, err := p.ProduceSync(ctx, client.NewRecord(topic, nil, []byte(topic))); err != nil {
			t.Fatal(err)
		}
	}
	node3 := filepath.Join(c.DataDir(), "node-3")
	doomedDir := filepath.Join(node3, "logs", "doomed-0")
	saved := filepath.Join(t.TempDir(), "doomed-0")
	c.Kill(3)
	if out, err := exec.Command("cp", "-a", doomedDir, saved).CombinedOutput(); err != nil {
		t.Fatalf("saving node 3's doomed-0: %v %s", err, out)
	}
	c.Restart(3)

	// Node 3 is up when the topic is deleted: it removes its directory
	// then, and snapshots its metadata past the deletion.
	if err := adm.DeleteTopic(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "node 3 to delete doomed-0", func() bool {
		_, err := os.Stat(doomedDir)
		return errors.Is(err, os.ErrNotExist)
	})
	// Node 3 has applied the deletion: any snapshot it takes from now on
	// includes it, and the topics created next make it take one.
	applied := time.Now()
	for i := range 4 {
		if _, err := adm.CreateTopic(ctx, fmt.Sprintf("filler-%d", i), 1, 3, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, ctx, "node 3 to snapshot its metadata after the deletion", func() bool {
		entries, _ := os.ReadDir(filepath.Join(node3, "controller", "raft", "snapshots"))
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.ModTime().After(applied) {
				return true
			}
		}
		return false
	})

	// A crash during that removal would have left the directory: put it
	// back while node 3 is down, and start it.
	c.Kill(3)
	if out, err := exec.Command("cp", "-a", saved, doomedDir).CombinedOutput(); err != nil {
		t.Fatalf("restoring doomed-0: %v %s", err, out)
	}
	c.Restart(3)
	waitReplicaState(t, ctx, adm, "staying", func(p client.PartitionInfo) bool { return len(p.ISR) == 3 })
	waitFor(t, ctx, "node 3 to remove the stray doomed-0", func() bool {
		_, err := os.Stat(doomedDir)
		return errors.Is(err, os.ErrNotExist)
	})
	if _, err := os.Stat(filepath.Join(node3, "logs", "staying-0")); err != nil {
		t.Errorf("node 3 lost the directory of a partition it hosts: %v", err)
	}
}

// waitFor polls cond every 50 ms until it holds, failing the test when
// ctx ends first.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitReplicaState waits until partition 0 of topic satisfies ok.
func waitReplicaState(t *testing.T, ctx context.Context, adm *client.Admin, topic string, ok func(client.PartitionInfo) bool) {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		d, err := adm.DescribeTopic(ctx, topic)
		if err == nil && len(d.Partitions) > 0 && ok(d.Partitions[0]) {
			return
		}
		last = fmt.Sprintf("%+v %v", d.Partitions, err)
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s-0 never reached the state waited for; last %s", topic, last)
}
