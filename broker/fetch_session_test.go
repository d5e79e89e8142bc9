package broker

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/replication"
)

// TestFetchSessionEpochs checks the KIP-227 session epochs: a new session
// expects epoch 1, each incremental fetch must carry the next epoch
// (INVALID_FETCH_SESSION_EPOCH otherwise), an unknown or closed session is
// FETCH_SESSION_ID_NOT_FOUND, and the epoch wraps from MaxInt32 to 1.
func TestFetchSessionEpochs(t *testing.T) {
	s := newFetchSessions()
	fs := s.open()
	if fs.id <= 0 || fs.epoch != 1 {
		t.Fatalf("new session: id %d, epoch %d; want a positive id and epoch 1", fs.id, fs.epoch)
	}
	if _, err := s.get(fs.id, 0); !errors.Is(err, kerr.InvalidFetchSessionEpoch) {
		t.Fatalf("epoch 0 on an open session: %v, want INVALID_FETCH_SESSION_EPOCH", err)
	}
	for epoch := int32(1); epoch <= 3; epoch++ {
		got, err := s.get(fs.id, epoch)
		if err != nil || got != fs {
			t.Fatalf("epoch %d: session %p, err %v; want the open session", epoch, got, err)
		}
	}
	for _, epoch := range []int32{3, 5, -1} {
		if _, err := s.get(fs.id, epoch); !errors.Is(err, kerr.InvalidFetchSessionEpoch) {
			t.Fatalf("epoch %d when 4 is expected: %v, want INVALID_FETCH_SESSION_EPOCH", epoch, err)
		}
	}
	if _, err := s.get(fs.id, 4); err != nil {
		t.Fatalf("epoch 4 after refused ones: %v", err)
	}
	if _, err := s.get(fs.id+1, 1); !errors.Is(err, kerr.FetchSessionIDNotFound) {
		t.Fatalf("unknown session: %v, want FETCH_SESSION_ID_NOT_FOUND", err)
	}
	s.remove(fs.id)
	if _, err := s.get(fs.id, 5); !errors.Is(err, kerr.FetchSessionIDNotFound) {
		t.Fatalf("closed session: %v, want FETCH_SESSION_ID_NOT_FOUND", err)
	}
	if got := nextSessionEpoch(math.MaxInt32); got != 1 {
		t.Fatalf("epoch after MaxInt32: %d, want 1 (0 and -1 are reserved)", got)
	}
}

// TestFetchSessionConcurrentEpoch checks KIP-227's rule that an epoch is
// used once: of two fetches sent concurrently with the same session epoch
// (a client retry racing the original), exactly one is served and the
// other gets INVALID_FETCH_SESSION_EPOCH.
func TestFetchSessionConcurrentEpoch(t *testing.T) {
	s := newFetchSessions()
	fs := s.open()
	for epoch := int32(1); epoch <= 50; epoch++ {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i := range errs {
			wg.Go(func() {
				<-start
				_, errs[i] = s.get(fs.id, epoch)
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, kerr.InvalidFetchSessionEpoch):
				t.Fatalf("epoch %d: %v", epoch, err)
			}
		}
		if ok != 1 {
			t.Fatalf("epoch %d used by %d fetches, want exactly 1", epoch, ok)
		}
	}
}

