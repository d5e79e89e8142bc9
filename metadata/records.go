package metadata

import "fmt"

// RecordType identifies a record's kind in the encoded log. Type ids are
// never reused: a retired record keeps its number.
type RecordType uint16

// Record type ids.
const (
	TypeBootstrap        RecordType = 1
	TypeRegisterBroker   RecordType = 2
	TypeFenceBroker      RecordType = 3
	TypeUnfenceBroker    RecordType = 4
	TypeTopic            RecordType = 5
	TypePartition        RecordType = 6
	TypePartitionChange  RecordType = 7
	TypeRemoveTopic      RecordType = 8
	TypeConfig           RecordType = 9
	TypeProducerIDs      RecordType = 10
	TypeFeatureLevel     RecordType = 11
	TypeUnregisterBroker RecordType = 12
)

func (t RecordType) String() string {
	switch t {
	case TypeBootstrap:
		return "Bootstrap"
	case TypeRegisterBroker:
		return "RegisterBroker"
	case TypeFenceBroker:
		return "FenceBroker"
	case TypeUnfenceBroker:
		return "UnfenceBroker"
	case TypeTopic:
		return "Topic"
	case TypePartition:
		return "Partition"
	case TypePartitionChange:
		return "PartitionChange"
	case TypeRemoveTopic:
		return "RemoveTopic"
	case TypeConfig:
		return "Config"
	case TypeProducerIDs:
		return "ProducerIDs"
	case TypeFeatureLevel:
		return "FeatureLevel"
	case TypeUnregisterBroker:
		return "UnregisterBroker"
	}
	return fmt.Sprintf("RecordType(%d)", uint16(t))
}

// Record is one metadata change. The set of records is closed: only the
// types in this package implement it. Records are passed as pointers
// (*TopicRecord, ...); a record is not modified once it is in a batch.
type Record interface {
	// Type is the record's type id.
	Type() RecordType
	// Version is the version the record is encoded with: the newest
	// version this binary knows for the type, or for a few types the
	// oldest that can carry the record's content (see the package doc).
	Version() uint16

	encode(w *writer)
	decode(r *reader, version uint16)
}

// MetadataVersionFeature is the feature whose level is the metadata version
// (Kafka's "metadata.version"). BootstrapRecord sets it too.
const MetadataVersionFeature = "metadata.version"

// CurrentMetadataVersion is the metadata version this binary writes. It
// gates record versions: a controller writes a record version only when the
// cluster's metadata version says every node can read it.
const CurrentMetadataVersion int16 = 2

// ReassignmentMetadataVersion is the first metadata version whose nodes
// read PartitionRecord and PartitionChangeRecord version 1 (the adding and
// removing replicas of a reassignment). Below it the controller refuses
// reassignments.
const ReassignmentMetadataVersion int16 = 2

// NoLeader is the leader id of a partition without a leader.
const NoLeader int32 = -1

// Config resource types, with Kafka's numbering (kmsg.ConfigResourceType).
const (
	ConfigResourceTopic  int8 = 2
	ConfigResourceBroker int8 = 4
)

// BootstrapRecord is the first record of a cluster's log: it fixes the
// cluster id and the initial metadata version.
type BootstrapRecord struct {
	ClusterID       string
	MetadataVersion int16
}

// Listener is one endpoint a broker serves clients on.
type Listener struct {
	Name             string
	Host             string
	Port             uint16
	SecurityProtocol int16 // Kafka's numbering: 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL
}

// RegisterBrokerRecord registers (or re-registers) a broker.
//
// A negative BrokerEpoch means "the offset of the batch carrying this
// record": the controller cannot know the Raft index of an entry before it
// is appended, and Kafka makes the broker epoch that offset. Snapshots write
// the resolved epoch explicitly.
type RegisterBrokerRecord struct {
	NodeID        int32
	IncarnationID [16]byte
	BrokerEpoch   int64
	Listeners     []Listener
	Rack          string // "" for none
	Fenced        bool
}

// FenceBrokerRecord fences a broker: it must not lead or be in an ISR.
type FenceBrokerRecord struct {
	NodeID      int32
	BrokerEpoch int64
}

