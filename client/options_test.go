package client

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

func TestBootstrapComesFromEnvThenDefault(t *testing.T) {
	t.Setenv(BootstrapEnv, "")
	if got := DefaultBootstrap(); !slices.Equal(got, []string{"127.0.0.1:9092"}) {
		t.Errorf("unset env: %v", got)
	}
	t.Setenv(BootstrapEnv, " h1:1, ,h2:2 ")
	if got := DefaultBootstrap(); !slices.Equal(got, []string{"h1:1", "h2:2"}) {
		t.Errorf("env list: %v", got)
	}
	cfg := defaultConfig()
	if !slices.Equal(cfg.bootstrap, []string{"h1:1", "h2:2"}) {
		t.Errorf("default config: %v", cfg.bootstrap)
	}
}

func TestWithBootstrapSplitsListsAndIgnoresEmpty(t *testing.T) {
	t.Setenv(BootstrapEnv, "")
	cfg := defaultConfig()
	WithBootstrap("a:1,b:2", "c:3")(&cfg)
	if !slices.Equal(cfg.bootstrap, []string{"a:1", "b:2", "c:3"}) {
		t.Errorf("got %v", cfg.bootstrap)
	}
	WithBootstrap("", " ")(&cfg)
	if !slices.Equal(cfg.bootstrap, []string{"a:1", "b:2", "c:3"}) {
		t.Errorf("empty WithBootstrap changed the servers: %v", cfg.bootstrap)
	}
}

// New checks the cluster answers, so a wrong address fails at New rather
// than on the first real call.
func TestNewFailsWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := New(ctx, WithBootstrap(addr))
	if err == nil {
		cl.Close()
		t.Fatal("New succeeded with nothing listening")
	}
	if ctx.Err() != nil {
		t.Fatalf("New waited for the whole timeout instead of failing: %v", err)
	}
}

func TestParseAcks(t *testing.T) {
	for in, want := range map[string]Acks{
		"0": AcksNone, "none": AcksNone,
		"1": AcksLeader, "leader": AcksLeader,
		"all": AcksAll, "-1": AcksAll, "ALL": AcksAll,
	} {
		got, err := ParseAcks(in)
		if err != nil || got != want {
			t.Errorf("ParseAcks(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2", "any"} {
		if _, err := ParseAcks(in); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseAcks(%q) = %v, want ErrInvalidArgument", in, err)
		}
	}
}

func TestParseCompressionRoundTrips(t *testing.T) {
	for _, c := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		got, err := ParseCompression(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCompression(%q) = %v, %v", c.String(), got, err)
		}
	}
	if _, err := ParseCompression("brotli"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("brotli: %v", err)
	}
}

// KIP-98: idempotent writes need acks=all. The default follows acks; asking
// for idempotence with weaker acks is refused rather than silently dropped.
func TestIdempotenceFollowsAcks(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		cfg     producerConfig
		wantErr bool
	}{
		{producerConfig{acks: AcksAll}, false},
		{producerConfig{acks: AcksLeader}, false},
		{producerConfig{acks: AcksNone}, false},
		{producerConfig{acks: AcksAll, idempotent: &off}, false},
		{producerConfig{acks: AcksLeader, idempotent: &on}, true},
		{producerConfig{acks: 7}, true},
		{producerConfig{acks: AcksAll, compression: 9}, true},
		{producerConfig{acks: AcksAll, linger: -time.Second}, true},
	} {
		_, err := tc.cfg.kgoOpts()
		if (err != nil) != tc.wantErr {
			t.Errorf("%+v: err = %v, want error %v", tc.cfg, err, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v is not ErrInvalidArgument", tc.cfg, err)
		}
	}
}