// TestFetchSessionEviction checks the KIP-227 session cache bound: at
// maxFetchSessions, opening a session evicts the least recently used one,
// whose consumer gets FETCH_SESSION_ID_NOT_FOUND and starts a full fetch.
func TestFetchSessionEviction(t *testing.T) {
	s := newFetchSessions()
	ids := make([]int32, maxFetchSessions)
	for i := range ids {
		ids[i] = s.open().id
	}
	// Session 0 is the oldest; using it makes session 1 the least
	// recently used.
	if _, err := s.get(ids[0], 1); err != nil {
		t.Fatal(err)
	}
	extra := s.open()
	if n := len(s.sessions); n != maxFetchSessions {
		t.Fatalf("%d sessions cached, want %d", n, maxFetchSessions)
	}
	if _, err := s.get(ids[1], 1); !errors.Is(err, kerr.FetchSessionIDNotFound) {
		t.Fatalf("least recently used session: %v, want FETCH_SESSION_ID_NOT_FOUND", err)
	}
	for _, c := range []struct {
		id    int32
		epoch int32
	}{{ids[0], 2}, {ids[2], 1}, {extra.id, 1}} {
		if _, err := s.get(c.id, c.epoch); err != nil {
			t.Fatalf("session %d at epoch %d was evicted: %v", c.id, c.epoch, err)
		}
	}
}

func key(topic string, p int32) sessionKey { return sessionKey{topic: topic, partition: p} }

// TestFetchSessionUpsertForget checks how an incremental fetch edits the
// session (KIP-227): listed partitions are added or get their new fetch
// position, forgotten ones are dropped, and the order stays the order of
// first appearance.
func TestFetchSessionUpsertForget(t *testing.T) {
	fs := newFetchSessions().open()
	for _, sp := range []sessionPartition{
		{topic: "a", partition: 0, fetchOffset: 10, maxBytes: 100, leaderEpoch: 1},
		{topic: "a", partition: 1, fetchOffset: 20, maxBytes: 100, leaderEpoch: 1},
		{topic: "b", partition: 0, fetchOffset: 30, maxBytes: 100, leaderEpoch: 1},
	} {
		fs.upsert(sp)
	}
	a0 := fs.parts[key("a", 0)]
	if a0.lastHW != -1 || a0.lastLSO != -1 || a0.lastLogStart != -1 {
		t.Fatalf("new partition reported state %+v, want -1 (nothing reported yet)", a0)
	}
	a0.lastHW = 50
	fs.upsert(sessionPartition{topic: "a", partition: 0, fetchOffset: 15, maxBytes: 200, leaderEpoch: 2})
	if got := fs.parts[key("a", 0)]; got != a0 || got.fetchOffset != 15 || got.maxBytes != 200 || got.leaderEpoch != 2 || got.lastHW != 50 {
		t.Fatalf("updated partition %+v: want the same entry at offset 15, max bytes 200, epoch 2, last hw 50", got)
	}

	fs.forget(key("a", 1))
	fs.forget(key("c", 0)) // not in the session: no effect
	if want := []sessionKey{key("a", 0), key("b", 0)}; !slices.Equal(fs.order, want) || len(fs.parts) != 2 {
		t.Fatalf("order %v with %d partitions, want %v", fs.order, len(fs.parts), want)
	}
	fs.upsert(sessionPartition{topic: "a", partition: 1, fetchOffset: 0})
	if want := []sessionKey{key("a", 0), key("b", 0), key("a", 1)}; !slices.Equal(fs.order, want) {
		t.Fatalf("order %v after re-adding a-1, want %v", fs.order, want)
	}
}

// TestFetchSessionKeysByTopicID checks that a v13+ session partition is
// known by its topic id alone: one first fetched while this broker did not
// know the id (empty name) is the same entry once the name resolves, and
// ForgottenTopics removes it whatever name it was stored with.
func TestFetchSessionKeysByTopicID(t *testing.T) {
	fs := newFetchSessions().open()
	id := [16]byte{7}
	fs.upsert(sessionPartition{topic: "", topicID: id, partition: 0, fetchOffset: 1})
	fs.upsert(sessionPartition{topic: "t", topicID: id, partition: 0, fetchOffset: 5})
	if len(fs.parts) != 1 || fs.parts[keyOf("x", id, 0)].fetchOffset != 5 {
		t.Fatalf("session has %d partitions (%v), want one at offset 5", len(fs.parts), fs.order)
	}
	fs.forget(keyOf("t", id, 0))
	if len(fs.parts) != 0 || len(fs.order) != 0 {
		t.Fatalf("forgotten partition still in the session: %v", fs.order)
	}
}

