// Package metadata owns Samsa's cluster metadata model, in the manner of
// Kafka's KRaft: the records that make up the metadata log, their binary
// codec, and the immutable Image that applying them builds. It also owns the
// rules about metadata values that every node must agree on: topic names
// (ValidateTopicName) and the topic config catalog (topicconfig.go).
//
// It imports no other Samsa package and does no IO: the controller decides
// which records to write and commits them through Raft; brokers and
// controllers apply committed batches to images.
//
// # Records and the log
//
// A log entry is a batch of records (EncodeBatch, DecodeBatch) applied
// atomically: Image.Apply either applies every record of a batch or returns
// an error wrapping ErrInconsistent and changes nothing. The offset of a
// batch is its Raft index; Image.Offset is the offset of the last batch
// applied. Apply is deterministic, so every node that applies the same log
// builds the same images.
//
// # Versioning rule
//
// Every record is framed with its type id and version (see EncodeBatch).
// Type ids are never reused. A record's version is bumped whenever its
// payload changes; new fields are appended, and a decoder reads them only
// from the version that introduced them. A decoder refuses a version newer
// than it knows (ErrUnsupportedVersion) rather than skipping fields, because
// a node that silently ignored part of a record would build a different
// image from its peers. A controller therefore writes a new record version
// only once the cluster's metadata version (BootstrapRecord and the
// "metadata.version" feature level) shows that every node can read it.
//
// PartitionRecord and PartitionChangeRecord version 1 add a reassignment's
// adding and removing replicas (KIP-455). They write version 1 only when
// they carry them, so a log without reassignments is byte for byte what
// version 0 wrote; the controller starts reassignments only at
// ReassignmentMetadataVersion.
//
// # Snapshots
//
// Image.Records returns a batch that rebuilds an image from Empty();
// EncodeSnapshot prefixes it with a small header carrying the offset, and
// DecodeSnapshot reverses it. Decoders keep one sticky error and never
// panic on short or hostile input (FuzzDecodeBatch).
//
// # Concurrency contract
//
// Images are immutable and safe to share between goroutines without
// locking. Apply copies on write: it copies the parts it changes (the topic
// it touches, one shard of the topic maps, the broker map) and shares the
// rest with the previous image, so holding an old image is cheap and it
// never changes under its holder. Everything reachable from an Image
// (Topic, Partition slices, config maps, broker listeners) is shared and
// must be treated as read-only; accessors that return slices of the
// image's own collections (Topics, Brokers) return a fresh slice.
package metadata
