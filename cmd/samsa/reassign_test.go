package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/client"
)

// partitionCmdForTest is `samsa partition` with the subcommands of
// partitionSubcommands, as newPartitionCmd builds it.
func partitionCmdForTest() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{Use: "partition", SilenceUsage: true, SilenceErrors: true}
	f.cluster.register(cmd.PersistentFlags(), "timeout")
	f.out.register(cmd.PersistentFlags())
	for _, sub := range partitionSubcommands {
		cmd.AddCommand(sub(f))
	}
	return cmd
}

// Argument errors of reassign are reported before any connection is tried.
func TestPartitionReassignArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"reassign"}, "--topic and --partition"},
		{[]string{"reassign", "--topic", "t"}, "--topic and --partition"},
		{[]string{"reassign", "--topic", "t", "--partition", "0"}, "--replicas"},
		{[]string{"reassign", "--topic", "t", "--partition", "-1", "--replicas", "1"}, "negative"},
		{[]string{"reassign", "--topic", "t", "--partition", "0", "--replicas", "1", "--cancel"}, "without --replicas"},
		{[]string{"reassign", "--topic", "t", "--partition", "0", "--replicas", "x"}, "invalid argument"},
		{[]string{"reassign", "--file", "p.json", "--topic", "t"}, "without --topic"},
		{[]string{"reassign", "--file", "/nonexistent/plan.json"}, "no such file"},
		{[]string{"reassignments", "extra"}, "got 1 argument(s)"},
	} {
		cmd := partitionCmdForTest()
		cmd.SetArgs(tc.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("samsa partition %s: error %v, want one containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestParseReassignmentPlan reads Kafka's reassignment JSON
// (kafka-reassign-partitions --reassignment-json-file) and refuses what
// Samsa cannot do (a log directory other than "any") or what is malformed.
func TestParseReassignmentPlan(t *testing.T) {
	got, err := parseReassignmentPlan([]byte(`{"version":1,"partitions":[
		{"topic":"orders","partition":0,"replicas":[2,3],"log_dirs":["any","any"]},
		{"topic":"orders","partition":1,"replicas":[3]}]}`))
	want := []client.Reassignment{{Topic: "orders", Partition: 0, Replicas: []int32{2, 3}}, {Topic: "orders", Partition: 1, Replicas: []int32{3}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	for in, msg := range map[string]string{
		`{"version":2,"partitions":[{"topic":"a","partition":0,"replicas":[1]}]}`:                      "version 2",
		`{"version":1,"partitions":[]}`:                                                                "no partitions",
		`{"version":1,"partitions":[{"partition":0,"replicas":[1]}]}`:                                  "lacks its topic",
		`{"version":1,"partitions":[{"topic":"a","replicas":[1]}]}`:                                    "lacks its topic",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[]}]}`:                       "no replicas",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["/d"]}]}`:    "log directory",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}`: "log_dirs",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1],"extra":1}]}`:            "unknown field",
		`not json`: "invalid character",
	} {
		if _, err := parseReassignmentPlan([]byte(in)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: error %v, want one containing %q", in, err, msg)
		}
	}
}

func TestPrintReassignments(t *testing.T) {
	var buf bytes.Buffer
	if err := printReassignments(&buf, false, nil); err != nil || !strings.Contains(buf.String(), "No reassignment") {
		t.Fatalf("%q, %v", buf.String(), err)
	}
	buf.Reset()
	rs := []client.PartitionReassignment{{Topic: "orders", Partition: 2, Replicas: []int32{4, 1, 2}, AddingReplicas: []int32{4}, RemovingReplicas: []int32{2}}}
	if err := printReassignments(&buf, false, rs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TOPIC", "ADDING", "orders", "4,1,2"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}
