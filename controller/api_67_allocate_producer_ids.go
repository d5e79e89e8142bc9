// AllocateProducerIds (key 67), version 0. Brokers ask for blocks of
// producer ids; the controller hands out consecutive blocks of
// ProducerIDBlockSize and records the watermark, so an id is never handed
// out twice, across leader changes and restarts.

package controller

import (
	"context"
	"math"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ProducerIDBlockSize is the number of producer ids in one block (Kafka's
// is 1000).
const ProducerIDBlockSize = 1000

// AllocateProducerIDs hands a block of producer ids to a registered broker
// whose epoch matches.
func (c *Controller) AllocateProducerIDs(ctx context.Context, req *kmsg.AllocateProducerIDsRequest) (*kmsg.AllocateProducerIDsResponse, error) {
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	var start int64
	_, err := c.commit(ctx, func(img *metadata.Image) ([]metadata.Record, error) {
		b, ok := img.Broker(req.BrokerID)
		if !ok {
			return nil, errorf(kerr.BrokerIDNotRegistered, "broker %d is not registered", req.BrokerID)
		}
		if b.Epoch != req.BrokerEpoch {
			return nil, errorf(kerr.StaleBrokerEpoch, "broker %d has epoch %d, the request names epoch %d",
				req.BrokerID, b.Epoch, req.BrokerEpoch)
		}
		start = img.NextProducerID()
		if start > math.MaxInt64-ProducerIDBlockSize {
			return nil, errorf(kerr.UnknownServerError, "the producer id space is exhausted")
		}
		return []metadata.Record{&metadata.ProducerIDsRecord{
			NextProducerID: start + ProducerIDBlockSize,
			BrokerID:       req.BrokerID,
			BrokerEpoch:    req.BrokerEpoch,
		}}, nil
	})
	if err != nil {
		resp.ErrorCode = errCode(err)
		resp.ProducerIDStart, resp.ProducerIDLen = -1, 0
		return resp, nil
	}
	resp.ProducerIDStart, resp.ProducerIDLen = start, ProducerIDBlockSize
	c.log.Debug().Int32("broker", req.BrokerID).Int64("start", start).Msg("producer id block allocated")
	return resp, nil
}
