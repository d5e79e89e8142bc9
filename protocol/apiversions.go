package protocol

// ApiVersions, key 18, versions 0-4.
//
// Served by the protocol package for every listener, from the listener's own
// registry. An unsupported version is answered in the v0 format with
// UNSUPPORTED_VERSION and the full list (see unsupportedAPIVersions).
// Versions 3+ validate the client software name and version (KIP-511) and
// answer INVALID_REQUEST when they do not match Kafka's pattern.

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var clientSoftwarePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (r *Registry) handleAPIVersions(_ context.Context, req *Request) Reply {
	in := req.Body.(*kmsg.ApiVersionsRequest)
	resp := in.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && (!clientSoftwarePattern.MatchString(in.ClientSoftwareName) ||
		!clientSoftwarePattern.MatchString(in.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	resp.ApiKeys = r.Versions()
	return Respond(resp)
}

// unsupportedAPIVersions is the answer to an ApiVersions request whose
// version the listener does not serve: the v0 format, which every client can
// read, with the error and the supported list so the client can retry.
func (r *Registry) unsupportedAPIVersions() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = r.Versions()
	return resp
}