// TestFetchSessionChanged checks which partitions an incremental fetch
// response carries (KIP-227, like Kafka's CachedPartition): those with
// records, an error, or a changed high watermark, last stable offset or
// log start offset; the others are left out.
func TestFetchSessionChanged(t *testing.T) {
	fs := newFetchSessions().open()
	fs.upsert(sessionPartition{topic: "a", partition: 0})
	sp := fs.parts[key("a", 0)]
	resp := func(hw, logStart int64, errCode int16, records []byte) *kmsg.FetchResponseTopicPartition {
		out := kmsg.NewFetchResponseTopicPartition()
		out.HighWatermark, out.LastStableOffset, out.LogStartOffset = hw, hw, logStart
		out.ErrorCode, out.RecordBatches = errCode, records
		return &out
	}
	steps := []struct {
		name string
		out  *kmsg.FetchResponseTopicPartition
		want bool
	}{
		{"first response", resp(10, 0, 0, []byte{}), true},
		{"unchanged", resp(10, 0, 0, []byte{}), false},
		{"high watermark moved", resp(11, 0, 0, []byte{}), true},
		{"unchanged again", resp(11, 0, 0, []byte{}), false},
		{"records", resp(11, 0, 0, []byte{1}), true},
		{"log start moved", resp(11, 5, 0, []byte{}), true},
		{"error", resp(-1, -1, kerr.NotLeaderForPartition.Code, []byte{}), true},
		{"same error", resp(-1, -1, kerr.NotLeaderForPartition.Code, []byte{}), true},
		{"error cleared", resp(11, 5, 0, []byte{}), true},
		{"settled", resp(11, 5, 0, []byte{}), false},
	}
	for _, st := range steps {
		if got := sp.changed(st.out, len(st.out.RecordBatches) > 0); got != st.want {
			t.Fatalf("%s: changed %v, want %v", st.name, got, st.want)
		}
	}
}

// TestIncrementalFetchResponse checks the KIP-227 response bodies: the
// full fetch that opens a session carries every partition, an incremental
// one only those with news, grouped by topic in session order.
func TestIncrementalFetchResponse(t *testing.T) {
	fs := newFetchSessions().open()
	for _, k := range []sessionKey{key("a", 0), key("a", 1), key("b", 0)} {
		fs.upsert(sessionPartition{topic: k.topic, partition: k.partition})
	}
	targets := make([]fetchTarget, len(fs.order))
	for i, k := range fs.order {
		targets[i].sp = fs.parts[k]
	}
	results := []replication.FetchResult{{HighWatermark: 5}, {HighWatermark: 7}, {HighWatermark: 9}}
	img := metadata.Empty()
	const version = 12 // topics by name

	type part struct {
		topic string
		p     int32
		hw    int64
		code  int16
	}
	flatten := func(topics []kmsg.FetchResponseTopic) []part {
		var out []part
		for _, rt := range topics {
			for _, rp := range rt.Partitions {
				out = append(out, part{rt.Topic, rp.Partition, rp.HighWatermark, rp.ErrorCode})
			}
		}
		return out
	}
	check := func(name string, incremental bool, want []part, wantTopics int) {
		t.Helper()
		topics, _ := assembleFetchResponse(version, img, targets, results, incremental)
		if got := flatten(topics); !slices.Equal(got, want) || len(topics) != wantTopics {
			t.Fatalf("%s: %d topics %v, want %d topics %v", name, len(topics), got, wantTopics, want)
		}
	}

	check("full fetch", false, []part{{"a", 0, 5, 0}, {"a", 1, 7, 0}, {"b", 0, 9, 0}}, 2)
	check("nothing new", true, nil, 0)
	results[1].HighWatermark = 8
	check("a-1 moved", true, []part{{"a", 1, 8, 0}}, 1)
	targets[2].err = kerr.NotLeaderForPartition
	check("b-0 failed", true, []part{{"b", 0, -1, kerr.NotLeaderForPartition.Code}}, 1)
	targets[2].err = nil
	check("b-0 recovered", true, []part{{"b", 0, 9, 0}}, 1)
	check("settled", true, nil, 0)
}

