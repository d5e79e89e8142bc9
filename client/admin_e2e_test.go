package client_test

import (
	"errors"
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
	c, err := cl.NewConsumer("events", client.ConsumeIsolation(client.ReadCommitted))
	if err != nil {
		t.Fatal(err)
	}
	var got []client.Record
	for len(got) < len(want) {
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
	}
	if _, err := cl.NewConsumer("events", client.ConsumeIsolation(3)); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("isolation 3: %v", err)
	}
}
