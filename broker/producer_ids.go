package broker

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producerIDAllocator hands out producer ids from blocks that the active
// controller allocates (AllocateProducerIds): ids are unique across the
// cluster and never reused, across restarts too, because each block is
// committed in the metadata log before it is used.
type producerIDAllocator struct {
	b *Broker

	mu        sync.Mutex // held across a block request so only one is in flight
	next, end int64
}

func newProducerIDAllocator(b *Broker) *producerIDAllocator { return &producerIDAllocator{b: b} }

func (a *producerIDAllocator) nextID(ctx context.Context) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= a.end {
		req := kmsg.NewPtrAllocateProducerIDsRequest()
		req.BrokerID = a.b.cfg.NodeID
		req.BrokerEpoch = a.b.epoch.Load()
		resp, err := a.b.ctrl.send(ctx, req)
		if err != nil {
			return -1, fmt.Errorf("allocating producer ids: %w", err)
		}
		r := resp.(*kmsg.AllocateProducerIDsResponse)
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return -1, fmt.Errorf("allocating producer ids: %w", err)
		}
		a.next, a.end = r.ProducerIDStart, r.ProducerIDStart+int64(r.ProducerIDLen)
	}
	id := a.next
	a.next++
	return id, nil
}
