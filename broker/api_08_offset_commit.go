package broker

// OffsetCommit, key 8, versions 2-9 (v0-1 are gone since Kafka 4.0,
// KIP-896).
//
// Commits are validated against the group's generation and member (a
// simple commit with generation -1 is accepted for an empty or unknown
// group); a member of a KIP-848 consumer group commits from v9 with its
// member id and member epoch in place of the generation
// (STALE_MEMBER_EPOCH when the epoch is not its current one,
// UNSUPPORTED_VERSION below v9), written with acks=all to the group's __consumer_offsets partition,
// and answered once acknowledged. A topic or partition missing from the
// metadata image is answered UNKNOWN_TOPIC_OR_PARTITION (Kafka checks only
// the topic). The v2-v4 retention time becomes the commit's expire
// timestamp. Deviation: v10 (Kafka 4.2, topic ids) is not served yet; it
// needs commits keyed by topic id.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleOffsetCommit(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.OffsetCommitRequest)
	check := partitionCheck(b.Image())
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		return b.groups.CommitOffsets(ctx, r, check), nil
	})
}
