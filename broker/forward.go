package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

// forwardedAdminWait bounds how long an admin answer waits for its change to
// reach this broker's image, so that a client reading right after writing
// sees its write here (KRaft brokers give the same guarantee by waiting for
// the metadata offset).
const forwardedAdminWait = 10 * time.Second

// forward sends an admin request to the active controller and answers the
// client with the controller's response once visible(img) holds for this
// broker's image (visible may be nil). A controller that cannot be reached
// fails every entry with the error produced by fail.
func (b *Broker) forward(r kmsg.Request, fail func(error) kmsg.Response, visible func(resp kmsg.Response, img *metadata.Image) bool) protocol.Reply {
	clientVersion := r.GetVersion()
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		resp, err := b.ctrl.send(ctx, r)
		if err != nil {
			b.log.Warn().Err(err).Str("api", kmsg.NameForKey(r.Key())).Msg("forwarding to the controller failed")
			return fail(err), nil
		}
		if visible != nil {
			wctx, cancel := context.WithTimeout(ctx, forwardedAdminWait)
			defer cancel()
			b.waitImage(wctx, func(img *metadata.Image) bool { return visible(resp, img) })
		}
		resp.SetVersion(clientVersion)
		return resp, nil
	})
}
