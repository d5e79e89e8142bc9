package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/client"
)

func TestParseBrokerID(t *testing.T) {
	for in, want := range map[string]int32{"0": 0, "3": 3, "2147483647": 2147483647} {
		if got, err := parseBrokerID(in); err != nil || got != want {
			t.Errorf("parseBrokerID(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "x", "1.5", "2147483648", " 1"} {
		if _, err := parseBrokerID(in); err == nil {
			t.Errorf("parseBrokerID(%q) succeeded, want an error", in)
		}
	}
}

// Argument errors are reported before any connection is attempted.
func TestBrokerCommandArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"broker", "describe"}, "want ID, got 0 argument(s)"},
		{[]string{"broker", "describe", "1", "2"}, "want ID, got 2 argument(s)"},
		{[]string{"broker", "describe", "abc"}, `broker id "abc"`},
		{[]string{"broker", "decommission"}, "want ID, got 0 argument(s)"},
		{[]string{"broker", "decommission", "-3"}, "unknown shorthand flag"},
		{[]string{"broker", "decommission", "--", "-3"}, `broker id "-3"`},
		{[]string{"broker", "list", "1"}, "got 1 argument(s)"},
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
}

func TestPrintBrokers(t *testing.T) {
	bs := []client.BrokerStatus{
		{ID: 1, Host: "h1", Port: 9092, Rack: "r1"},
		{ID: 2, Fenced: true},
	}
	var buf bytes.Buffer
	if err := printBrokers(&buf, false, bs); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"BROKER", "FENCED", "h1:9092", "r1", "no", "yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	if err := printBrokers(&buf, true, bs); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("json: %v\n%s", err, buf.String())
	}
	if len(got) != 2 || got[0]["host"] != "h1" || got[0]["fenced"] != false || got[1]["fenced"] != true {
		t.Fatalf("json = %v", got)
	}
}
