package main

import (
	"bytes"
	"testing"
)

func TestSplitKeyOnFirstSeparator(t *testing.T) {
	for _, tc := range []struct {
		line, sep  string
		key, value string
		nullKey    bool
	}{
		{"k:v", ":", "k", "v", false},
		{"k:v:w", ":", "k", "v:w", false},
		{":v", ":", "", "v", false},
		{"k:", ":", "k", "", false},
		{"novalue", ":", "", "novalue", true},
		{"a::b", "::", "a", "b", false},
		{"k:v", "", "", "k:v", true},
		{"", ":", "", "", true},
	} {
		key, value := splitKey([]byte(tc.line), []byte(tc.sep))
		if (key == nil) != tc.nullKey {
			t.Errorf("splitKey(%q, %q): null key = %v, want %v", tc.line, tc.sep, key == nil, tc.nullKey)
		}
		if string(key) != tc.key || string(value) != tc.value {
			t.Errorf("splitKey(%q, %q) = %q, %q; want %q, %q", tc.line, tc.sep, key, value, tc.key, tc.value)
		}
		if value == nil {
			t.Errorf("splitKey(%q, %q): nil value; an empty line is an empty value, not null", tc.line, tc.sep)
		}
	}
}

func TestTrimNewlineDropsOneLineEnding(t *testing.T) {
	for in, want := range map[string]string{
		"a\n":    "a",
		"a\r\n":  "a",
		"a":      "a",
		"a\n\n":  "a\n",
		"\n":     "",
		"a\tb\n": "a\tb",
	} {
		if got := trimNewline([]byte(in)); !bytes.Equal(got, []byte(want)) {
			t.Errorf("trimNewline(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProduceSummaryCountsAndPlurals(t *testing.T) {
	for _, tc := range []struct {
		written, sent int64
		want          string
	}{
		{0, 0, `produced 0 records to "t"`},
		{1, 1, `produced 1 record to "t"`},
		{3, 3, `produced 3 records to "t"`},
		{2, 3, `produced 2 of 3 records to "t"`},
		{0, 1, `produced 0 of 1 record to "t"`},
	} {
		if got := produceSummary(tc.written, tc.sent, "t"); got != tc.want {
			t.Errorf("produceSummary(%d, %d) = %q, want %q", tc.written, tc.sent, got, tc.want)
		}
	}
}

func TestProduceFlagsRejectBadValuesBeforeConnecting(t *testing.T) {
	for _, f := range []produceFlags{
		{acks: "2", compression: "none", partition: -1},
		{acks: "all", compression: "brotli", partition: -1},
		{acks: "all", compression: "none", partition: -2},
	} {
		if _, err := f.producerOptions(); err == nil {
			t.Errorf("%+v: no error", f)
		}
	}
	f := produceFlags{acks: "1", compression: "zstd", partition: 3}
	if _, err := f.producerOptions(); err != nil {
		t.Errorf("%+v: %v", f, err)
	}
}
