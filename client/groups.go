package client

// Consumer groups from the admin side: list, describe with lag, delete,
// and reset committed offsets (as Kafka's kafka-consumer-groups tool does).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// GroupSummary is one line of ListGroups.
type GroupSummary struct {
	Name         string
	State        string // Empty, PreparingRebalance, CompletingRebalance, Stable
	ProtocolType string // "consumer" for consumers, "" for offsets-only groups
}

// ListGroups lists every group of the cluster, sorted by name.
func (a *Admin) ListGroups(ctx context.Context) ([]GroupSummary, error) {
	listed, err := a.adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	out := make([]GroupSummary, 0, len(listed))
	for _, g := range listed.Sorted() {
		out = append(out, GroupSummary{Name: g.Group, State: g.State, ProtocolType: g.ProtocolType})
	}
	return out, nil
}

// GroupMember is one member of a group.
type GroupMember struct {
	ID         string
	InstanceID string // group.instance.id of a static member
	ClientID   string
	ClientHost string
	Assigned   map[string][]int32 // topic -> partitions, for consumer groups
}

// GroupOffset is one partition a group has committed or is assigned.
type GroupOffset struct {
	Topic     string
	Partition int32
	Committed int64  // -1: nothing committed
	End       int64  // -1: unknown
	Lag       int64  // End - Committed; -1 when either is unknown
	Member    string // the member assigned the partition, if any
}

// GroupDescription is a group's state, members and offsets with lag.
type GroupDescription struct {
	Name         string
	State        string
	ProtocolType string
	Protocol     string
	Members      []GroupMember
	Offsets      []GroupOffset // sorted by topic, partition
}

// ErrGroupNotFound is returned for a group the cluster does not know.
var ErrGroupNotFound = fmt.Errorf("group not found: %w", kerr.GroupIDNotFound)

// DescribeGroup returns a group's state, members and, for each partition
// it committed or is assigned, the committed offset, the end offset and the
// lag.
func (a *Admin) DescribeGroup(ctx context.Context, name string) (GroupDescription, error) {
	described, err := a.adm.DescribeGroups(ctx, name)
	if err != nil {
		return GroupDescription{}, fmt.Errorf("describe group %q: %w", name, err)
	}
	dg := described[name]
	if errors.Is(dg.Err, kerr.GroupIDNotFound) || (dg.Err == nil && dg.State == "Dead") {
		return GroupDescription{}, fmt.Errorf("describe group %q: %w", name, ErrGroupNotFound)
	}
	if dg.Err != nil {
		return GroupDescription{}, fmt.Errorf("describe group %q: %w", name, dg.Err)
	}
	d := GroupDescription{Name: name, State: dg.State, ProtocolType: dg.ProtocolType, Protocol: dg.Protocol}
	owner := map[string]map[int32]string{}
	for _, m := range dg.Members {
		gm := GroupMember{ID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assigned: map[string][]int32{}}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				gm.Assigned[t.Topic] = append(gm.Assigned[t.Topic], t.Partitions...)
				if owner[t.Topic] == nil {
					owner[t.Topic] = map[int32]string{}
				}
				for _, p := range t.Partitions {
					owner[t.Topic][p] = m.MemberID
				}
			}
		}
		d.Members = append(d.Members, gm)
	}
	committed, err := a.adm.FetchOffsets(ctx, name)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return GroupDescription{}, fmt.Errorf("fetch offsets of group %q: %w", name, err)
	}
	d.Offsets, err = a.groupOffsets(ctx, committed, owner)
	return d, err
}

