package broker

// ConsumerGroupHeartbeat, key 68, versions 0-1 (KIP-848, the consumer group
// protocol).
//
// Served by the group coordinator (package group, consumer.go): joining
// with member epoch 0, leaving with -1 (a static member with -2), the
// uniform (default) and range server-side assignors, subscriptions by topic
// names and by regular expression (v1; RE2 syntax, matched against whole
// topic names, as Kafka's RE2/J), reconciliation by member epochs, and
// fencing (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, UNRELEASED_INSTANCE_ID,
// FENCED_INSTANCE_ID). v0 lets the coordinator name a new member; from v1
// the client does. Subscriptions resolve against the metadata image the
// request sees. The answer waits, in Later, until what it reflects is
// written to __consumer_offsets with acks=all. Deviations: racks are
// stored but not used by the assignors; classic-protocol members cannot
// join a consumer group (Kafka's group.consumer.migration.policy=disabled):
// a non-empty classic group answers GROUP_ID_NOT_FOUND.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleConsumerGroupHeartbeat(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	id, host := clientID(req), clientHost(req)
	topics := imageTopics{b.Image()}
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		return b.groups.ConsumerGroupHeartbeat(ctx, r, id, host, topics), nil
	})
}

// imageTopics is the group coordinator's view of one metadata image.
type imageTopics struct{ img *metadata.Image }

func (t imageTopics) Topic(name string) ([16]byte, int32, bool) {
	tp, ok := t.img.TopicByName(name)
	if !ok {
		return [16]byte{}, 0, false
	}
	return tp.ID, int32(len(tp.Partitions)), true
}

func (t imageTopics) TopicByID(id [16]byte) (string, int32, bool) {
	tp, ok := t.img.TopicByID(id)
	if !ok {
		return "", 0, false
	}
	return tp.Name, int32(len(tp.Partitions)), true
}

func (t imageTopics) Names() []string {
	topics := t.img.Topics()
	out := make([]string, 0, len(topics))
	for _, tp := range topics {
		out = append(out, tp.Name)
	}
	return out
}
