package test

// samsa group: list, describe with lag, reset-offsets (refused while the
// group has members, dry run, to an offset, shift, to a time, to the
// start), then a consumer resuming from the reset offsets, and delete.

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

type groupOffsetEntry struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
}

func TestCLIGroupDescribeResetAndDelete(t *testing.T) {
	n := startGroupNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic, group = "cli-group-topic", "cli-group"
	createTopic(t, adm, topic, 2, nil)
	first := produceSpread(t, n.Bootstrap(), topic, 2, 10, "first")
	got := newDelivered()
	m := startKgoMember(t, n.Bootstrap(), group, topic, got)
	eventually(t, opTimeout, "records to be delivered", func() error { return got.reached(first) })
	waitCommitted(t, adm, group, topic, first)

	res := samsaFails(t, n, "", "group", "reset-offsets", group, "--topic", topic, "--to-earliest")
	if !strings.Contains(res.stderr, "active members") {
		t.Fatalf("reset of an active group: stderr %q, want it refused for its active members", res.stderr)
	}
	m.close()
	afterFirst := time.Now()
	ends := produceSpread(t, n.Bootstrap(), topic, 2, 5, "second")

	var list []groupListEntry
	mustJSON(t, samsa(t, n, "", "group", "list", "-o", "json").stdout, &list)
	if !slices.Contains(list, groupListEntry{Name: group, State: "Empty", ProtocolType: "consumer"}) {
		t.Fatalf("group list: %+v, want %s Empty consumer", list, group)
	}
	offsets := func() map[int32]groupOffsetEntry {
		var d struct {
			State   string             `json:"state"`
			Offsets []groupOffsetEntry `json:"offsets"`
		}
		mustJSON(t, samsa(t, n, "", "group", "describe", group, "-o", "json").stdout, &d)
		out := map[int32]groupOffsetEntry{}
		for _, o := range d.Offsets {
			out[o.Partition] = o
		}
		return out
	}
	for p, o := range offsets() {
		if o.Committed != first[p] || o.End != ends[p] || o.Lag != ends[p]-first[p] {
			t.Fatalf("describe partition %d: %+v, want committed %d end %d lag %d", p, o, first[p], ends[p], ends[p]-first[p])
		}
	}

	reset := func(args ...string) {
		samsa(t, n, "", append([]string{"group", "reset-offsets", group, "--topic", topic}, args...)...)
	}
	reset("--to-earliest", "--dry-run")
	if o := offsets(); o[0].Committed != first[0] {
		t.Fatalf("a dry run committed: partition 0 at %d", o[0].Committed)
	}
	reset("--to-datetime", afterFirst.UTC().Format(time.RFC3339Nano))
	if o := offsets(); o[0].Committed != first[0] || o[1].Committed != first[1] {
		t.Fatalf("reset to a time between the batches: %+v, want the first offsets of the second batch", o)
	}
	reset("--partitions", "0", "--to-offset", "3")
	reset("--partitions", "0", "--shift-by", "-1")
	reset("--partitions", "1", "--to-earliest")
	if o := offsets(); o[0].Committed != 2 || o[1].Committed != 0 || o[0].Lag != ends[0]-2 {
		t.Fatalf("after the resets: %+v, want partition 0 at 2 and partition 1 at 0", o)
	}

	// The group's next consumer starts where the resets put it.
	again := newDelivered()
	c := startKgoMember(t, n.Bootstrap(), group, topic, again)
	eventually(t, opTimeout, "the reset group to read to the end", func() error { return again.reached(ends) })
	if dup := again.below(map[int32]int64{0: 2, 1: 0}); len(dup) > 0 || !again.has(0, 2) || !again.has(1, 0) {
		t.Fatalf("after the reset the consumer got %v below the reset offsets, or not partition 0 from 2 and 1 from 0", dup)
	}
	waitCommitted(t, adm, group, topic, ends)
	c.close()

	samsa(t, n, "", "group", "delete", group)
	mustJSON(t, samsa(t, n, "", "group", "list", "-o", "json").stdout, &list)
	if len(list) != 0 {
		t.Fatalf("group list after delete: %+v", list)
	}
	if res := samsaFails(t, n, "", "group", "describe", group); !strings.Contains(res.stderr, "not found") {
		t.Fatalf("describe of a deleted group: stderr %q", res.stderr)
	}
}

type groupListEntry struct {
	Name         string `json:"name"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
}
