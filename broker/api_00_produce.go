package broker

// Produce, key 0, versions 3-11.
//
// Version 12 (KIP-890 transactions v2) and 13 (topic ids) are not served:
// Samsa has no transactions yet, and a transactional batch is rejected.
// Validation and the append happen on the connection's dispatcher goroutine,
// so one connection's batches reach each log in the order they were sent;
// the durability wait (acks 1 and all) happens in Later. acks=0 gets no
// response, and its records are made durable in the background. Writes to
// the internal topics (__consumer_offsets, __transaction_state) are refused
// with INVALID_TOPIC_EXCEPTION, as Kafka refuses them to clients.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
	"github.com/samsa-io/samsa/replication"
)

// errInternalTopicWrite refuses client writes to __consumer_offsets and
// __transaction_state, whose records only their coordinators write.
var errInternalTopicWrite = fmt.Errorf("clients cannot write to an internal topic: %w", kerr.InvalidTopicException)

type pendingAck struct {
	part *replication.Partition
	res  replication.AppendResult
	out  *kmsg.ProduceResponseTopicPartition
}

func (b *Broker) handleProduce(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	img := b.Image()
	var pending []pendingAck
	// The response is sized up front so that pointers into it stay valid.
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(r.Topics))
	for ti, rt := range r.Topics {
		st := &resp.Topics[ti]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for pi, rp := range rt.Partitions {
			out := &st.Partitions[pi]
			*out = kmsg.NewProduceResponseTopicPartition()
			out.Partition = rp.Partition
			out.BaseOffset, out.LogAppendTime, out.LogStartOffset = -1, -1, -1
			res, part, err := b.produceOne(img, r, rt.Topic, rp)
			if err != nil {
				setProduceError(out, err)
				continue
			}
			out.BaseOffset, out.LogAppendTime, out.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
			pending = append(pending, pendingAck{part: part, res: res, out: out})
		}
	}
	if r.Acks == 0 {
		for _, p := range pending {
			p.part.SyncInBackground()
		}
		return protocol.NoResponse()
	}
	if len(pending) == 0 {
		return protocol.Respond(resp)
	}
	// Copied out so the wait does not keep the request (and its records)
	// alive.
	acks, timeout := r.Acks, time.Duration(r.TimeoutMillis)*time.Millisecond
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		b.waitAcks(ctx, pending, acks, timeout)
		return resp, nil
	})
}

func (b *Broker) produceOne(img *metadata.Image, r *kmsg.ProduceRequest, topic string, rp kmsg.ProduceRequestTopicPartition) (replication.AppendResult, *replication.Partition, error) {
	if r.Acks != 0 && r.Acks != 1 && r.Acks != -1 {
		return replication.AppendResult{}, nil, kerr.InvalidRequiredAcks
	}
	if r.TransactionID != nil {
		return replication.AppendResult{}, nil, errTransactionsUnsupported
	}
	if isInternalTopic(topic) {
		return replication.AppendResult{}, nil, errInternalTopicWrite
	}
	part, err := b.partition(img, topic, rp.Partition)
	if err != nil {
		return replication.AppendResult{}, nil, err
	}
	res, err := part.Append(rp.Records, r.Acks)
	return res, part, err
}

// waitAcks waits for every appended partition at once, so their fsyncs
// overlap, and records each outcome in its response slot.
func (b *Broker) waitAcks(ctx context.Context, pending []pendingAck, acks int16, timeout time.Duration) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if len(pending) == 1 {
		if err := pending[0].part.WaitAcked(ctx, pending[0].res, acks); err != nil {
			setProduceError(pending[0].out, err)
		}
		return
	}
	var wg sync.WaitGroup
	for _, p := range pending {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.part.WaitAcked(ctx, p.res, acks); err != nil {
				setProduceError(p.out, err)
			}
		}()
	}
	wg.Wait()
}

func setProduceError(out *kmsg.ProduceResponseTopicPartition, err error) {
	out.ErrorCode = protocol.ErrorCode(err)
	out.ErrorMessage = protocol.ErrorMessage(err)
}
