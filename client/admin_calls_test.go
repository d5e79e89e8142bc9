package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
)

// configOf returns the value of a topic config and whether it is set on
// the topic itself.
func configOf(t *testing.T, ctx context.Context, adm *client.Admin, topic, name string) (string, bool) {
	t.Helper()
	d, err := adm.DescribeTopic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(d.Configs, func(c client.ConfigEntry) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("%s has no config %s", topic, name)
	}
	return d.Configs[i].Value, d.Configs[i].IsOverride()
}

// A topic's life through the Admin: created with configs, listed,
// described, its configs altered, its offsets listed, deleted.
func TestAdminTopicLifecycle(t *testing.T) {
	ctx, cl := producerNode(t)
	adm := cl.Admin()
	created, err := adm.CreateTopic(ctx, "audit", 2, 1, map[string]string{"retention.ms": "3600000", "cleanup.policy": "compact"})
	if err != nil {
		t.Fatal(err)
	}
	if created.Name != "audit" || created.Partitions != 2 {
		t.Errorf("created %+v", created)
	}
	if _, err := adm.CreateTopic(ctx, "audit", 2, 1, nil); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("creating it again: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	if _, err := adm.CreateTopic(ctx, "bad-config", 1, 1, map[string]string{"retention.ms": "soon"}); !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("a config that does not parse: %v, want INVALID_CONFIG", err)
	}
	if v, own := configOf(t, ctx, adm, "audit", "retention.ms"); v != "3600000" || !own {
		t.Errorf("retention.ms = %s (set on the topic: %v)", v, own)
	}

	// Listed once every partition has a leader; internal topics are not.
	waitFor(t, 10*time.Second, "audit listed", func() error {
		ts, err := adm.ListTopics(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(ts, func(s client.TopicSummary) bool { return s.Name == "audit" })
		if i < 0 || ts[i].Partitions != 2 || ts[i].ReplicationFactor != 1 || ts[i].Internal {
			return fmt.Errorf("topics %+v", ts)
		}
		return nil
	})

	if err := adm.AlterTopicConfig(ctx, "audit", map[string]string{"retention.ms": "7200000"}, []string{"cleanup.policy"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := configOf(t, ctx, adm, "audit", "retention.ms"); v != "7200000" {
		t.Errorf("retention.ms after the change: %s", v)
	}
	if v, own := configOf(t, ctx, adm, "audit", "cleanup.policy"); v != "delete" || own {
		t.Errorf("cleanup.policy after its removal: %s (set on the topic: %v), want the default delete", v, own)
	}
	if err := adm.AlterTopicConfig(ctx, "audit", map[string]string{"no.such.config": "1"}, nil); err == nil {
		t.Error("an unknown config was accepted")
	}

	produceTo(t, ctx, cl, "audit", 1, "a", 5)
	starts, err := adm.ListStartOffsets(ctx, "audit")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, "audit")
	if err != nil {
		t.Fatal(err)
	}
	if starts[0] != 0 || starts[1] != 0 || ends[0] != 0 || ends[1] != 5 {
		t.Errorf("offsets: starts %v ends %v, want 0,0 and 0,5", starts, ends)
	}

	if err := adm.DeleteTopic(ctx, "audit"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "audit gone", func() error {
		ts, err := adm.ListTopics(ctx)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(ts, func(s client.TopicSummary) bool { return s.Name == "audit" }) {
			return errors.New("still listed")
		}
		return nil
	})
	if err := adm.DeleteTopic(ctx, "audit"); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("deleting it again: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if _, err := adm.DescribeTopic(ctx, "audit"); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("describing it: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}

// Groups through the Admin: listed, described with lag, offsets reset
// (dry run, then for real; refused while a member is in the group),
// deleted.
func TestAdminGroupOffsets(t *testing.T) {
	ctx, c := groupNode(t, "events", 1)
	cl := newClient(t, ctx, c)
	adm := cl.Admin()
	produceTo(t, ctx, cl, "events", 0, "e", 10)

	// A member handles every record, so the group commits offset 10.
	g, err := cl.NewGroupConsumer("billing", []string{"events"}, fastGroup()...)
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan int, 100)
	wait := consumeInBackground(t, ctx, g, func(_ context.Context, recs []client.Record) error {
		handled <- len(recs)
		return nil
	})
	for n := 0; n < 10; n += <-handled {
	}
	waitFor(t, 10*time.Second, "offset 10 committed", func() error {
		d, err := adm.DescribeGroup(ctx, "billing")
		if err != nil {
			return err
		}
		if len(d.Offsets) != 1 || d.Offsets[0].Committed != 10 || d.Offsets[0].Lag != 0 || len(d.Members) != 1 {
			return fmt.Errorf("%+v", d)
		}
		return nil
	})
	if _, err := adm.ResetGroupOffsets(ctx, "billing", "events", nil, client.ResetToEarliest(), false); !errors.Is(err, client.ErrGroupActive) {
		t.Errorf("reset with a member in the group: %v, want ErrGroupActive", err)
	}
	if err := adm.DeleteGroup(ctx, "billing"); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Errorf("delete with a member in the group: %v, want NON_EMPTY_GROUP", err)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(groups, func(s client.GroupSummary) bool { return s.Name == "billing" }); i < 0 || groups[i].ProtocolType != "consumer" {
		t.Errorf("groups %+v lack the consumer group billing", groups)
	}
	if err := wait(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}

	produceTo(t, ctx, cl, "events", 0, "late", 3)
	waitFor(t, 10*time.Second, "an empty group with lag 3", func() error {
		d, err := adm.DescribeGroup(ctx, "billing")
		if err != nil {
			return err
		}
		if len(d.Members) != 0 || len(d.Offsets) != 1 || d.Offsets[0].End != 13 || d.Offsets[0].Lag != 3 {
			return fmt.Errorf("%+v", d)
		}
		return nil
	})

	committed := func() int64 {
		d, err := adm.DescribeGroup(ctx, "billing")
		if err != nil {
			t.Fatal(err)
		}
		return d.Offsets[0].Committed
	}
	for _, step := range []struct {
		reset    client.OffsetReset
		dryRun   bool
		from, to int64
	}{
		{client.ResetToOffset(4), true, 10, 4},
		{client.ResetToOffset(4), false, 10, 4},
		{client.ResetShiftBy(-10), false, 4, 0},  // clamped to the log start
		{client.ResetToOffset(99), false, 0, 13}, // clamped to the end
		{client.ResetToEarliest(), false, 13, 0},
		{client.ResetToLatest(), false, 0, 13},
	} {
		changes, err := adm.ResetGroupOffsets(ctx, "billing", "events", nil, step.reset, step.dryRun)
		if err != nil {
			t.Fatal(err)
		}
		want := []client.OffsetChange{{Topic: "events", Partition: 0, From: step.from, To: step.to}}
		if !slices.Equal(changes, want) {
			t.Errorf("reset %+v (dry run %v): %+v, want %+v", step.reset, step.dryRun, changes, want)
		}
		wantCommitted := step.to
		if step.dryRun {
			wantCommitted = step.from
		}
		if got := committed(); got != wantCommitted {
			t.Errorf("after reset to %d (dry run %v): committed %d", step.to, step.dryRun, got)
		}
	}
	if _, err := adm.ResetGroupOffsets(ctx, "billing", "events", []int32{5}, client.ResetToEarliest(), false); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("reset of a partition that does not exist: %v", err)
	}

	if err := adm.DeleteGroup(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DescribeGroup(ctx, "billing"); !errors.Is(err, client.ErrGroupNotFound) {
		t.Errorf("describe after delete: %v, want ErrGroupNotFound", err)
	}
	if err := adm.DeleteGroup(ctx, "billing"); !errors.Is(err, client.ErrGroupNotFound) {
		t.Errorf("delete again: %v, want ErrGroupNotFound", err)
	}
}

// Cluster calls on three nodes: the brokers (a killed one listed as
// fenced), the controller quorum, elections, and the quorum and broker
// changes the cluster must refuse.
func TestAdminClusterCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := samsatest.Start(t, samsatest.WithNodes(3), samsatest.WithTopic("events", 3))
	cl := newClient(t, ctx, c)
	adm := cl.Admin()

	q, err := adm.DescribeQuorum(ctx)
	if err != nil {
		t.Fatal(err)
	}
	voters := make([]int32, 0, len(q.Voters))
	for _, v := range q.Voters {
		voters = append(voters, v.ID)
	}
	slices.Sort(voters)
	if q.LeaderID < 1 || q.LeaderID > 3 || !slices.Equal(voters, []int32{1, 2, 3}) {
		t.Errorf("quorum %+v, want voters 1-3 and one of them leading", q)
	}
	if err := adm.RemoveController(ctx, 9); !errors.Is(err, kerr.VoterNotFound) {
		t.Errorf("removing a controller that is not a voter: %v, want VOTER_NOT_FOUND", err)
	}
	if err := adm.AddController(ctx, q.LeaderID, "127.0.0.1:1", time.Second); !errors.Is(err, kerr.DuplicateVoter) {
		t.Errorf("adding a voter again: %v, want DUPLICATE_VOTER", err)
	}

	// Elections: every partition already has its preferred leader.
	results, err := adm.ElectLeaders(ctx, client.ElectPreferred, map[string][]int32{"events": nil})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("elections %+v, want one per partition", results)
	}
	for _, r := range results {
		if !errors.Is(r.Err, kerr.ElectionNotNeeded) {
			t.Errorf("%s-%d: %v, want ELECTION_NOT_NEEDED", r.Topic, r.Partition, r.Err)
		}
	}

	if err := adm.UnregisterBroker(ctx, 2); !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("unregistering a live broker: %v, want INVALID_REQUEST", err)
	}
	c.Kill(3)
	waitFor(t, 30*time.Second, "broker 3 listed as fenced", func() error {
		bs, err := adm.ListBrokers(ctx)
		if err != nil {
			return err
		}
		var fenced []int32
		for _, b := range bs {
			if b.Fenced {
				fenced = append(fenced, b.ID)
			}
		}
		if len(bs) != 3 || !slices.Equal(fenced, []int32{3}) {
			return fmt.Errorf("brokers %+v", bs)
		}
		return nil
	})
	if err := adm.UnregisterBroker(ctx, 3); err != nil {
		t.Fatalf("unregistering the fenced broker: %v", err)
	}
	// Its replicas are still assigned, so it stays listed: fenced, and
	// without the address that only a registration has.
	waitFor(t, 10*time.Second, "broker 3 unregistered", func() error {
		bs, err := adm.ListBrokers(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(bs, func(b client.BrokerStatus) bool { return b.ID == 3 })
		if i < 0 || !bs[i].Fenced || bs[i].Host != "" {
			return fmt.Errorf("brokers %+v", bs)
		}
		return nil
	})
}
