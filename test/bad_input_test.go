package test

// Hostile and malformed input over raw TCP (design.md, "What every part must
// do with bad input"): every bad frame closes only its own connection, and
// ApiVersions advertises exactly what the broker serves.

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/test/harness"
)

// closeTimeout is how long a connection the broker must close may stay open.
const closeTimeout = 10 * time.Second

// A frame length over socket.request.max.bytes (100 MiB) closes that
// connection before anything is allocated, while another client's
// connection keeps producing and consuming.
func TestOversizedFrameClosesOnlyItsConnection(t *testing.T) {
	n := harness.StartNode(t)
	adm := newAdmin(t, n.Bootstrap())
	const topic = "bad-oversized"
	createTopic(t, adm, topic, 1, nil)
	good := newKgo(t, n.Bootstrap(), kgo.DefaultProduceTopic(topic))
	if err := good.ProduceSync(testCtx(t), kgo.StringRecord("before")).FirstErr(); err != nil {
		t.Fatal(err)
	}

	for _, size := range []uint32{100<<20 + 1, 200 << 20, 0x7FFFFFFF} {
		bad := dialRaw(t, n.Bootstrap())
		var frame [8]byte
		binary.BigEndian.PutUint32(frame[:], size)
		copy(frame[4:], []byte{0, 3, 0, 12}) // the start of a Metadata v12 header
		if err := bad.write(frame[:]); err != nil {
			t.Fatal(err)
		}
		if err := bad.expectClosed(closeTimeout); err != nil {
			t.Errorf("frame length %d: %v", size, err)
		}
	}

	if err := good.ProduceSync(testCtx(t), kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatalf("the other client's produce after the oversized frames: %v", err)
	}
	got := consumeAll(t, n.Bootstrap(), topic)
	if len(got) != 2 || string(got[0].Value) != "before" || string(got[1].Value) != "after" {
		t.Fatalf("read back %d records, want before and after", len(got))
	}
}

// Garbage, malformed headers, unknown API keys and unsupported versions
// close the connection (as Kafka does: it cannot answer a request it cannot
// parse in a format the client reads), requests read before the bad one are
// still answered, and the broker keeps serving new connections.
func TestMalformedRequestsCloseTheConnection(t *testing.T) {
	n := harness.StartNode(t)
	withHeader := func(key, version int16, body []byte) []byte {
		var b []byte
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, 1)
		b = binary.BigEndian.AppendUint16(b, 4)
		b = append(b, "test"...)
		b = append(b, body...)
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		return b
	}
	request := func(r kmsg.Request, version int16) []byte {
		r.SetVersion(version)
		return kmsg.NewRequestFormatter(kmsg.FormatterClientID("test")).AppendRequest(nil, r, 1)
	}
	produceV2 := kmsg.NewPtrProduceRequest()
	produceV2.Acks = -1
	produceV2.TimeoutMillis = 1000

	cases := []struct {
		name  string
		bytes []byte
	}{
		{"an HTTP request", []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")},
		{"a TLS client hello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}},
		{"a negative frame length", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}},
		{"a zero frame length", []byte{0, 0, 0, 0}},
		{"a frame shorter than a header", []byte{0, 0, 0, 3, 0, 18, 0}},
		{"a client id longer than the frame", []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0x7F, 0xFF}},
		{"bytes that are no request", append([]byte{0, 0, 0, 32}, []byte("\x7f\x7fthis is not a kafka request!!!")...)},
		{"unknown API key 9999", withHeader(9999, 0, nil)},
		{"AddPartitionsToTxn (24), not served", request(kmsg.NewPtrAddPartitionsToTxnRequest(), 4)},
		{"DescribeTransactions (65), not served", request(kmsg.NewPtrDescribeTransactionsRequest(), 0)},
		{"DescribeAcls (29), not served", request(kmsg.NewPtrDescribeACLsRequest(), 3)},
		{"Produce v2, below the floor", request(produceV2, 2)},
		{"Metadata v12 with a truncated body", withHeader(3, 12, []byte{0})},
		{"Fetch v99", withHeader(1, 99, nil)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, n.Bootstrap())
			if err := rc.write(c.bytes); err != nil {
				t.Fatal(err)
			}
			if err := rc.expectClosed(closeTimeout); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("earlier requests are answered first", func(t *testing.T) {
		rc := dialRaw(t, n.Bootstrap())
		md := kmsg.NewPtrMetadataRequest()
		md.SetVersion(12)
		corr, err := rc.send(md)
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.write(withHeader(9999, 0, nil)); err != nil {
			t.Fatal(err)
		}
		if _, err := rc.readResponse(md, corr); err != nil {
			t.Fatalf("the Metadata request sent before the bad one: %v", err)
		}
		if err := rc.expectClosed(closeTimeout); err != nil {
			t.Error(err)
		}
	})

	// The broker still serves.
	rc := dialRaw(t, n.Bootstrap())
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "samsa-test", "1.0.0"
	resp, err := rc.roundTrip(av)
	if err != nil {
		t.Fatalf("ApiVersions on a fresh connection after the bad ones: %v", err)
	}
	if code := resp.(*kmsg.ApiVersionsResponse).ErrorCode; code != 0 {
		t.Fatalf("ApiVersions: %s", errName(code))
	}
}

