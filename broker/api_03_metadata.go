package broker

// Metadata, key 3, versions 0-13.
//
// Answered from the broker's metadata image. Topics may be named (v0+) or
// given by id (v10+). An unknown named topic is created through the
// controller when auto.create.topics.enable is on and the client allows it
// (v4+; always allowed before v4, as in Kafka); the answer waits, bounded,
// until the new topic is in the image. Authorized operations are not
// computed (there is no authorizer yet) and are answered as "not requested".

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/protocol"
)

// autoCreateWait bounds how long a Metadata request waits for topics it
// auto-created to appear in the image.
const autoCreateWait = 5 * time.Second

const authorizedOpsNotRequested = -2147483648

func (b *Broker) handleMetadata(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.MetadataRequest)
	missing := b.topicsToAutoCreate(b.Image(), r)
	if len(missing) == 0 {
		return protocol.Respond(b.metadataResponse(b.Image(), r))
	}
	return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
		b.autoCreate(ctx, missing)
		return b.metadataResponse(b.Image(), r), nil
	})
}

func (b *Broker) topicsToAutoCreate(img *metadata.Image, r *kmsg.MetadataRequest) []string {
	allowed := b.cfg.AutoCreateTopics && (r.Version < 4 || r.AllowAutoTopicCreation)
	if !allowed || r.Topics == nil {
		return nil
	}
	var missing []string
	for _, rt := range r.Topics {
		if rt.Topic == nil {
			continue
		}
		if _, ok := img.TopicByName(*rt.Topic); !ok && metadata.ValidateTopicName(*rt.Topic) == nil {
			missing = append(missing, *rt.Topic)
		}
	}
	return missing
}

// autoCreate asks the controller to create topics with its defaults and
// waits until they are in the image. Failures are left for the metadata
// answer to report as UNKNOWN_TOPIC_OR_PARTITION; clients retry.
func (b *Broker) autoCreate(ctx context.Context, names []string) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(autoCreateWait / time.Millisecond)
	for _, n := range names {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = n, -1, -1
		req.Topics = append(req.Topics, t)
	}
	resp, err := b.ctrl.send(ctx, req)
	if err != nil {
		b.log.Warn().Err(err).Strs("topics", names).Msg("auto-creating topics failed")
		return
	}
	var created []string
	for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
		if t.ErrorCode == 0 || t.ErrorCode == kerr.TopicAlreadyExists.Code {
			created = append(created, t.Topic)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, autoCreateWait)
	defer cancel()
	b.waitImage(ctx, func(img *metadata.Image) bool { return allTopicsExist(img, created) })
}

func allTopicsExist(img *metadata.Image, names []string) bool {
	for _, n := range names {
		if _, ok := img.TopicByName(n); !ok {
			return false
		}
	}
	return true
}

func (b *Broker) metadataResponse(img *metadata.Image, r *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	for _, br := range img.Brokers() {
		l, ok := br.Listener(listenerName)
		if !ok || br.Fenced {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = br.ID, l.Host, int32(l.Port)
		if br.Rack != "" {
			rack := br.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	clusterID := img.ClusterID()
	resp.ClusterID = &clusterID
	resp.ControllerID = b.controllerIDForClients(img)
	resp.AuthorizedOperations = authorizedOpsNotRequested
	allTopics := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
	if allTopics {
		for _, t := range img.Topics() {
			resp.Topics = append(resp.Topics, metadataTopic(t))
		}
		return resp
	}
	for _, rt := range r.Topics {
		t, ok := lookupMetadataTopic(img, rt)
		if !ok {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if rt.Topic == nil {
				mt.ErrorCode = kerr.UnknownTopicID.Code
			} else if metadata.ValidateTopicName(*rt.Topic) != nil {
				mt.ErrorCode = kerr.InvalidTopicException.Code
			}
			mt.AuthorizedOperations = authorizedOpsNotRequested
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, metadataTopic(t))
	}
	return resp
}

func lookupMetadataTopic(img *metadata.Image, rt kmsg.MetadataRequestTopic) (*metadata.Topic, bool) {
	if rt.Topic != nil {
		return img.TopicByName(*rt.Topic)
	}
	return img.TopicByID(rt.TopicID)
}

func metadataTopic(t *metadata.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID = &name, t.ID
	mt.IsInternal = isInternalTopic(t.Name)
	mt.AuthorizedOperations = authorizedOpsNotRequested
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p.ID, p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR = p.Replicas, p.ISR
		if p.Leader == metadata.NoLeader {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

// controllerIDForClients is the id Kafka's KRaft brokers report to clients
// as the controller: a random live broker, since clients cannot reach the
// controller quorum and send admin requests to brokers, which forward them.
// Samsa reports itself, which forwards.
func (b *Broker) controllerIDForClients(_ *metadata.Image) int32 { return b.cfg.NodeID }
