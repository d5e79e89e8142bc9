package controller

import (
	crand "crypto/rand"
	"math/rand/v2"
	"slices"

	"github.com/samsa-io/samsa/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// maxPartitionsPerRequest bounds the partitions one request may create, so
// that a hostile or mistaken request cannot build a huge log entry.
const maxPartitionsPerRequest = 10000

// rackAlternated orders brokers (sorted ids) so that consecutive entries
// are on different racks where possible: racks are taken in name order,
// and the list takes the first broker of every rack, then the second of
// every rack, and so on (Kafka's rack-alternated list). Brokers without a
// rack form one group of their own. With no racks set, or one, the order
// is unchanged. Round-robin placement over this list puts the replicas of
// a partition on as many racks as there are, when racks are balanced.
func rackAlternated(img *metadata.Image, brokers []int32) []int32 {
	byRack := map[string][]int32{}
	for _, id := range brokers {
		b, _ := img.Broker(id)
		byRack[b.Rack] = append(byRack[b.Rack], id)
	}
	if len(byRack) <= 1 {
		return brokers
	}
	racks := make([]string, 0, len(byRack))
	for r := range byRack {
		racks = append(racks, r)
	}
	slices.Sort(racks)
	out := make([]int32, 0, len(brokers))
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

// placeReplicas assigns replicas round-robin over brokers (sorted ids, or
// rackAlternated) from
// a start offset: replica j of partition i goes to broker
// (start+i+j) mod n, so leaders (replica 0) spread evenly and no partition
// has a broker twice. first is the id of the first partition placed, so
// that partitions added later continue the rotation.
func placeReplicas(brokers []int32, start, first, count, rf int) [][]int32 {
	n := len(brokers)
	out := make([][]int32, count)
	for k := range out {
		i := first + k
		replicas := make([]int32, rf)
		for j := range replicas {
			replicas[j] = brokers[(start+i+j)%n]
		}
		out[k] = replicas
	}
	return out
}

// randomStart picks the rotation's start broker index.
func randomStart(n int) int {
	if n <= 1 {
		return 0
	}
	return rand.IntN(n)
}

// partitionRecords builds PartitionRecords for new partitions: leader is
// the first replica, ISR is every replica, epochs start at 0.
func partitionRecords(topicID [16]byte, first int32, assignment [][]int32) []metadata.Record {
	recs := make([]metadata.Record, 0, len(assignment))
	for k, replicas := range assignment {
		recs = append(recs, &metadata.PartitionRecord{
			TopicID:   topicID,
			Partition: first + int32(k),
			Replicas:  replicas,
			ISR:       slices.Clone(replicas),
			Leader:    replicas[0],
		})
	}
	return recs
}

// checkManualAssignment validates replica lists given by a client: each
// non-empty, of length rf (when rf > 0), without duplicates, on registered
// brokers.
func checkManualAssignment(img *metadata.Image, assignment [][]int32, rf int) error {
	for p, replicas := range assignment {
		if len(replicas) == 0 {
			return errorf(kerr.InvalidReplicaAssignment, "partition %d has no replicas", p)
		}
		if rf > 0 && len(replicas) != rf {
			return errorf(kerr.InvalidReplicaAssignment,
				"partition %d has %d replicas, but the other partitions have %d", p, len(replicas), rf)
		}
		seen := map[int32]bool{}
		for _, b := range replicas {
			if seen[b] {
				return errorf(kerr.InvalidReplicaAssignment, "partition %d lists broker %d twice", p, b)
			}
			seen[b] = true
			if _, ok := img.Broker(b); !ok {
				return errorf(kerr.InvalidReplicaAssignment, "partition %d is assigned to broker %d, which is not registered", p, b)
			}
		}
	}
	return nil
}

// newTopicID returns a random topic id, never zero and not used in img.
func newTopicID(img *metadata.Image, taken map[[16]byte]bool) [16]byte {
	for {
		var id [16]byte
		_, _ = crand.Read(id[:])
		if id == ([16]byte{}) || taken[id] {
			continue
		}
		if _, ok := img.TopicByID(id); !ok {
			return id
		}
	}
}
