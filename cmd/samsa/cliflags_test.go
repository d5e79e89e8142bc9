package main

import (
	"testing"

	"github.com/samsa-io/samsa/client"
)

func TestParseKVSplitsOnFirstEquals(t *testing.T) {
	for in, want := range map[string][2]string{
		"a=b":                           {"a", "b"},
		"a=":                            {"a", ""},
		"a=b=c":                         {"a", "b=c"},
		"cleanup.policy=compact,delete": {"cleanup.policy", "compact,delete"},
	} {
		k, v, err := parseKV(in)
		if err != nil || k != want[0] || v != want[1] {
			t.Errorf("parseKV(%q) = %q, %q, %v; want %q, %q", in, k, v, err, want[0], want[1])
		}
	}
	for _, in := range []string{"", "a", "=b"} {
		if _, _, err := parseKV(in); err == nil {
			t.Errorf("parseKV(%q) succeeded, want an error", in)
		}
	}
}

func TestParseKVMapRejectsRepeatedKeys(t *testing.T) {
	m, err := parseKVMap("config", []string{"a=1", "b=2"})
	if err != nil || len(m) != 2 || m["a"] != "1" || m["b"] != "2" {
		t.Errorf("got %v, %v", m, err)
	}
	if _, err := parseKVMap("config", []string{"a=1", "a=2"}); err == nil {
		t.Error("a key given twice was accepted")
	}
}

// Kafka headers are a list: order and repeated keys are kept.
func TestParseHeadersKeepsOrderAndRepeats(t *testing.T) {
	hs, err := parseHeaders([]string{"b=2", "a=1", "b=3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []client.Header{{Key: "b", Value: []byte("2")}, {Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("3")}}
	if len(hs) != len(want) {
		t.Fatalf("got %v", hs)
	}
	for i := range want {
		if hs[i].Key != want[i].Key || string(hs[i].Value) != string(want[i].Value) {
			t.Errorf("header %d = %s=%s, want %s=%s", i, hs[i].Key, hs[i].Value, want[i].Key, want[i].Value)
		}
	}
	if _, err := parseHeaders([]string{"novalue"}); err == nil {
		t.Error("a header without = was accepted")
	}
}

func TestOutputFlagAcceptsOnlyTableAndJSON(t *testing.T) {
	for _, ok := range []string{"table", "json"} {
		if err := (&outputFlag{ok}).validate(); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "yaml", "JSON"} {
		if err := (&outputFlag{bad}).validate(); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
