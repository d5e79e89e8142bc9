package group

// The server-side assignors of KIP-848 consumer groups. Both are pure
// functions of the members' subscriptions, the subscribed topics'
// partition counts and the previous target assignment; both handle members
// that subscribe to different topics.
//
//   - uniform (the default, Kafka's UniformAssignor): sticky and balanced.
//     A member keeps the partitions it was assigned that still exist and
//     that it still subscribes to; the others go to the least-loaded
//     subscriber; then partitions move from the most loaded members to
//     subscribers with at least two fewer until no such move is left, so
//     that counts differ by at most one wherever subscriptions allow.
//   - range (Kafka's RangeAssignor): per topic, the subscribers in member
//     id order get contiguous ranges, the first ones one partition more.

import (
	"cmp"
	"slices"
)

type assignMember struct {
	id     string
	topics []topicID // subscribed topics that exist, sorted
	prev   assignment
}

type assignInput struct {
	members []assignMember    // sorted by id
	topics  map[topicID]int32 // partition count of each subscribed topic
}

func sortedTopicIDs(topics map[topicID]int32) []topicID {
	ids := make([]topicID, 0, len(topics))
	for id := range topics {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y topicID) int { return slices.Compare(x[:], y[:]) })
	return ids
}

// subscribers lists, per topic, the members subscribed to it in id order.
func (in assignInput) subscribers() map[topicID][]string {
	out := map[topicID][]string{}
	for _, m := range in.members {
		for _, t := range m.topics {
			if _, ok := in.topics[t]; ok {
				out[t] = append(out[t], m.id)
			}
		}
	}
	return out
}

func assignRange(in assignInput) map[string]assignment {
	out := make(map[string]assignment, len(in.members))
	for _, m := range in.members {
		out[m.id] = assignment{}
	}
	subs := in.subscribers()
	for _, t := range sortedTopicIDs(in.topics) {
		members := subs[t]
		if len(members) == 0 {
			continue
		}
		n, k := in.topics[t], int32(len(members))
		next := int32(0)
		for i, id := range members {
			size := n / k
			if int32(i) < n%k {
				size++
			}
			for p := next; p < next+size; p++ {
				out[id][t] = append(out[id][t], p)
			}
			next += size
		}
	}
	return out
}

func assignUniform(in assignInput) map[string]assignment {
	out := make(map[string]assignment, len(in.members))
	count := map[string]int{}
	subscribed := map[string]map[topicID]bool{}
	for _, m := range in.members {
		out[m.id] = assignment{}
		subscribed[m.id] = map[topicID]bool{}
		for _, t := range m.topics {
			subscribed[m.id][t] = true
		}
	}
	taken := map[topicID]map[int32]bool{}
	give := func(id string, t topicID, p int32) {
		out[id][t] = append(out[id][t], p)
		count[id]++
		if taken[t] == nil {
			taken[t] = map[int32]bool{}
		}
		taken[t][p] = true
	}
	// Stickiness: keep what is still valid.
	for _, m := range in.members {
		for _, t := range m.prev.topicIDs() {
			n, ok := in.topics[t]
			if !ok || !subscribed[m.id][t] {
				continue
			}
			for _, p := range m.prev[t] {
				if p < n && !taken[t][p] {
					give(m.id, t, p)
				}
			}
		}
	}
	subs := in.subscribers()
	least := func(t topicID, except string) string {
		best := ""
		for _, id := range subs[t] {
			if id != except && (best == "" || count[id] < count[best]) {
				best = id
			}
		}
		return best
	}
	for _, t := range sortedTopicIDs(in.topics) {
		for p := range in.topics[t] {
			if !taken[t][p] {
				if id := least(t, ""); id != "" {
					give(id, t, p)
				}
			}
		}
	}
	for balanceStep(in.members, out, count, least) {
	}
	for _, a := range out {
		for t, ps := range a {
			a[t] = normalize(ps)
		}
	}
	return out
}

// balanceStep moves one partition from a most loaded member to a
// subscriber with at least two fewer partitions, if there is such a move.
// Every move lowers the sum of squared counts, so repeating it ends.
func balanceStep(members []assignMember, out map[string]assignment, count map[string]int, least func(topicID, string) string) bool {
	order := make([]string, 0, len(members))
	for _, m := range members {
		order = append(order, m.id)
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(count[b], count[a]) })
	for _, from := range order {
		a := out[from]
		for _, t := range a.topicIDs() {
			to := least(t, from)
			if to == "" || count[to] >= count[from]-1 {
				continue
			}
			ps := a[t]
			p := ps[len(ps)-1]
			a[t] = ps[:len(ps)-1]
			if len(a[t]) == 0 {
				delete(a, t)
			}
			out[to][t] = append(out[to][t], p)
			count[from]--
			count[to]++
			return true
		}
	}
	return false
}
