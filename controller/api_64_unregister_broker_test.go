package controller

import (
	"testing"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func unregister(t *testing.T, c *Controller, id int32) *kmsg.UnregisterBrokerResponse {
	t.Helper()
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = id
	resp, err := c.UnregisterBroker(ctx(t), req)
	if err != nil {
		t.Fatalf("UnregisterBroker(%d): %v", id, err)
	}
	return resp
}

// TestUnregisterBroker checks the three outcomes: an unknown id, a live
// (unfenced) broker refused, and a fenced broker removed from the image.
func TestUnregisterBroker(t *testing.T) {
	c := start(t, testConfig(t, t.TempDir()))
	epochs := register(t, c, 2)

	resp := unregister(t, c, 9)
	expectCode(t, "unknown broker", resp.ErrorCode, resp.ErrorMessage, kerr.BrokerIDNotRegistered, "broker 9 is not registered")

	offset := c.Image().Offset()
	resp = unregister(t, c, 1)
	expectCode(t, "unfenced broker", resp.ErrorCode, resp.ErrorMessage, kerr.InvalidRequest, "fence or stop the broker first")
	if _, ok := c.Image().Broker(1); !ok || c.Image().Offset() != offset {
		t.Fatal("a refused unregistration changed the image")
	}

	if _, err := c.commit(ctx(t), func(*metadata.Image) ([]metadata.Record, error) {
		return []metadata.Record{&metadata.FenceBrokerRecord{NodeID: 1, BrokerEpoch: epochs[0]}}, nil
	}); err != nil {
		t.Fatalf("fence broker 1: %v", err)
	}
	resp = unregister(t, c, 1)
	if resp.ErrorCode != 0 {
		t.Fatalf("fenced broker: code %d message %q", resp.ErrorCode, deref(resp.ErrorMessage))
	}
	if _, ok := c.Image().Broker(1); ok {
		t.Fatal("broker 1 is still in the image")
	}
	if bs := c.Image().Brokers(); len(bs) != 1 || bs[0].ID != 2 {
		t.Fatalf("brokers = %+v", bs)
	}
	resp = unregister(t, c, 1)
	expectCode(t, "second unregistration", resp.ErrorCode, resp.ErrorMessage, kerr.BrokerIDNotRegistered, "not registered")
}
