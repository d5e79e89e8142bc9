package group

import (
	"maps"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// loader accumulates a partition's records in log order: the last record
// of each key wins and a tombstone deletes.
type loader struct {
	meta     map[string]*kmsg.GroupMetadataValue
	consumer map[string]*cgLoad
	offsets  map[string]map[topicPartition]offsetEntry
	records  int
	skipped  int
}

// cgLoad is a KIP-848 consumer group as its records leave it.
type cgLoad struct {
	epoch       int32
	hash        uint64
	targetEpoch int32
	members     map[string]*consumerMember // member metadata
	current     map[string]*consumerMember // current assignment
	target      map[string]assignment
}

func newLoader() *loader {
	return &loader{meta: map[string]*kmsg.GroupMetadataValue{}, consumer: map[string]*cgLoad{},
		offsets: map[string]map[topicPartition]offsetEntry{}}
}

func (l *loader) applyConsumer(d *cgDecoded) {
	cl := l.consumer[d.groupID]
	if cl == nil {
		if d.tombstone {
			return
		}
		cl = &cgLoad{members: map[string]*consumerMember{}, current: map[string]*consumerMember{}, target: map[string]assignment{}}
		l.consumer[d.groupID] = cl
	}
	switch d.kind {
	case keyConsumerGroupMetadata:
		if d.tombstone {
			delete(l.consumer, d.groupID) // the group is deleted (its members were before)
			return
		}
		cl.epoch, cl.hash = d.epoch, d.hash
	case keyConsumerMemberMetadata:
		setOrDelete(cl.members, d.memberID, d.member, d.tombstone)
	case keyConsumerTargetMetadata:
		cl.targetEpoch = d.epoch
	case keyConsumerTargetMember:
		setOrDelete(cl.target, d.memberID, d.target, d.tombstone)
	case keyConsumerCurrentAssigment:
		setOrDelete(cl.current, d.memberID, d.member, d.tombstone)
	}
}

func setOrDelete[V any](m map[string]V, k string, v V, tombstone bool) {
	if tombstone {
		delete(m, k)
		return
	}
	m[k] = v
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
	case d.consumer != nil:
		l.applyConsumer(d.consumer)
	default:
		l.skipped++ // a share or streams group record
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
	for id := range l.consumer {
		ids[id] = true
	}
	for id, offs := range l.offsets {
		if len(offs) > 0 {
			ids[id] = true
		}
	}
	for id := range ids {
		g := newGroup(id, now)
		if cl := l.consumer[id]; cl != nil {
			if l.meta[id] != nil {
				s.log.Warn().Str("group", id).Msg("group has both classic and consumer group records; loading it as a consumer group")
			}
			s.loadConsumerGroup(g, cl, now)
		} else if meta := l.meta[id]; meta != nil {
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

// loadConsumerGroup rebuilds a KIP-848 group. Members come back with their
// epochs and assignments; their sessions (and a pending revocation's
// rebalance timeout) restart now.
func (s *state) loadConsumerGroup(g *group, cl *cgLoad, now int64) {
	g.toConsumer()
	cg := g.cg
	cg.epoch, cg.hash, cg.targetEpoch = cl.epoch, cl.hash, cl.targetEpoch
	for id, a := range cl.target {
		if cl.members[id] != nil {
			cg.target[id] = a
		}
	}
	for id, m := range cl.members {
		m.assigned, m.pendingRevocation = assignment{}, assignment{}
		if cur := cl.current[id]; cur != nil {
			m.epoch, m.previousEpoch, m.state = cur.epoch, cur.previousEpoch, cur.state
			m.assigned, m.pendingRevocation = cur.assigned, cur.pendingRevocation
		}
		m.sessionDeadline = now + s.cfg.cgSession
		if m.state == memberUnrevokedPartitions {
			m.revokeDeadline = now + int64(max(m.rebalanceTimeout, 1))
		}
		cg.addMember(m)
	}
	if len(cg.members) > 0 {
		g.state, g.prevState = stateStable, stateStable
	}
}