// An ApiVersions request at a version the broker does not know (v99) is
// answered in the v0 format with UNSUPPORTED_VERSION and the supported
// ranges (KIP-511), and the connection stays usable for the retry.
func TestApiVersionsUnknownVersionAnswersV0(t *testing.T) {
	n := harness.StartNode(t)
	rc := dialRaw(t, n.Bootstrap())
	var frame []byte
	frame = binary.BigEndian.AppendUint32(frame, 0)
	frame = binary.BigEndian.AppendUint16(frame, 18)
	frame = binary.BigEndian.AppendUint16(frame, 99)
	frame = binary.BigEndian.AppendUint32(frame, 42)
	frame = binary.BigEndian.AppendUint16(frame, 4)
	frame = append(frame, "test"...)
	frame = append(frame, 0, 0, 0, 0, 0, 0, 0, 0) // what a future body might hold
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	if err := rc.write(frame); err != nil {
		t.Fatal(err)
	}
	body, err := rc.readFrame(10 * time.Second)
	if err != nil {
		t.Fatalf("ApiVersions v99: %v", err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := decodeResponse(body, 42, resp, "ApiVersions v99 answered as v0"); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Errorf("error %s, want UNSUPPORTED_VERSION", errName(resp.ErrorCode))
	}
	var apiVersions *kmsg.ApiVersionsResponseApiKey
	for i := range resp.ApiKeys {
		if resp.ApiKeys[i].ApiKey == 18 {
			apiVersions = &resp.ApiKeys[i]
		}
	}
	if apiVersions == nil || apiVersions.MinVersion != 0 || apiVersions.MaxVersion < 3 {
		t.Errorf("the v0 answer lists ApiVersions as %+v, want 0-3 or more", apiVersions)
	}

	retry := kmsg.NewPtrApiVersionsRequest()
	retry.SetVersion(apiVersions.MaxVersion)
	retry.ClientSoftwareName, retry.ClientSoftwareVersion = "samsa-test", "1.0.0"
	r, err := rc.roundTrip(retry)
	if err != nil {
		t.Fatalf("the retry at v%d on the same connection: %v", retry.Version, err)
	}
	if code := r.(*kmsg.ApiVersionsResponse).ErrorCode; code != 0 {
		t.Errorf("the retry: %s", errName(code))
	}
}

// advertised is what this release serves: each key with its version range.
// A change here is a protocol change and belongs in the handler's comment.
var advertised = map[int16][2]int16{
	0: {3, 11}, 1: {4, 17}, 2: {1, 9}, 3: {0, 13}, 18: {0, 4}, 19: {2, 7}, 20: {1, 6}, 21: {0, 2},
	22: {0, 5}, 23: {2, 4}, 32: {1, 4}, 33: {0, 2}, 37: {0, 3}, 44: {0, 1}, 55: {0, 1}, 60: {0, 2},
	// the group coordinator
	8: {2, 9}, 9: {1, 9}, 10: {0, 6}, 11: {0, 9}, 12: {0, 4}, 13: {0, 5}, 14: {0, 5}, 15: {0, 6},
	16: {0, 5}, 42: {0, 2}, 47: {0, 0},
	// KIP-848 consumer groups
	68: {0, 1}, 69: {0, 1},
	// brokers leaving the cluster
	64: {0, 0},
	// partition reassignment (KIP-455)
	45: {0, 0}, 46: {0, 0},
	// leader elections (KIP-183, KIP-460)
	43: {0, 2},
	// controller quorum changes (KIP-853)
	80: {0, 1}, 81: {0, 0},
}

// ApiVersions advertises exactly the served keys and ranges — none of the
// unimplemented coordinator or admin APIs (AddPartitionsToTxn 24, ...) —
// and every advertised key answers a default-valued request at every advertised version with a response that
// decodes at that version, while the versions just outside a range close
// the connection like any unsupported version (nothing advertised is
// unhandled, nothing handled is unadvertised).
func TestApiVersionsAdvertisesExactlyWhatIsServed(t *testing.T) {
	n := harness.StartNode(t)
	rc := dialRaw(t, n.Bootstrap())
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(4)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "samsa-test", "1.0.0"
	resp, err := rc.roundTrip(av)
	if err != nil {
		t.Fatal(err)
	}
	avr := resp.(*kmsg.ApiVersionsResponse)
	if avr.ErrorCode != 0 {
		t.Fatalf("ApiVersions v4: %s", errName(avr.ErrorCode))
	}
	got := map[int16][2]int16{}
	for _, k := range avr.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for _, key := range []int16{24, 25, 26, 27, 28, 29} {
		if r, ok := got[key]; ok {
			t.Errorf("%s (%d) is advertised as %d-%d but is not implemented", kmsg.NameForKey(key), key, r[0], r[1])
		}
	}
	var keys []int16
	for k := range got {
		keys = append(keys, k)
	}
	for k := range advertised {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		g, isGot := got[k]
		w, isWanted := advertised[k]
		switch {
		case isGot && !isWanted:
			t.Errorf("%s (%d) is advertised as %v but not in this test's table", kmsg.NameForKey(k), k, g)
		case !isGot && isWanted:
			t.Errorf("%s (%d) is not advertised, want %v", kmsg.NameForKey(k), k, w)
		case g != w:
			t.Errorf("%s (%d): advertised %v, want %v", kmsg.NameForKey(k), k, g, w)
		}
	}

	var unanswered []string
	for _, key := range keys {
		r, ok := got[key]
		if !ok {
			continue
		}
		for v := r[0]; v <= r[1]; v++ {
			req := defaultRequest(key, v)
			if req == nil {
				t.Errorf("%s (%d) v%d is advertised but kmsg does not know it", kmsg.NameForKey(key), key, v)
				continue
			}
			resp, err := rc.roundTrip(req)
			if err != nil {
				unanswered = append(unanswered, fmt.Sprintf("%s v%d: %v", kmsg.NameForKey(key), v, err))
				rc.nc.Close()
				rc = dialRaw(t, n.Bootstrap())
				continue
			}
			if key == 18 {
				if code := resp.(*kmsg.ApiVersionsResponse).ErrorCode; code != 0 {
					t.Errorf("ApiVersions v%d: %s", v, errName(code))
				}
			}
		}
	}
	if len(unanswered) > 0 {
		t.Errorf("advertised requests without a decodable answer:\n  %s", strings.Join(unanswered, "\n  "))
	}

	for _, key := range keys {
		r, ok := got[key]
		if !ok || key == 18 {
			continue // ApiVersions answers every version (see TestApiVersionsUnknownVersionAnswersV0)
		}
		for _, v := range []int16{r[0] - 1, r[1] + 1} {
			req := defaultRequest(key, v)
			if v < 0 || req == nil {
				continue
			}
			c := dialRaw(t, n.Bootstrap())
			if _, err := c.send(req); err != nil {
				t.Fatal(err)
			}
			if err := c.expectClosed(closeTimeout); err != nil {
				t.Errorf("%s v%d is outside the advertised %d-%d: %v", kmsg.NameForKey(key), v, r[0], r[1], err)
			}
		}
	}
}

// defaultRequest is a default-valued request for key at version v, or nil if
// kmsg does not know that version. Produce asks for acks=all, since an
// acks=0 produce is never answered, and ApiVersions names its client
// (KIP-511 validates the name from v3).
func defaultRequest(key, v int16) kmsg.Request {
	req := kmsg.RequestForKey(key)
	if req == nil || v > req.MaxVersion() {
		return nil
	}
	req.SetVersion(v)
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		r.Acks = -1
	case *kmsg.ApiVersionsRequest:
		r.ClientSoftwareName, r.ClientSoftwareVersion = "samsa-test", "1.0.0"
	}
	return req
}
