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
	Host string // "" for a broker that is not live
	Port int32  // 0 for a broker that is not live
	Rack string // "" when none or unknown
	// Fenced is true for a broker that is not live: it is named in a
	// partition's replica assignment but DescribeCluster does not list it.
	// Such a broker is fenced or already unregistered; the protocol
	// versions served here (DescribeCluster v0-1, Metadata) do not tell
	// the two apart, and a fenced broker that holds no replica is not
	// listed at all.
	Fenced bool
}

// ListBrokers lists the live brokers (DescribeCluster) and, marked Fenced,
// the brokers that partitions are assigned to but that are not live
// (Metadata), sorted by id.
func (a *Admin) ListBrokers(ctx context.Context) ([]BrokerStatus, error) {
	info, err := a.DescribeCluster(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[int32]BrokerStatus{}
	for _, b := range info.Brokers {
		byID[b.ID] = BrokerStatus{ID: b.ID, Host: b.Host, Port: b.Port, Rack: b.Rack}
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
