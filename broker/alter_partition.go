package broker

// The leader's side of AlterPartition (key 56): ISR changes proposed by a
// partition's leader core (replication.LeaderCore) are sent to the active
// controller, which validates them against the partition's leader and
// partition epochs and commits them to the metadata log.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/replication"
)

// errControllerNotConnected is a transport error: the broker has not
// started its controller client yet; the sender retries.
var errControllerNotConnected = errors.New("broker: the controller client is not started yet")

// isrSender implements replication.ISRSender for the broker.
type isrSender struct{ b *Broker }

// AlterPartition sends one ISR change and returns what the controller
// committed. Errors the controller answers wrap their Kafka codes (the
// partition's leader core treats non-retriable ones as rejections).
func (s isrSender) AlterPartition(ctx context.Context, change replication.ISRRequest) ([]int32, int32, error) {
	ctrl := s.b.ctrlReady.Load()
	if ctrl == nil {
		return nil, 0, errControllerNotConnected
	}
	req := kmsg.NewPtrAlterPartitionRequest()
	req.BrokerID = s.b.cfg.NodeID
	req.BrokerEpoch = s.b.epoch.Load()
	t := kmsg.NewAlterPartitionRequestTopic()
	t.Topic, t.TopicID = change.Topic, change.TopicID
	p := kmsg.NewAlterPartitionRequestTopicPartition()
	p.Partition = change.Partition
	p.LeaderEpoch = change.LeaderEpoch
	p.PartitionEpoch = change.PartitionEpoch
	p.NewISR = change.ISR
	for _, id := range change.ISR {
		st := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
		st.BrokerID = id
		st.BrokerEpoch = -1 // the controller checks registrations itself
		p.NewEpochISR = append(p.NewEpochISR, st)
	}
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	kresp, err := ctrl.send(ctx, req)
	if err != nil {
		return nil, 0, fmt.Errorf("AlterPartition for %s-%d: %w", change.Topic, change.Partition, err)
	}
	resp := kresp.(*kmsg.AlterPartitionResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, 0, fmt.Errorf("AlterPartition for %s-%d: %w", change.Topic, change.Partition, err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.Partition != change.Partition {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, 0, fmt.Errorf("AlterPartition for %s-%d: %w", change.Topic, change.Partition, err)
			}
			return rp.ISR, rp.PartitionEpoch, nil
		}
	}
	return nil, 0, fmt.Errorf("AlterPartition for %s-%d: the controller did not answer for the partition: %w",
		change.Topic, change.Partition, kerr.UnknownServerError)
}

// resolveBroker returns a broker's client address from the latest image.
func (b *Broker) resolveBroker(id int32) (string, bool) {
	br, ok := b.Image().Broker(id)
	if !ok {
		return "", false
	}
	l, ok := br.Listener(listenerName)
	if !ok {
		return "", false
	}
	return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))), true
}
