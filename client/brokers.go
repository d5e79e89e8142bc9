package client

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerStatus is one broker as ListBrokers sees it.
type BrokerStatus struct {
	ID   int32
	Host string // "" for a broker that is not registered
	Port int32  // 0 for a broker that is not registered
	Rack string // "" when none or unknown
	// Fenced is true for a broker that is not live. With DescribeCluster
	// v2 (KIP-1073) a fenced broker is listed with its address; a broker
	// that partitions are still assigned to but that is not registered at
	// all (unregistered) is Fenced too, without an address. Against a
	// broker that serves only DescribeCluster v0-1, fenced and unregistered
	// brokers cannot be told apart, and a fenced broker that holds no
	// replica is not listed.
	Fenced bool
}

// ListBrokers lists the registered brokers, fenced ones included
// (DescribeCluster v2 with IncludeFencedBrokers), and, marked Fenced, the
// brokers that partitions are assigned to but that are not registered
// (Metadata), sorted by id.
func (a *Admin) ListBrokers(ctx context.Context) ([]BrokerStatus, error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 1 // brokers
	req.IncludeFencedBrokers = true
	resp, err := req.RequestWith(ctx, a.kcl)
	if err != nil {
		return nil, fmt.Errorf("list brokers: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("list brokers: %w%s", err, msgSuffix(resp.ErrorMessage))
	}
	byID := map[int32]BrokerStatus{}
	for _, b := range resp.Brokers {
		bs := BrokerStatus{ID: b.NodeID, Host: b.Host, Port: b.Port, Fenced: b.IsFenced}
		if b.Rack != nil {
			bs.Rack = *b.Rack
		}
		byID[b.NodeID] = bs
	}
	md, err := a.metadata(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("list brokers: %w", err)
	}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			for _, r := range p.Replicas {
				if _, ok := byID[r]; !ok && r >= 0 {
					byID[r] = BrokerStatus{ID: r, Fenced: true}
				}
			}
		}
	}
	out := make([]BrokerStatus, 0, len(byID))
	for _, b := range byID {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// UnregisterBroker removes a broker's registration (UnregisterBroker,
// KIP-631), which the broker forwards to the active controller. Samsa's
// controller refuses a broker that is still unfenced (INVALID_REQUEST):
// stop the broker and wait for it to be fenced first.
func (a *Admin) UnregisterBroker(ctx context.Context, id int32) error {
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = id
	resp, err := req.RequestWith(ctx, a.kcl)
	if err != nil {
		return fmt.Errorf("unregister broker %d: %w", id, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("unregister broker %d: %w%s", id, err, msgSuffix(resp.ErrorMessage))
	}
	return nil
}