// groupOffsets joins committed offsets and assignments with end offsets.
func (a *Admin) groupOffsets(ctx context.Context, committed kadm.OffsetResponses, owner map[string]map[int32]string) ([]GroupOffset, error) {
	rows := map[string]map[int32]*GroupOffset{}
	row := func(topic string, p int32) *GroupOffset {
		if rows[topic] == nil {
			rows[topic] = map[int32]*GroupOffset{}
		}
		if rows[topic][p] == nil {
			rows[topic][p] = &GroupOffset{Topic: topic, Partition: p, Committed: -1, End: -1, Lag: -1}
		}
		return rows[topic][p]
	}
	committed.Each(func(o kadm.OffsetResponse) { row(o.Topic, o.Partition).Committed = o.At })
	for topic, ps := range owner {
		for p, m := range ps {
			row(topic, p).Member = m
		}
	}
	var out []GroupOffset
	for topic, ps := range rows {
		ends, err := a.ListEndOffsets(ctx, topic)
		if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, err
		}
		for p, r := range ps {
			if end, ok := ends[p]; ok {
				r.End = end
				if r.Committed >= 0 {
					r.Lag = max(end-r.Committed, 0)
				}
			}
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

// DeleteGroup deletes a group and its committed offsets. Only a group with
// no members can be deleted (kerr.NonEmptyGroup otherwise); a group the
// cluster does not know fails with ErrGroupNotFound.
func (a *Admin) DeleteGroup(ctx context.Context, name string) error {
	resp, err := a.adm.DeleteGroups(ctx, name)
	if err == nil {
		err = resp[name].Err
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		err = ErrGroupNotFound
	}
	if err != nil {
		return fmt.Errorf("delete group %q: %w", name, err)
	}
	return nil
}

// OffsetReset says where ResetGroupOffsets moves a partition's committed
// offset; every target is clamped to the partition's [start, end].
type OffsetReset struct {
	kind   resetKind
	offset int64
	at     time.Time
}

type resetKind int

const (
	resetEarliest resetKind = iota
	resetLatest
	resetOffset
	resetShift
	resetTime
)

// ResetToEarliest moves to the log start offset.
func ResetToEarliest() OffsetReset { return OffsetReset{kind: resetEarliest} }

// ResetToLatest moves to the end offset (nothing left to consume).
func ResetToLatest() OffsetReset { return OffsetReset{kind: resetLatest} }

// ResetToOffset moves to offset.
func ResetToOffset(offset int64) OffsetReset { return OffsetReset{kind: resetOffset, offset: offset} }

// ResetShiftBy moves by n from the committed offset (negative: back).
func ResetShiftBy(n int64) OffsetReset { return OffsetReset{kind: resetShift, offset: n} }

// ResetToTime moves to the first record with a timestamp at or after t (the
// end offset if there is none).
func ResetToTime(t time.Time) OffsetReset { return OffsetReset{kind: resetTime, at: t} }

// OffsetChange is one partition's move by ResetGroupOffsets.
type OffsetChange struct {
	Topic     string
	Partition int32
	From      int64 // -1: nothing was committed
	To        int64
}

// ErrGroupActive refuses an offset reset while the group has members: they
// would overwrite the reset with their next commit.
var ErrGroupActive = errors.New("the group has active members: stop its consumers before resetting offsets")

// ResetGroupOffsets moves the group's committed offsets of topic (only the
// given partitions, or all of them when partitions is empty) as reset says,
// and commits the result unless dryRun. The group must have no members.
func (a *Admin) ResetGroupOffsets(ctx context.Context, group, topic string, partitions []int32, reset OffsetReset, dryRun bool) ([]OffsetChange, error) {
	d, err := a.DescribeGroup(ctx, group)
	if err != nil && !errors.Is(err, ErrGroupNotFound) {
		return nil, err
	}
	if len(d.Members) > 0 {
		return nil, fmt.Errorf("reset offsets of group %q (%s, %d members): %w", group, d.State, len(d.Members), ErrGroupActive)
	}
	starts, err := a.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := a.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	if len(partitions) == 0 {
		for p := range ends {
			partitions = append(partitions, p)
		}
		slices.Sort(partitions)
	}
	targets, err := a.resetTargets(ctx, topic, reset, starts, ends)
	if err != nil {
		return nil, err
	}
	current := map[int32]int64{}
	for _, o := range d.Offsets {
		if o.Topic == topic {
			current[o.Partition] = o.Committed
		}
	}
	var changes []OffsetChange
	var commit kadm.OffsetsList
	for _, p := range partitions {
		end, ok := ends[p]
		if !ok {
			return nil, topicErr("reset offsets", topic, fmt.Errorf("partition %d: %w", p, kerr.UnknownTopicOrPartition), "")
		}
		from, ok := current[p]
		if !ok {
			from = -1
		}
		to := targets[p]
		if reset.kind == resetShift {
			if from < 0 {
				return nil, fmt.Errorf("reset offsets: %s-%d has no committed offset to shift", topic, p)
			}
			to = from + reset.offset
		}
		to = min(max(to, starts[p]), end)
		changes = append(changes, OffsetChange{Topic: topic, Partition: p, From: from, To: to})
		commit = append(commit, kadm.Offset{Topic: topic, Partition: p, At: to, LeaderEpoch: -1})
	}
	if dryRun || len(commit) == 0 {
		return changes, nil
	}
	resp, err := a.adm.CommitOffsets(ctx, group, commit.Offsets())
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("commit reset offsets of group %q: %w", group, err)
	}
	return changes, nil
}

// resetTargets computes the target of every partition for the absolute
// resets (shift is relative and computed by the caller).
func (a *Admin) resetTargets(ctx context.Context, topic string, reset OffsetReset, starts, ends map[int32]int64) (map[int32]int64, error) {
	targets := map[int32]int64{}
	switch reset.kind {
	case resetEarliest:
		return starts, nil
	case resetLatest:
		return ends, nil
	case resetOffset:
		for p := range ends {
			targets[p] = reset.offset
		}
	case resetTime:
		listed, err := a.adm.ListOffsetsAfterMilli(ctx, reset.at.UnixMilli(), topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return nil, topicErr("list offsets by time", topic, err, "")
		}
		for p, end := range ends {
			targets[p] = end
			if o, ok := listed.Lookup(topic, p); ok && o.Offset >= 0 {
				targets[p] = o.Offset
			}
		}
	}
	return targets, nil
}
