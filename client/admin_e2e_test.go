package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/broker"
	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
)

// CreatePartitions (KIP-195) grows a topic; it never shrinks one.
func TestAdminSetPartitionCount(t *testing.T) {
	ctx, cl := producerNode(t, samsatest.WithTopic("events", 2))
	adm := cl.Admin()
	if err := adm.SetPartitionCount(ctx, "events", 5); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "five partitions described", func() error {
		d, err := adm.DescribeTopic(ctx, "events")
		if err != nil {
			return err
		}
		if len(d.Partitions) != 5 || d.Partitions[4].Leader < 0 {
			return errors.New("not yet")
		}
		return nil
	})
	if err := adm.SetPartitionCount(ctx, "events", 3); !errors.Is(err, kerr.InvalidPartitions) {
		t.Errorf("shrinking: %v, want INVALID_PARTITIONS", err)
	}
	if err := adm.SetPartitionCount(ctx, "missing", 3); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if err := adm.SetPartitionCount(ctx, "events", 0); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("zero partitions: %v, want ErrInvalidArgument", err)
	}
}

func TestAdminDescribeBrokerConfigs(t *testing.T) {
	ctx, cl := producerNode(t, samsatest.WithBrokerConfig(func(c *broker.Config) {
		c.StaticConfigs = map[string]string{"num.io.threads": "8"}
	}))
	info, err := cl.Admin().DescribeCluster(ctx)
	if err != nil || len(info.Brokers) != 1 {
		t.Fatalf("describe cluster: %+v, %v", info, err)
	}
	cfgs, err := cl.Admin().DescribeBrokerConfigs(ctx, info.Brokers[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(cfgs, func(c client.ConfigEntry) bool { return c.Name == "num.io.threads" }); i < 0 || cfgs[i].Value != "8" {
		t.Errorf("configs %+v lack num.io.threads=8", cfgs)
	}
}

// read_committed passes through to the fetch; without transactions it
// reads everything up to the high watermark.
func TestConsumerReadCommitted(t *testing.T) {
	ctx, cl := producerNode(t, samsatest.WithTopic("events", 1))
	want := produceTo(t, ctx, cl, "events", 0, "v", 3)
	got := readN(t, ctx, cl, "events", len(want), client.ConsumeIsolation(client.ReadCommitted))
	if len(got) != len(want) {
		t.Errorf("read %d records, want %d", len(got), len(want))
	}
	if _, err := cl.NewConsumer("events", client.ConsumeIsolation(3)); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("isolation 3: %v", err)
	}
}

// A reassignment moves a partition to another broker and keeps its
// records; the move is listed while it lasts. Refusals come back per
// partition, and bad requests fail before anything is sent.
func TestAdminReassignPartition(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := samsatest.Start(t, samsatest.WithNodes(3), samsatest.WithTopic("moves", 1, samsatest.ReplicationFactor(1)))
	cl := newClient(t, ctx, c)
	adm := cl.Admin()
	want := produceTo(t, ctx, cl, "moves", 0, "m", 20)

	from := c.Leader("moves", 0)
	to := from%3 + 1
	rs, err := adm.AlterPartitionReassignments(ctx, []client.Reassignment{
		{Topic: "moves", Partition: 0, Replicas: []int32{to}},
		{Topic: "moves", Partition: 7, Replicas: []int32{to}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Err != nil || rs[0].Partition != 0 || rs[1].Partition != 7 || !errors.Is(rs[1].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("results %+v, want partition 0 started and partition 7 unknown", rs)
	}
	waitFor(t, 30*time.Second, "the partition on its new broker only", func() error {
		d, err := adm.DescribeTopic(ctx, "moves")
		if err != nil {
			return err
		}
		if p := d.Partitions[0]; !slices.Equal(p.Replicas, []int32{to}) || p.Leader != to {
			return fmt.Errorf("replicas %v leader %d", p.Replicas, p.Leader)
		}
		l, err := adm.ListPartitionReassignments(ctx, "moves")
		if err != nil {
			return err
		}
		if len(l) != 0 {
			return fmt.Errorf("still in progress: %+v", l)
		}
		return nil
	})
	if all, err := adm.ListPartitionReassignments(ctx); err != nil || len(all) != 0 {
		t.Errorf("reassignments of every topic: %+v, %v; want none", all, err)
	}
	for i, r := range readN(t, ctx, cl, "moves", len(want)) {
		if string(r.Value) != string(want[i].Value) || r.Offset != want[i].Offset {
			t.Fatalf("record %d after the move: %q at %d, want %q at %d", i, r.Value, r.Offset, want[i].Value, want[i].Offset)
		}
	}

	// Nothing to cancel any more.
	rs, err = adm.AlterPartitionReassignments(ctx, []client.Reassignment{{Topic: "moves", Partition: 0}})
	if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, kerr.NoReassignmentInProgress) {
		t.Errorf("cancel with no move in progress: %+v, %v; want NO_REASSIGNMENT_IN_PROGRESS", rs, err)
	}
	if _, err := adm.ListPartitionReassignments(ctx, "missing"); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("list of a missing topic: %v", err)
	}
	for _, bad := range [][]client.Reassignment{
		{{Topic: "moves", Partition: 0, Replicas: []int32{1}}, {Topic: "moves", Partition: 0, Replicas: []int32{2}}},
		{{Topic: "moves", Partition: 0, Replicas: []int32{}}},
		{{Topic: "moves", Partition: -1, Replicas: []int32{1}}},
		{{Topic: "", Partition: 0, Replicas: []int32{1}}},
	} {
		if _, err := adm.AlterPartitionReassignments(ctx, bad); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("%+v: %v, want ErrInvalidArgument", bad, err)
		}
	}
}
