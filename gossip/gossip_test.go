package gossip

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// fastConfig detects failures in well under a second, for tests.
func fastConfig(t *testing.T, id int32, seeds ...string) Config {
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Seeds = seeds
	cfg.ProbeInterval = 50 * time.Millisecond
	cfg.SuspicionMult = 4
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	return cfg
}

func start(t *testing.T, cfg Config, meta Meta) *Gossip {
	t.Helper()
	g, err := Start(cfg, meta)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// waitMembers waits until cond holds for g's member table.
func waitMembers(t *testing.T, g *Gossip, what string, cond func(map[int32]Member) error) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		members, changed := g.Watch()
		err := cond(members)
		if err == nil {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("node %d: %s: %v", g.cfg.NodeID, what, err)
		}
	}
}

func alive(ids ...int32) func(map[int32]Member) error {
	return func(ms map[int32]Member) error {
		for _, id := range ids {
			if m, ok := ms[id]; !ok || !m.Alive {
				return fmt.Errorf("member %d not alive: %+v", id, ms[id])
			}
		}
		return nil
	}
}

// TestMembersSeeEachOtherAndTheirMetadata starts three members, the later
// ones seeded with the first (and one with an unreachable seed too), and
// checks that each sees all three alive with their metadata, including an
// update broadcast after start.
func TestMembersSeeEachOtherAndTheirMetadata(t *testing.T) {
	inc := [16]byte{7, 7}
	g1 := start(t, fastConfig(t, 1), Meta{Roles: []string{"controller", "broker"}, Incarnation: inc, Kafka: "127.0.0.1:9092"})
	g2 := start(t, fastConfig(t, 2, g1.Addr(), "127.0.0.1:1"), Meta{Roles: []string{"broker"}})
	g3 := start(t, fastConfig(t, 3, g2.Addr()), Meta{})
	for _, g := range []*Gossip{g1, g2, g3} {
		waitMembers(t, g, "all alive", alive(1, 2, 3))
	}
	members, _ := g3.Watch()
	m1 := members[1]
	if m1.Incarnation != inc || m1.Kafka != "127.0.0.1:9092" || strings.Join(m1.Roles, ",") != "controller,broker" || m1.Addr != g1.Addr() {
		t.Fatalf("member 1 as node 3 sees it: %+v", m1)
	}
	if err := g1.Update(func(m *Meta) { m.BrokerEpoch = 42 }); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Gossip{g2, g3} {
		waitMembers(t, g, "epoch 42 of member 1", func(ms map[int32]Member) error {
			if ms[1].BrokerEpoch != 42 {
				return fmt.Errorf("epoch %d", ms[1].BrokerEpoch)
			}
			return nil
		})
	}
}

// TestLeaveAndFailureAreReported checks the two ways a member stops being
// alive: a graceful leave (Close) and a crash (memberlist shut down without
// leaving, so only the failure detector can tell), and that a member that
// comes back under the same id is alive again with its new metadata.
func TestLeaveAndFailureAreReported(t *testing.T) {
	g1 := start(t, fastConfig(t, 1), Meta{})
	g2, err := Start(fastConfig(t, 2, g1.Addr()), Meta{})
	if err != nil {
		t.Fatal(err)
	}
	cfg3 := fastConfig(t, 3, g1.Addr())
	g3, err := Start(cfg3, Meta{Incarnation: [16]byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	waitMembers(t, g1, "all alive", alive(1, 2, 3))

	if err := g2.Close(); err != nil {
		t.Fatal(err)
	}
	notAlive := func(id int32) func(map[int32]Member) error {
		return func(ms map[int32]Member) error {
			if ms[id].Alive {
				return errors.New("still alive")
			}
			return nil
		}
	}
	waitMembers(t, g1, "member 2 left", notAlive(2))

	addr3 := g3.Addr()
	close(g3.stop)
	g3.quiet.Store(true)
	g3.ml.Shutdown() // a crash: no leave message
	g3.wg.Wait()
	waitMembers(t, g1, "member 3 declared dead", notAlive(3))

	cfg3.BindAddr = addr3
	start(t, cfg3, Meta{Incarnation: [16]byte{2}})
	waitMembers(t, g1, "member 3 back with a new incarnation", func(ms map[int32]Member) error {
		if m := ms[3]; !m.Alive || m.Incarnation != [16]byte{2} {
			return fmt.Errorf("member 3: %+v", m)
		}
		return nil
	})
}

func TestConfigValidate(t *testing.T) {
	good := fastConfig(t, 1)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"no bind":       func(c *Config) { c.BindAddr = "" },
		"bad port":      func(c *Config) { c.BindAddr = "127.0.0.1:x" },
		"bad seed":      func(c *Config) { c.Seeds = []string{"nohost"} },
		"tiny interval": func(c *Config) { c.ProbeInterval = time.Millisecond },
		"low mult":      func(c *Config) { c.SuspicionMult = 1 },
	} {
		cfg := good
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMetaRoundTripAndLimits(t *testing.T) {
	m := Meta{NodeID: 3, Roles: []string{"controller", "broker"}, Incarnation: [16]byte{1, 2, 3}, BrokerEpoch: 99,
		Kafka: "kafka-3.example:9092", Controller: "kafka-3.example:9093", Raft: "kafka-3.example:9094"}
	b, err := encodeMeta(m, memberlist.MetaMaxSize)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMeta(b)
	if err != nil || !metaEqual(got, m) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	m.Kafka = strings.Repeat("h", 600) + ":9092"
	if _, err := encodeMeta(m, memberlist.MetaMaxSize); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized metadata: %v", err)
	}
}

// FuzzDecodeMeta: member metadata comes from the network; no input may
// panic, and whatever decodes encodes back to an equal value.
func FuzzDecodeMeta(f *testing.F) {
	for _, s := range []string{"", "{}", `{"v":1,"id":2}`, `{"v":0}`, `{"v":1,"inc":"AAE="}`,
		`{"v":1,"id":1,"roles":["broker"],"inc":"AAAAAAAAAAAAAAAAAAAAAA==","epoch":5,"kafka":"h:1"}`, "null", "[]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		enc, err := encodeMeta(m, 1<<20)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		back, err := decodeMeta(enc)
		if err != nil || !metaEqual(back, m) {
			t.Fatalf("round trip of %+v: %+v, %v", m, back, err)
		}
	})
}
