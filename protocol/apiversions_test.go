package protocol

import (
	"context"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataRegistry serves ApiVersions and Metadata 0-13.
func metadataRegistry() *Registry {
	reg := NewRegistry()
	reg.Register(3, 0, 13, func(_ context.Context, req *Request) Reply {
		return Respond(metadataResponse(req))
	})
	return reg
}

func wantVersions() []kmsg.ApiVersionsResponseApiKey {
	return []kmsg.ApiVersionsResponseApiKey{
		{ApiKey: 3, MinVersion: 0, MaxVersion: 13},
		{ApiKey: apiVersionsKey, MinVersion: 0, MaxVersion: apiVersionsMax},
	}
}

func sameVersions(t *testing.T, got []kmsg.ApiVersionsResponseApiKey) {
	t.Helper()
	want := wantVersions()
	if len(got) != len(want) {
		t.Fatalf("advertised %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ApiKey != w.ApiKey || g.MinVersion != w.MinVersion || g.MaxVersion != w.MaxVersion {
			t.Fatalf("advertised %+v, want %+v", got, want)
		}
	}
}

// TestApiVersionsAdvertisesRegistry checks the protocol guide's "Retrieving
// supported API versions" and KIP-511 over TCP: ApiVersions v0, v3 and v4
// are answered with exactly the registry's keys and ranges, in the body
// format of the request's version but always behind a v0 response header
// (no tagged fields), which is what lets a client read the answer before it
// knows the broker's versions.
func TestApiVersionsAdvertisesRegistry(t *testing.T) {
	reg := metadataRegistry()
	_, addr := startServer(t, testConfig(t), reg)
	nc := dial(t, addr)

	if !reflect.DeepEqual(reg.Versions(), wantVersions()) {
		t.Fatalf("Registry.Versions() = %+v, want %+v", reg.Versions(), wantVersions())
	}
	for i, version := range []int16{0, 3, 4} {
		correlationID := int32(100 + i)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = version
		req.ClientSoftwareName = "samsa-test"
		req.ClientSoftwareVersion = "1.0.0"
		sendRequest(t, nc, req, correlationID)

		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = version
		readResponseAs(t, nc, correlationID, resp) // fails if a header tag byte shifted the body
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error code %d", version, resp.ErrorCode)
		}
		sameVersions(t, resp.ApiKeys)
	}
}

// TestApiVersionsInvalidClientSoftware checks KIP-511: from v3 on, a client
// software name or version that does not match
// [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? is answered INVALID_REQUEST,
// and the connection stays usable.
func TestApiVersionsInvalidClientSoftware(t *testing.T) {
	_, addr := startServer(t, testConfig(t), metadataRegistry())
	nc := dial(t, addr)

	cases := []struct {
		version       int16
		name, release string
	}{
		{3, "bad name", "1.0"},
		{3, "", "1.0"},
		{4, "kgo", "-1.0"},
		{4, "kgo.", "1.0"},
	}
	for i, c := range cases {
		correlationID := int32(i)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = c.version
		req.ClientSoftwareName, req.ClientSoftwareVersion = c.name, c.release
		sendRequest(t, nc, req, correlationID)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = c.version
		readResponseAs(t, nc, correlationID, resp)
		if resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("v%d name %q version %q: error code %d, want INVALID_REQUEST (%d)",
				c.version, c.name, c.release, resp.ErrorCode, kerr.InvalidRequest.Code)
		}
	}
	apiVersionsRoundTrip(t, nc, 99)
}

// TestApiVersionsUnsupportedVersionAnsweredInV0 checks KIP-511's downgrade
// rule as Kafka implements it: an ApiVersions request of a version the
// broker does not serve is answered with UNSUPPORTED_VERSION (35) in the v0
// format (header v0, v0 body: error code and the key list, no throttle time,
// no tagged fields), so that any client can read it and retry with a version
// from the list. The connection stays open.
func TestApiVersionsUnsupportedVersionAnsweredInV0(t *testing.T) {
	_, addr := startServer(t, testConfig(t), metadataRegistry())
	nc := dial(t, addr)

	for _, version := range []int16{5, 99, -1} {
		correlationID := int32(1000 + version)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = version
		req.ClientSoftwareName, req.ClientSoftwareVersion = "kgo", "1.0.0"
		sendRequest(t, nc, req, correlationID)

		got, rest := readResponse(t, nc)
		if got != correlationID {
			t.Fatalf("v%d: correlation id %d, want %d", version, got, correlationID)
		}
		// v0: int16 error code, int32 count, then 6 bytes per key.
		if want := 2 + 4 + 6*len(wantVersions()); len(rest) != want {
			t.Fatalf("v%d: %d-byte body, want the %d bytes of a v0 body: % x", version, len(rest), want, rest)
		}
		if code := int16(binary.BigEndian.Uint16(rest)); code != kerr.UnsupportedVersion.Code {
			t.Fatalf("v%d: error code %d, want UNSUPPORTED_VERSION (35)", version, code)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(rest); err != nil {
			t.Fatalf("v%d: decoding v0 body: %v", version, err)
		}
		sameVersions(t, resp.ApiKeys)
	}
	apiVersionsRoundTrip(t, nc, 1)
}

// TestFranzGoClientNegotiatesVersions checks that a real Kafka client can
// talk to the server: franz-go opens its connection with ApiVersions at its
// own newest version (above ours, so it is answered in v0 with
// UNSUPPORTED_VERSION and our list), then sends the user's ApiVersions at the
// newest version both sides know, with its KIP-511 software name.
func TestFranzGoClientNegotiatesVersions(t *testing.T) {
	_, addr := startServer(t, testConfig(t), metadataRegistry())
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)

	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	kresp, err := cl.Request(ctx, kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatalf("ApiVersions through franz-go: %v", err)
	}
	resp := kresp.(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("error code %d", resp.ErrorCode)
	}
	if resp.Version != apiVersionsMax {
		t.Fatalf("franz-go used ApiVersions v%d, want v%d (the newest both sides know)", resp.Version, apiVersionsMax)
	}
	sameVersions(t, resp.ApiKeys)

	// A Broker-level request to the seed, at the version franz-go picks.
	seeds := cl.SeedBrokers()
	if len(seeds) != 1 {
		t.Fatalf("%d seed brokers", len(seeds))
	}
	mresp, err := seeds[0].Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatalf("Metadata through franz-go: %v", err)
	}
	if v := mresp.GetVersion(); v != 13 {
		t.Fatalf("franz-go used Metadata v%d, want v13", v)
	}
}