// UnregisterBrokerRecord removes a broker's registration (UnregisterBroker,
// key 64). BrokerEpoch must be the registration's epoch, so a record decided
// against an older registration cannot remove a newer one. Partition
// assignments naming the broker are left as they are, as in Kafka.
type UnregisterBrokerRecord struct {
	NodeID      int32
	BrokerEpoch int64
}

// UnfenceBrokerRecord unfences a fenced broker.
type UnfenceBrokerRecord struct {
	NodeID      int32
	BrokerEpoch int64
}

// TopicRecord creates a topic without partitions; PartitionRecords follow
// it in the same batch.
type TopicRecord struct {
	ID   [16]byte
	Name string
}

// PartitionRecord creates partition Partition of a topic, or replaces it
// whole (snapshots). Partitions are created in order: a record may name an
// existing partition or the next one, never leave a gap.
//
// AddingReplicas and RemovingReplicas (version 1) describe a reassignment
// in progress (KIP-455): Replicas is then the union of the original and the
// target replicas, AddingReplicas the target replicas that were not
// replicas before, RemovingReplicas the original replicas that are not
// targets. Both are subsets of Replicas and disjoint.
type PartitionRecord struct {
	TopicID          [16]byte
	Partition        int32
	Replicas         []int32
	ISR              []int32
	Leader           int32
	LeaderEpoch      int32
	PartitionEpoch   int32
	AddingReplicas   []int32 // v1
	RemovingReplicas []int32 // v1
}

// PartitionChangeRecord changes some of a partition's leader, ISR and
// replicas, and of its reassignment state (AddingReplicas,
// RemovingReplicas, version 1; see PartitionRecord). A nil field is left
// unchanged (an empty, non-nil ISR sets an empty ISR; empty, non-nil adding
// or removing replicas end a reassignment). The epochs are not carried:
// applying the record bumps them by Kafka's rules, so every replica of the
// log computes the same epochs: a different leader bumps the leader epoch,
// and any actual change bumps the partition epoch. A record that changes
// nothing changes no epoch.
type PartitionChangeRecord struct {
	TopicID          [16]byte
	Partition        int32
	Leader           *int32
	ISR              []int32
	Replicas         []int32
	AddingReplicas   []int32 // v1
	RemovingReplicas []int32 // v1
}

// RemoveTopicRecord deletes a topic with its partitions and configs.
type RemoveTopicRecord struct {
	ID [16]byte
}

// ConfigRecord sets (Value non-nil) or deletes (Value nil) one config key of
// a resource. ResourceType is ConfigResourceTopic (ResourceName is the
// topic's name) or ConfigResourceBroker (ResourceName is the broker id in
// decimal, or "" for the cluster-wide default).
type ConfigRecord struct {
	ResourceType int8
	ResourceName string
	Name         string
	Value        *string
}

// ProducerIDsRecord records a producer-id block handed to a broker:
// NextProducerID is the first id of the next block to hand out.
type ProducerIDsRecord struct {
	NextProducerID int64
	BrokerID       int32
	BrokerEpoch    int64
}

// FeatureLevelRecord sets a cluster feature's finalized level; level 0
// removes the feature.
type FeatureLevelRecord struct {
	Name  string
	Level int16
}

func (*BootstrapRecord) Type() RecordType        { return TypeBootstrap }
func (*RegisterBrokerRecord) Type() RecordType   { return TypeRegisterBroker }
func (*FenceBrokerRecord) Type() RecordType      { return TypeFenceBroker }
func (*UnfenceBrokerRecord) Type() RecordType    { return TypeUnfenceBroker }
func (*TopicRecord) Type() RecordType            { return TypeTopic }
func (*PartitionRecord) Type() RecordType        { return TypePartition }
func (*PartitionChangeRecord) Type() RecordType  { return TypePartitionChange }
func (*RemoveTopicRecord) Type() RecordType      { return TypeRemoveTopic }
func (*ConfigRecord) Type() RecordType           { return TypeConfig }
func (*ProducerIDsRecord) Type() RecordType      { return TypeProducerIDs }
func (*FeatureLevelRecord) Type() RecordType     { return TypeFeatureLevel }
func (*UnregisterBrokerRecord) Type() RecordType { return TypeUnregisterBroker }

