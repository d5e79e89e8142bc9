package controller

import (
	"context"
	"fmt"
	"slices"

	"github.com/samsa-io/samsa/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// registry lists the APIs the controller listener serves; ApiVersions is
// answered by protocol from this table. Each operation lives in its own
// file, api_<key>_<name>.go, with the versions it handles.
func (c *Controller) registry() *protocol.Registry {
	reg := protocol.NewRegistry()
	reg.Register(kmsg.CreateTopics.Int16(), 0, 7, handle(c.CreateTopics))
	reg.Register(kmsg.DeleteTopics.Int16(), 0, 6, handle(c.DeleteTopics))
	reg.Register(kmsg.AlterConfigs.Int16(), 0, 2, handle(c.AlterConfigs))
	reg.Register(kmsg.CreatePartitions.Int16(), 0, 3, handle(c.CreatePartitions))
	reg.Register(kmsg.IncrementalAlterConfigs.Int16(), 0, 1, handle(c.IncrementalAlterConfigs))
	reg.Register(kmsg.BrokerRegistration.Int16(), 0, 4, handle(c.BrokerRegistration))
	reg.Register(kmsg.AllocateProducerIDs.Int16(), 0, 0, handle(c.AllocateProducerIDs))
	reg.Register(kmsg.DescribeQuorum.Int16(), 0, 1, handle(c.DescribeQuorum))
	reg.Register(kmsg.UnregisterBroker.Int16(), 0, 0, handle(c.UnregisterBroker))
	reg.Register(kmsg.AlterPartition.Int16(), 0, 3, handle(c.AlterPartition))
	reg.Register(kmsg.AlterPartitionAssignments.Int16(), 0, 0, handle(c.AlterPartitionReassignments))
	reg.Register(kmsg.ListPartitionReassignments.Int16(), 0, 0, handle(c.ListPartitionReassignments))
	reg.Register(kmsg.ElectLeaders.Int16(), 0, 2, handle(c.ElectLeaders))
	reg.Register(kmsg.AddRaftVoter.Int16(), 0, 1, handle(c.AddRaftVoter))
	reg.Register(kmsg.RemoveRaftVoter.Int16(), 0, 0, handle(c.RemoveRaftVoter))
	return reg
}

// handle adapts an operation to a protocol.Handler. Every controller
// operation may wait for Raft, so all of them run in protocol.Later.
func handle[Req kmsg.Request, Resp kmsg.Response](op func(context.Context, Req) (Resp, error)) protocol.Handler {
	return func(_ context.Context, r *protocol.Request) protocol.Reply {
		body, ok := r.Body.(Req)
		if !ok {
			return protocol.Fail(fmt.Errorf("controller: request body %T for key %d", r.Body, r.Key))
		}
		return protocol.Later(func(ctx context.Context) (kmsg.Response, error) {
			resp, err := op(ctx, body)
			if err != nil {
				return nil, err
			}
			return resp, nil
		})
	}
}

// errResult is the error code and message of one item of a response.
func errResult(err error) (int16, *string) {
	return protocol.ErrorCode(err), protocol.ErrorMessage(err)
}

// duplicates returns the keys that occur more than once.
func duplicates[K comparable](keys []K) map[K]bool {
	seen := make(map[K]int, len(keys))
	for _, k := range keys {
		seen[k]++
	}
	dup := map[K]bool{}
	for k, n := range seen {
		if n > 1 {
			dup[k] = true
		}
	}
	return dup
}

var errDuplicateResource = errorf(kerr.InvalidRequest, "the request names this resource more than once")

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