// TestAnsweredNotController checks how the controller client recognises
// a controller that is not the active one (KIP-590 forwarding, error
// NOT_CONTROLLER): only when every result in the response says so, for
// each response type the broker forwards or sends.
func TestAnsweredNotController(t *testing.T) {
	nc, other := kerr.NotController.Code, kerr.InvalidTopicException.Code

	createTopics := func(codes ...int16) kmsg.Response {
		r := kmsg.NewPtrCreateTopicsResponse()
		for _, c := range codes {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.ErrorCode = c
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	deleteTopics := func(codes ...int16) kmsg.Response {
		r := kmsg.NewPtrDeleteTopicsResponse()
		for _, c := range codes {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.ErrorCode = c
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	createPartitions := func(codes ...int16) kmsg.Response {
		r := kmsg.NewPtrCreatePartitionsResponse()
		for _, c := range codes {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.ErrorCode = c
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	alterConfigs := func(codes ...int16) kmsg.Response {
		r := kmsg.NewPtrAlterConfigsResponse()
		for _, c := range codes {
			res := kmsg.NewAlterConfigsResponseResource()
			res.ErrorCode = c
			r.Resources = append(r.Resources, res)
		}
		return r
	}
	incrementalAlterConfigs := func(codes ...int16) kmsg.Response {
		r := kmsg.NewPtrIncrementalAlterConfigsResponse()
		for _, c := range codes {
			res := kmsg.NewIncrementalAlterConfigsResponseResource()
			res.ErrorCode = c
			r.Resources = append(r.Resources, res)
		}
		return r
	}
	allocateProducerIDs := func(codes ...int16) kmsg.Response {
		r := kmsg.NewPtrAllocateProducerIDsResponse()
		r.ErrorCode = codes[0]
		return r
	}
	brokerRegistration := func(codes ...int16) kmsg.Response {
		r := kmsg.NewPtrBrokerRegistrationResponse()
		r.ErrorCode = codes[0]
		return r
	}

	lists := map[string]func(...int16) kmsg.Response{
		"CreateTopics":            createTopics,
		"DeleteTopics":            deleteTopics,
		"CreatePartitions":        createPartitions,
		"AlterConfigs":            alterConfigs,
		"IncrementalAlterConfigs": incrementalAlterConfigs,
	}
	for name, mk := range lists {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				codes []int16
				want  bool
			}{
				{[]int16{nc}, true},
				{[]int16{nc, nc, nc}, true},
				{[]int16{nc, other}, false},
				{[]int16{0, nc}, false},
				{[]int16{0}, false},
				{nil, false}, // no results: nothing says NOT_CONTROLLER
			} {
				if got := answeredNotController(mk(c.codes...)); got != c.want {
					t.Fatalf("codes %v: %v, want %v", c.codes, got, c.want)
				}
			}
		})
	}
	singles := map[string]func(...int16) kmsg.Response{
		"AllocateProducerIDs": allocateProducerIDs,
		"BrokerRegistration":  brokerRegistration,
	}
	for name, mk := range singles {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				code int16
				want bool
			}{{nc, true}, {0, false}, {other, false}} {
				if got := answeredNotController(mk(c.code)); got != c.want {
					t.Fatalf("code %d: %v, want %v", c.code, got, c.want)
				}
			}
		})
	}
	t.Run("other response types", func(t *testing.T) {
		r := kmsg.NewPtrMetadataResponse()
		if answeredNotController(r) {
			t.Fatal("a Metadata response counted as NOT_CONTROLLER")
		}
	})
}