// Record versions. To add a field: bump the version here, write the field
// last, and read it in decode only when version >= the new version (older
// entries keep the zero value or an explicit default).
//
// PartitionRecord and PartitionChangeRecord are at version 1, but write it
// only when they carry reassignment state (see maxVersion): the records of
// a cluster that never reassigns stay readable by a binary that knows only
// version 0, and a controller writes version 1 only at
// ReassignmentMetadataVersion.
func (*BootstrapRecord) Version() uint16      { return 0 }
func (*RegisterBrokerRecord) Version() uint16 { return 0 }
func (*FenceBrokerRecord) Version() uint16    { return 0 }
func (*UnfenceBrokerRecord) Version() uint16  { return 0 }
func (*TopicRecord) Version() uint16          { return 0 }

func (r *PartitionRecord) Version() uint16 {
	if len(r.AddingReplicas) > 0 || len(r.RemovingReplicas) > 0 {
		return 1
	}
	return 0
}

func (r *PartitionChangeRecord) Version() uint16 {
	if r.AddingReplicas != nil || r.RemovingReplicas != nil {
		return 1
	}
	return 0
}

func (*RemoveTopicRecord) Version() uint16      { return 0 }
func (*ConfigRecord) Version() uint16           { return 0 }
func (*ProducerIDsRecord) Version() uint16      { return 0 }
func (*FeatureLevelRecord) Version() uint16     { return 0 }
func (*UnregisterBrokerRecord) Version() uint16 { return 0 }

// contentVersioned is a record whose encoded version depends on its
// content; maxVersion is the newest version this binary reads for it.
type contentVersioned interface{ maxVersion() uint16 }

func (*PartitionRecord) maxVersion() uint16       { return 1 }
func (*PartitionChangeRecord) maxVersion() uint16 { return 1 }

// maxVersion is the newest version of rec's type that this binary reads.
func maxVersion(rec Record) uint16 {
	if cv, ok := rec.(contentVersioned); ok {
		return cv.maxVersion()
	}
	return rec.Version()
}

// newRecord returns an empty record of type t, or nil for an unknown type.
func newRecord(t RecordType) Record {
	switch t {
	case TypeBootstrap:
		return new(BootstrapRecord)
	case TypeRegisterBroker:
		return new(RegisterBrokerRecord)
	case TypeFenceBroker:
		return new(FenceBrokerRecord)
	case TypeUnfenceBroker:
		return new(UnfenceBrokerRecord)
	case TypeTopic:
		return new(TopicRecord)
	case TypePartition:
		return new(PartitionRecord)
	case TypePartitionChange:
		return new(PartitionChangeRecord)
	case TypeRemoveTopic:
		return new(RemoveTopicRecord)
	case TypeConfig:
		return new(ConfigRecord)
	case TypeProducerIDs:
		return new(ProducerIDsRecord)
	case TypeFeatureLevel:
		return new(FeatureLevelRecord)
	case TypeUnregisterBroker:
		return new(UnregisterBrokerRecord)
	}
	return nil
}

func (r *BootstrapRecord) encode(w *writer) {
	w.string(r.ClusterID)
	w.int16(r.MetadataVersion)
}

func (r *BootstrapRecord) decode(rd *reader, _ uint16) {
	r.ClusterID = rd.string()
	r.MetadataVersion = rd.int16()
}

func (r *RegisterBrokerRecord) encode(w *writer) {
	w.int32(r.NodeID)
	w.uuid(r.IncarnationID)
	w.int64(r.BrokerEpoch)
	w.uvarint(uint64(len(r.Listeners)))
	for _, l := range r.Listeners {
		w.string(l.Name)
		w.string(l.Host)
		w.uvarint(uint64(l.Port))
		w.int16(l.SecurityProtocol)
	}
	w.string(r.Rack)
	w.bool(r.Fenced)
}

func (r *RegisterBrokerRecord) decode(rd *reader, _ uint16) {
	r.NodeID = rd.int32()
	r.IncarnationID = rd.uuid()
	r.BrokerEpoch = rd.int64()
	if n := rd.count(4); n > 0 {
		r.Listeners = make([]Listener, n)
		for i := range r.Listeners {
			l := &r.Listeners[i]
			l.Name = rd.string()
			l.Host = rd.string()
			l.Port = rd.uint16()
			l.SecurityProtocol = rd.int16()
		}
	}
	r.Rack = rd.string()
	r.Fenced = rd.bool()
}

