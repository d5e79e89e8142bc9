package group

import (
	"maps"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// loader accumulates a partition's records in log order: the last record
// of each key wins and a tombstone deletes.
type loader struct {
	meta    map[string]*kmsg.GroupMetadataValue
	offsets map[string]map[topicPartition]offsetEntry
	records int
	skipped int
}

func newLoader() *loader {
	return &loader{meta: map[string]*kmsg.GroupMetadataValue{}, offsets: map[string]map[topicPartition]offsetEntry{}}
}

func (l *loader) apply(key, value []byte) error {
	d, err := decodeRecord(key, value)
	if err != nil {
		return err
	}
	l.records++
	switch {
	case d.isOffset:
		offs := l.offsets[d.groupID]
		if d.offset == nil {
			delete(offs, d.tp)
			return nil
		}
		if offs == nil {
			offs = map[topicPartition]offsetEntry{}
			l.offsets[d.groupID] = offs
		}
		offs[d.tp] = *d.offset
	case d.isGroup:
		if d.meta == nil {
			delete(l.meta, d.groupID)
			return nil
		}
		l.meta[d.groupID] = d.meta
	default:
		l.skipped++ // a record type of the KIP-848 protocols
	}
	return nil
}

// install builds the groups from what was loaded. A group with members
// comes back Stable, as Kafka loads it, and each member's session restarts
// now; a group with only offsets comes back Empty.
func (s *state) install(l *loader, now int64) {
	ids := map[string]bool{}
	for id := range l.meta {
		ids[id] = true
	}
	for id, offs := range l.offsets {
		if len(offs) > 0 {
			ids[id] = true
		}
	}
	for id := range ids {
		g := newGroup(id, now)
		if meta := l.meta[id]; meta != nil {
			loadMetadata(g, meta, now)
		}
		maps.Copy(g.offsets, l.offsets[id])
		s.groups[id] = g
		s.reschedule(g)
	}
}

func loadMetadata(g *group, meta *kmsg.GroupMetadataValue, now int64) {
	g.protocolType, g.generation = meta.ProtocolType, meta.Generation
	if meta.Protocol != nil {
		g.protocolName = *meta.Protocol
	}
	g.stateTimestamp = -1
	if meta.Version >= 2 {
		g.stateTimestamp = meta.CurrentStateTimestamp
	}
	for _, mm := range meta.Members {
		if g.has(mm.MemberID) {
			continue
		}
		rebalance := mm.RebalanceTimeoutMillis
		if meta.Version == 0 {
			rebalance = mm.SessionTimeoutMillis
		}
		m := &member{
			id: mm.MemberID, instanceID: cloneString(mm.InstanceID), clientID: mm.ClientID, clientHost: mm.ClientHost,
			rebalanceTimeout: rebalance, sessionTimeout: mm.SessionTimeoutMillis, protocolType: g.protocolType,
			protocols:  []protocol{{name: g.protocolName, metadata: mm.Subscription}},
			assignment: mm.Assignment, deadline: now + int64(mm.SessionTimeoutMillis),
		}
		g.add(m, nil)
	}
	g.leader = ""
	if meta.Leader != nil && g.has(*meta.Leader) {
		g.leader = *meta.Leader
	} else if len(g.memberOrder) > 0 {
		g.leader = g.memberOrder[0]
	}
	if len(g.members) > 0 {
		g.state, g.prevState = stateStable, stateStable
	}
	g.computeSubscribed()
}
