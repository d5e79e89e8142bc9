package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAnsweredNotControllerDescribeQuorum checks that a DescribeQuorum
// answer from a voter that is not the leader (KIP-595: every partition
// NOT_LEADER_OR_FOLLOWER) sends the controller client to the next
// controller, and that any other answer is the caller's.
func TestAnsweredNotControllerDescribeQuorum(t *testing.T) {
	mk := func(top int16, parts ...int16) kmsg.Response {
		r := kmsg.NewPtrDescribeQuorumResponse()
		r.ErrorCode = top
		rt := kmsg.NewDescribeQuorumResponseTopic()
		for _, c := range parts {
			p := kmsg.NewDescribeQuorumResponseTopicPartition()
			p.ErrorCode = c
			rt.Partitions = append(rt.Partitions, p)
		}
		r.Topics = append(r.Topics, rt)
		return r
	}
	nl := kerr.NotLeaderForPartition.Code
	cases := []struct {
		name string
		resp kmsg.Response
		want bool
	}{
		{"follower", mk(0, nl), true},
		{"not controller", mk(kerr.NotController.Code), true},
		{"leader", mk(0, 0), false},
		{"unknown partition", mk(0, kerr.UnknownTopicOrPartition.Code), false},
		{"mixed", mk(0, nl, kerr.UnknownTopicOrPartition.Code), false},
		{"no partitions", mk(0), false},
	}
	for _, c := range cases {
		if got := answeredNotController(c.resp); got != c.want {
			t.Errorf("%s: answeredNotController = %v, want %v", c.name, got, c.want)
		}
	}
}