func (r *FenceBrokerRecord) encode(w *writer) { w.int32(r.NodeID); w.int64(r.BrokerEpoch) }
func (r *FenceBrokerRecord) decode(rd *reader, _ uint16) {
	r.NodeID = rd.int32()
	r.BrokerEpoch = rd.int64()
}

func (r *UnregisterBrokerRecord) encode(w *writer) { w.int32(r.NodeID); w.int64(r.BrokerEpoch) }
func (r *UnregisterBrokerRecord) decode(rd *reader, _ uint16) {
	r.NodeID = rd.int32()
	r.BrokerEpoch = rd.int64()
}

func (r *UnfenceBrokerRecord) encode(w *writer) { w.int32(r.NodeID); w.int64(r.BrokerEpoch) }
func (r *UnfenceBrokerRecord) decode(rd *reader, _ uint16) {
	r.NodeID = rd.int32()
	r.BrokerEpoch = rd.int64()
}

func (r *TopicRecord) encode(w *writer) { w.uuid(r.ID); w.string(r.Name) }
func (r *TopicRecord) decode(rd *reader, _ uint16) {
	r.ID = rd.uuid()
	r.Name = rd.string()
}

func (r *PartitionRecord) encode(w *writer) {
	w.uuid(r.TopicID)
	w.int32(r.Partition)
	w.int32s(r.Replicas)
	w.int32s(r.ISR)
	w.int32(r.Leader)
	w.int32(r.LeaderEpoch)
	w.int32(r.PartitionEpoch)
	if r.Version() >= 1 {
		w.int32s(r.AddingReplicas)
		w.int32s(r.RemovingReplicas)
	}
}

func (r *PartitionRecord) decode(rd *reader, version uint16) {
	r.TopicID = rd.uuid()
	r.Partition = rd.int32()
	r.Replicas = rd.int32s()
	r.ISR = rd.int32s()
	r.Leader = rd.int32()
	r.LeaderEpoch = rd.int32()
	r.PartitionEpoch = rd.int32()
	if version >= 1 {
		r.AddingReplicas = rd.int32s()
		r.RemovingReplicas = rd.int32s()
	}
}

func (r *PartitionChangeRecord) encode(w *writer) {
	w.uuid(r.TopicID)
	w.int32(r.Partition)
	w.bool(r.Leader != nil)
	if r.Leader != nil {
		w.int32(*r.Leader)
	}
	w.nullableInt32s(r.ISR)
	w.nullableInt32s(r.Replicas)
	if r.Version() >= 1 {
		w.nullableInt32s(r.AddingReplicas)
		w.nullableInt32s(r.RemovingReplicas)
	}
}

func (r *PartitionChangeRecord) decode(rd *reader, version uint16) {
	r.TopicID = rd.uuid()
	r.Partition = rd.int32()
	if rd.bool() {
		l := rd.int32()
		r.Leader = &l
	}
	r.ISR = rd.nullableInt32s()
	r.Replicas = rd.nullableInt32s()
	if version >= 1 {
		r.AddingReplicas = rd.nullableInt32s()
		r.RemovingReplicas = rd.nullableInt32s()
	}
}

func (r *RemoveTopicRecord) encode(w *writer)            { w.uuid(r.ID) }
func (r *RemoveTopicRecord) decode(rd *reader, _ uint16) { r.ID = rd.uuid() }

func (r *ConfigRecord) encode(w *writer) {
	w.int8(r.ResourceType)
	w.string(r.ResourceName)
	w.string(r.Name)
	w.nullableString(r.Value)
}

func (r *ConfigRecord) decode(rd *reader, _ uint16) {
	r.ResourceType = rd.int8()
	r.ResourceName = rd.string()
	r.Name = rd.string()
	r.Value = rd.nullableString()
}

func (r *ProducerIDsRecord) encode(w *writer) {
	w.int64(r.NextProducerID)
	w.int32(r.BrokerID)
	w.int64(r.BrokerEpoch)
}

func (r *ProducerIDsRecord) decode(rd *reader, _ uint16) {
	r.NextProducerID = rd.int64()
	r.BrokerID = rd.int32()
	r.BrokerEpoch = rd.int64()
}

func (r *FeatureLevelRecord) encode(w *writer) { w.string(r.Name); w.int16(r.Level) }
func (r *FeatureLevelRecord) decode(rd *reader, _ uint16) {
	r.Name = rd.string()
	r.Level = rd.int16()
}
