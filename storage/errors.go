package storage

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// codedError is a sentinel that carries the Kafka error code the protocol
// layer must answer with. Its message stays short (the kerr description is
// long and would be repeated in every log line); errors.Is/As reach the
// *kerr.Error through Unwrap.
type codedError struct {
	msg  string
	code *kerr.Error
}

func (e *codedError) Error() string { return e.msg }
func (e *codedError) Unwrap() error { return e.code }

// The sentinel errors of the package. Every error returned by this package that
// belongs to one of these classes wraps the sentinel (test with errors.Is), and
// every sentinel wraps the kerr error that the protocol layer answers with, so
// errors.Is(err, kerr.CorruptMessage) works on any returned error too.
var (
	// ErrCorruptBatch: a record batch handed to the log is malformed: short,
	// inconsistent length, bad CRC-32C, or record count inconsistent with
	// LastOffsetDelta. Answer CORRUPT_MESSAGE.
	ErrCorruptBatch error = &codedError{"storage: corrupt record batch", kerr.CorruptMessage}

	// ErrUnsupportedMagic: a batch is not RecordBatch v2 (magic 0 and 1 are
	// the pre-0.11 message sets, which this broker never stores).
	ErrUnsupportedMagic error = &codedError{"storage: unsupported record batch magic", kerr.UnsupportedForMessageFormat}

	// ErrBatchTooLarge: one batch exceeds the topic's max.message.bytes.
	ErrBatchTooLarge error = &codedError{"storage: record batch too large", kerr.MessageTooLarge}

	// ErrOffsetOutOfRange: a read below the log start offset or above the log
	// end offset, or a follower append that does not start at the log end.
	ErrOffsetOutOfRange error = &codedError{"storage: offset out of range", kerr.OffsetOutOfRange}

	// ErrClosed: the Log was closed (broker shutdown, partition moved or
	// deleted). Clients retry after refreshing metadata.
	ErrClosed error = &codedError{"storage: log closed", kerr.NotLeaderForPartition}

	// ErrTruncated: the log was truncated between Read and ReadResult.Bytes,
	// so the regions may no longer hold the batches that were found. The
	// caller retries the read.
	ErrTruncated error = &codedError{"storage: log truncated during read", kerr.NotLeaderForPartition}

	// ErrCorrupt: on-disk corruption that is not a torn tail: a bad batch
	// followed by valid data, a bad batch in a sealed segment, overlapping
	// segments, an unreadable checkpoint. Recovery refuses to start on it
	// rather than drop acknowledged records.
	ErrCorrupt error = &codedError{"storage: on-disk corruption", kerr.KafkaStorageError}

	// ErrIO: a write, fsync or file operation failed. After a failed fsync the
	// state of the page cache is unknown, so the Log refuses further appends
	// and syncs; reopen it (recovery) to continue.
	ErrIO error = &codedError{"storage: i/o error", kerr.KafkaStorageError}

	// ErrFencedEpoch: a leader append carries a leader epoch lower than the
	// latest epoch already in the log (a deposed leader writing).
	ErrFencedEpoch error = &codedError{"storage: leader epoch is older than the log's latest epoch", kerr.FencedLeaderEpoch}

	// ErrTopicIDMismatch: partition.metadata names another topic ID than the
	// one the Log was opened for (a recreated topic reusing the directory).
	ErrTopicIDMismatch error = &codedError{"storage: topic ID mismatch", kerr.InconsistentTopicID}

	// ErrNoKey: a record without a key was produced to a compacted topic
	// (CheckRecordKeys). Answer INVALID_RECORD, as Kafka does.
	ErrNoKey error = &codedError{"storage: compacted topics accept only records with a key", kerr.InvalidRecord}

	// ErrInvalidConfig: Config.Validate rejected a setting.
	ErrInvalidConfig error = &codedError{"storage: invalid config", kerr.InvalidConfig}
)
