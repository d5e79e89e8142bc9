package broker

// DescribeCluster, key 60, versions 0-2.
//
// Answered from the image: the cluster id, the live brokers and, as for
// Metadata, this broker as the "controller" clients should send admin
// requests to (it forwards them). Endpoint type 2 (controllers, KIP-919) is
// refused with UNSUPPORTED_ENDPOINT_TYPE: the controller listener serves
// brokers only. Version 2 (KIP-1073) adds IncludeFencedBrokers: the fenced
// (registered, not live) brokers are then listed too, with IsFenced set;
// without it, and before v2, only unfenced brokers are listed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/protocol"
)

func (b *Broker) handleDescribeCluster(_ context.Context, req *protocol.Request) protocol.Reply {
	r := req.Body.(*kmsg.DescribeClusterRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	if r.Version >= 1 && r.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := "only broker endpoints (type 1) are described"
		resp.ErrorMessage = &msg
		return protocol.Respond(resp)
	}
	img := b.Image()
	resp.EndpointType = 1
	resp.ClusterID = img.ClusterID()
	resp.ControllerID = b.controllerIDForClients(img)
	resp.ClusterAuthorizedOperations = authorizedOpsNotRequested
	for _, br := range img.Brokers() {
		l, ok := br.Listener(listenerName)
		if !ok || (br.Fenced && !(r.Version >= 2 && r.IncludeFencedBrokers)) {
			continue
		}
		out := kmsg.NewDescribeClusterResponseBroker()
		out.NodeID, out.Host, out.Port = br.ID, l.Host, int32(l.Port)
		out.IsFenced = br.Fenced
		if br.Rack != "" {
			rack := br.Rack
			out.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, out)
	}
	return protocol.Respond(resp)
}
