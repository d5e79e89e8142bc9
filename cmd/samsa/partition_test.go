package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/client"
)

// Argument errors of elect-leaders are reported before any connection is
// attempted.
func TestPartitionElectLeadersArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"partition", "elect-leaders"}, "--topic"},
		{[]string{"partition", "elect-leaders", "--partition", "1"}, "--topic"},
		{[]string{"partition", "elect-leaders", "--all", "--topic", "t"}, "without --topic"},
		{[]string{"partition", "elect-leaders", "--all", "--type", "dirty"}, `"dirty" is neither preferred nor unclean`},
		{[]string{"partition", "elect-leaders", "--topic", "t", "--partition", "-1"}, "negative"},
		{[]string{"partition", "elect-leaders", "extra"}, "got 1 argument(s)"},
	} {
		root := newRootCmd()
		root.SetArgs(tc.args)
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("samsa %s: error %v, want one containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	e := electFlags{typ: "UNCLEAN", topic: "t", partitions: []int32{2}}
	typ, parts, err := e.request()
	if err != nil || typ != client.ElectUnclean || len(parts["t"]) != 1 || parts["t"][0] != 2 {
		t.Fatalf("request() = %v %v %v", typ, parts, err)
	}
	e = electFlags{typ: "preferred", all: true}
	if typ, parts, err = e.request(); err != nil || typ != client.ElectPreferred || parts != nil {
		t.Fatalf("--all: %v %v %v, want a nil map (every partition)", typ, parts, err)
	}
}

// The result table and JSON name each partition's outcome, and only
// partitions that could not be elected fail the command.
func TestPrintElections(t *testing.T) {
	rs := []client.ElectionResult{
		{Topic: "a", Partition: 0},
		{Topic: "a", Partition: 1, Err: kerr.ElectionNotNeeded},
		{Topic: "b", Partition: 0, Err: kerr.PreferredLeaderNotAvailable, Message: "the preferred replica 3 is fenced"},
	}
	var table bytes.Buffer
	if err := printElections(&table, false, rs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ELECTED", "ELECTION_NOT_NEEDED", "PREFERRED_LEADER_NOT_AVAILABLE", "replica 3 is fenced"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := printElections(&js, true, rs); err != nil {
		t.Fatal(err)
	}
	var rows []electionJSON
	if err := json.Unmarshal(js.Bytes(), &rows); err != nil || len(rows) != 3 || rows[0].Result != "ELECTED" || rows[2].Result != "PREFERRED_LEADER_NOT_AVAILABLE" {
		t.Fatalf("json: %v %+v\n%s", err, rows, js.String())
	}
	err := electionFailures(rs)
	if err == nil || !strings.Contains(err.Error(), "1 partition(s)") || !strings.Contains(err.Error(), "b-0") {
		t.Fatalf("failures: %v, want b-0 only", err)
	}
	if err := electionFailures(rs[:2]); err != nil {
		t.Fatalf("ELECTION_NOT_NEEDED counted as a failure: %v", err)
	}
	js.Reset()
	if err := printElections(&js, true, nil); err != nil || strings.TrimSpace(js.String()) != "[]" {
		t.Fatalf("no results as JSON: %q %v", js.String(), err)
	}
}
