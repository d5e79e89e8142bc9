package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
)

var sampleRecord = client.Record{
	Topic:     "orders",
	Partition: 2,
	Offset:    41,
	Key:       []byte("k1"),
	Value:     []byte("v1"),
	Headers:   []client.Header{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("x=y")}},
	Timestamp: time.UnixMilli(1700000000123),
}

func render(t *testing.T, tmpl string, r client.Record) string {
	t.Helper()
	f, err := parseFormat(tmpl)
	if err != nil {
		t.Fatalf("parseFormat(%q): %v", tmpl, err)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	f.write(w, r)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestFormatRendersEveryVerbAndEscape(t *testing.T) {
	for _, tc := range []struct{ tmpl, want string }{
		{"%v", "v1"},
		{"%k=%v", "k1=v1"},
		{"%T/%p@%o", "orders/2@41"},
		{"%t", "1700000000123"},
		{"%h", "a=1,b=x=y"},
		{"100%% %v", "100% v1"},
		{`%k\t%v\n`, "k1\tv1\n"},
		{`back\\slash`, `back\slash`},
		{"plain text", "plain text"},
		{"", ""},
	} {
		if got := render(t, tc.tmpl, sampleRecord); got != tc.want {
			t.Errorf("format %q = %q, want %q", tc.tmpl, got, tc.want)
		}
	}
}

func TestFormatPrintsNullKeyAndNoHeadersAsNothing(t *testing.T) {
	r := client.Record{Topic: "t", Value: []byte("v")}
	if got := render(t, "[%k][%h][%v]", r); got != "[][][v]" {
		t.Errorf("got %q", got)
	}
}

func TestFormatRejectsUnknownVerbsAndDanglingEscapes(t *testing.T) {
	for _, tmpl := range []string{"%x", "%", "abc%", `\q`, `abc\`, "%V"} {
		if _, err := parseFormat(tmpl); err == nil {
			t.Errorf("parseFormat(%q) succeeded, want an error", tmpl)
		}
	}
}

func TestParseFromAcceptsBeginningEndAndOffsets(t *testing.T) {
	for in, want := range map[string]string{
		"beginning": "beginning",
		"end":       "end",
		"0":         "0",
		"12345":     "12345",
	} {
		got, err := parseFrom(in)
		if err != nil {
			t.Errorf("parseFrom(%q): %v", in, err)
			continue
		}
		if got.String() != want {
			t.Errorf("parseFrom(%q) = %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{"", "-1", "start", "1e3", "Beginning", "12x"} {
		if _, err := parseFrom(in); err == nil {
			t.Errorf("parseFrom(%q) succeeded, want an error", in)
		}
	}
}

func TestJSONRecordKeepsNullEmptyAndBinaryApart(t *testing.T) {
	r := client.Record{
		Topic:     "t",
		Partition: 1,
		Offset:    7,
		Key:       nil,
		Value:     []byte{0xff, 0x00, 0xfe},
		Headers:   []client.Header{{Key: "e", Value: []byte{}}, {Key: "n"}, {Key: "s", Value: []byte("<ok>")}},
		Timestamp: time.UnixMilli(5),
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := printJSONRecord(w, r); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("want exactly one line, got %q", line)
	}
	if !strings.Contains(line, `"<ok>"`) {
		t.Errorf("HTML characters were escaped: %s", line)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"topic": "t", "partition": 1.0, "offset": 7.0, "timestamp": 5.0,
		"key": nil, "value": nil, "value_base64": "/wD+",
		"headers": []any{
			map[string]any{"key": "e", "value": ""},
			map[string]any{"key": "n", "value": nil},
			map[string]any{"key": "s", "value": "<ok>"},
		},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("got  %s\nwant %s", gotJSON, wantJSON)
	}

	r.Key = []byte{}
	j := toJSONRecord(r)
	if j.Key == nil || *j.Key != "" {
		t.Errorf("an empty key must print as \"\", not null")
	}
}

// Without --follow the command stops at the end offsets seen at start, so
// a partition with nothing between its start position and that end is not
// read at all, and an empty topic needs no consumer.
func TestBuildPlanSkipsPartitionsWithNothingToRead(t *testing.T) {
	ends := map[int32]int64{0: 0, 1: 10, 2: 5}
	starts := map[int32]int64{0: 0, 1: 3, 2: 5}

	plan, err := buildPlan("t", ends, starts, -1, client.StartBeginning, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plan.partitions, []int32{1}) || plan.targets[1] != 10 {
		t.Errorf("from beginning: partitions %v targets %v, want [1] {1:10}", plan.partitions, plan.targets)
	}

	plan, _ = buildPlan("t", ends, nil, -1, client.StartAt(6), false)
	if !slices.Equal(plan.partitions, []int32{1}) {
		t.Errorf("from 6: partitions %v, want [1]", plan.partitions)
	}

	for _, start := range []client.Start{client.StartEnd, client.StartAt(10)} {
		plan, _ = buildPlan("t", ends, starts, -1, start, false)
		if !plan.done() {
			t.Errorf("from %s: plan not done at once: %v", start, plan.targets)
		}
	}

	plan, _ = buildPlan("t", map[int32]int64{0: 0}, map[int32]int64{0: 0}, -1, client.StartBeginning, false)
	if !plan.done() {
		t.Errorf("empty topic: plan not done at once")
	}
}

func TestBuildPlanWithFollowNeverEnds(t *testing.T) {
	ends := map[int32]int64{0: 0, 1: 0}
	plan, err := buildPlan("t", ends, nil, -1, client.StartEnd, true)
	if err != nil || plan.done() || plan.partitions != nil {
		t.Errorf("follow all: done=%v partitions=%v err=%v; want every partition, never done", plan.done(), plan.partitions, err)
	}
	plan, err = buildPlan("t", ends, nil, 1, client.StartEnd, true)
	if err != nil || !slices.Equal(plan.partitions, []int32{1}) {
		t.Errorf("follow partition 1: partitions=%v err=%v", plan.partitions, err)
	}
}

func TestBuildPlanRejectsMissingPartition(t *testing.T) {
	_, err := buildPlan("t", map[int32]int64{0: 3}, nil, 4, client.StartBeginning, false)
	if err == nil || !strings.Contains(err.Error(), "no partition 4") {
		t.Errorf("err = %v, want one naming partition 4", err)
	}
}
