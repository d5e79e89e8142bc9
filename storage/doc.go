/*
Package storage is the partition log: segments, sparse indexes, the leader
epoch cache, group-committed durability and crash recovery, in Kafka's
on-disk layout so that Kafka's tools can read the files and fetches can later
be served with sendfile.

It owns one partition directory per Log and touches nothing else; it imports
no other project package. Replication decides who may append and when an
offset is committed (high watermark); storage only stores, reads and makes
durable.

# Files

A partition is a directory named "<topic>-<partition>" (PartitionDirName,
ParsePartitionDir) holding:

	00000000000000000000.log        record batches of the segment
	00000000000000000000.index      sparse offset index
	00000000000000000000.timeindex  sparse time index
	00000000000000000000.txnindex   aborted transactions, only once there is one
	00000000000000001234.log        next segment: its base offset is 1234
	...
	leader-epoch-checkpoint         leader epoch cache (KIP-101)
	log-start-offset-checkpoint     log start offset, once it moved
	cleaner-offset-checkpoint       where compaction's next dirty section starts
	partition.metadata              topic ID
	clean-shutdown                  only between a clean Close and the next Open
	00000000000000001234.snapshot   producer-state snapshot at offset 1234 (at most two)

and, only while compaction swaps a segment in (see Compaction),
<base>.log.cleaned, .index.cleaned, .timeindex.cleaned and the same names
ending in .swap.

Segment files are named by the segment's base offset, zero-padded to 20
decimal digits. Segments never overlap; each starts at or after the end of
the previous one (equal unless a later compaction leaves gaps). The last
segment is the active one; all others are sealed and immutable, except
that compaction replaces a sealed segment whole with a cleaned copy.

# Batch framing

A .log file is a plain concatenation of RecordBatch v2 (Kafka protocol guide,
"Record Batch"), big-endian, with no extra framing of ours:

	baseOffset           int64   \
	batchLength          int32    | outside the CRC: rewritten by the broker
	partitionLeaderEpoch int32   /
	magic                int8    = 2
	crc                  uint32  CRC-32C (Castagnoli) of attributes..end
	attributes           int16   bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control,
	                             6 delete horizon (KIP-534: firstTimestamp holds it)
	lastOffsetDelta      int32
	baseTimestamp        int64
	maxTimestamp         int64
	producerId           int64
	producerEpoch        int16
	baseSequence         int32
	recordCount          int32
	records              (possibly compressed)

batchLength counts the bytes after itself, so a batch occupies
12+batchLength bytes and the next batch starts right after it. The bytes are
stored exactly as the producer sent them except for the fields the broker
stamps (StampBatch): baseOffset (the producer cannot know it) and
partitionLeaderEpoch (the epoch of the leader that accepted the write, which
is what the epoch cache and follower truncation rely on). Kafka placed both
before the CRC so a broker can assign them without re-encoding or
re-checksumming the batch. The one stamped field under the CRC is
maxTimestamp with the LogAppendTime bit, when a topic uses
message.timestamp.type=LogAppendTime; then the CRC is recomputed (still no
re-encoding of records). A batch can therefore be torn by a crash, but never
silently mis-stamped: any torn or flipped byte from attributes on fails the
CRC, and a torn offset or length field breaks the framing or the offset
order that recovery checks.

# Records

The log stores batches as produced; only compaction re-encodes the records
of a batch it removes records from (cleanbatch.go). DecodeRecords
(records.go, codec.go) reads them when a record-level answer is needed. Each
record is (protocol guide, "Record"; zigzag varints):

	length          varint   bytes of the record after this field
	attributes      int8     unused
	timestampDelta  varlong  from the batch's baseTimestamp
	offsetDelta     varint   from the batch's baseOffset
	keyLength       varint   negative = null
	key             bytes
	valueLength     varint   negative = null
	value           bytes
	headerCount     varint
	headers         [keyLength varint, key, valueLength varint, value]

The records section is compressed as a whole per attributes&7: gzip, snappy
(a plain block, or snappy-java's xerial framing: magic 82 'SNAPPY' 00, two
int32 versions, then [int32 length][block] chunks), the LZ4 frame format, or
zstd. A record's timestamp is baseTimestamp+timestampDelta, or maxTimestamp
for a LogAppendTime batch. Decompression is bounded (64 MiB plus 16 times the
compressed size, at most 1 GiB) so hostile bytes cannot exhaust memory.

Timestamp lookups are per record, as in Kafka: the indexes and the batch
headers find the candidate batch, and only that batch is read and decoded.
OffsetForTimestamp answers with the first record, in offset order, at or
after the log start offset whose timestamp is >= the target; MaxTimestamp
(KIP-734) with the first record carrying the largest timestamp, decoding
the batch the segment remembers as first reaching it. A batch that cannot
be decoded is answered at batch granularity (base offset, maxTimestamp)
with a warning. Append decodes nothing, except that for an uncompressed
batch it walks the records of the batch holding the new maximum to fill
AppendInfo.OffsetOfMaxTimestamp exactly.

# Indexes

.index holds 8-byte entries: int32 offset relative to the segment's base
offset, int32 byte position in the .log. The offset is the last offset of the
batch that starts at the position (Kafka's meaning). An entry is added for a
batch when more than IndexIntervalBytes of log were appended since the
previous entry. Both columns strictly increase. A lookup takes the last entry
whose offset is <= the target and walks batch headers from its position.

.timeindex holds 12-byte entries: int64 timestamp, int32 relative offset. Each
entry says "the largest batch maxTimestamp so far is ts, first reached by the
batch whose last offset is base+offset". An entry is added at the same points
as offset entries, only when the maximum grew, plus a final one when the
segment is sealed. Timestamps strictly increase.

Index files are not preallocated: entries are appended with pwrite(2), so a
file always holds exactly its entries. Indexes are derived data: the active
segment's indexes are rebuilt by every Open that follows a crash, and a
sealed segment's indexes are rebuilt when missing or inconsistent.

Lookups use the in-memory copy of the indexes, so the index files are open
only while they are written: the active segment holds up to three
descriptors (its .log, and its index files, opened at its creation, at the
first index write after a clean Open, or when a truncation makes a sealed
segment active again, and closed when it is sealed). A sealed segment
opens its .log only when it is read, through a FileCache shared by the
logs of the process (Config.FileCache, DefaultFileCache), which closes
the least recently used sealed files beyond its bound (the server's
storage.max.open.segments): reads take a reference for as long as they
use the file, a segment leaving the log is never reopened by name, and
pinned regions hold duplicated descriptors that eviction does not
touch (filecache.go).

# Transaction index

Kafka's <base>.txnindex lists the aborted transactions whose abort marker
is in the segment, in the order of their markers, as fixed 34-byte
big-endian entries with no header (txnindex.go):

	version           int16   = 0
	producerId        int64
	firstOffset       int64   first offset of the transaction
	lastOffset        int64   offset of the abort marker
	lastStableOffset  int64   the partition's last stable offset when the marker was written

Log.AppendAbortedTxn adds an entry to the active segment's file, creating
it with the first one: a segment without aborted transactions has none,
and a missing file means no entries. The file is opened only for the
write; with DurabilityFsync the entry is fdatasynced (and a new file's
directory entry fsynced) before AppendAbortedTxn returns, so it is
durable before its marker can be acknowledged; with DurabilityPageCache
it is fsynced with the segment's other files at roll and at Close. The
entries are kept in memory; Log.AbortedTransactions(from, to) answers a
read_committed fetch with the entries whose lastOffset >= from and
firstOffset < to, from the segment holding from on. Open reads the file
of every segment and cuts it, with a warning, at the first bad entry (a
partial entry, another version, a marker outside the segment or out of
order): only a crash leaves one, as an entry is one pwrite. TruncateTo
drops the entries whose marker is cut and rewrites the file (deleting it
when empty); retention, truncation and TruncateFullyAndStartAt delete it
with its segment; a new segment deletes a stale one of its name.
Compaction keeps offsets, so the file stays in place under its name and
the cleaned copy inherits the entries (a segment that compaction empties
and removes loses its file: transactions and compaction are not combined
yet). Kafka rebuilds a missing .txnindex from the control batches and
the producer state; Samsa does not yet (transactions are not written
yet).

# Producer snapshots

<offset>.snapshot (offset in 20 digits, Kafka's naming) holds replication's
idempotent-producer state covering every batch below offset, so that Open
of the partition is followed by a scan of the batch headers from offset
only. Storage does not know the state's encoding; it frames it:

	version  int16   = 0
	crc      uint32  CRC-32C of the rest
	offset   int64   equal to the file's name
	length   int32   bytes of data
	data

A snapshot is written atomically (temporary file, fsync, rename, directory
fsync) by WriteProducerSnapshot, and, if a source is registered
(SetSnapshotSource), when a segment rolls (at the new segment's base
offset) and at a clean Close (at the log end, unless the newest snapshot
is already there). Only the newest two are kept. LatestProducerSnapshot
returns the newest one that reads back intact; a damaged one is deleted
with a warning and the older one tried, so a snapshot is never half
trusted. Snapshots above the log end (TruncateTo, recovery) and below the
log start (retention) are deleted, and TruncateFullyAndStartAt deletes
all of them.

# Checkpoints

leader-epoch-checkpoint is Kafka's checkpoint text format:

	0               version
	2               number of entries
	0 0             epoch startOffset
	3 1500

log-start-offset-checkpoint holds the log start offset, in the same text
format:

	0               version
	1500            log start offset

Kafka keeps one log-start-offset-checkpoint per data directory, listing
"topic partition offset" for every partition; ours is one file per
partition directory holding only the offset, so that a partition's
directory is self-contained and a partition never rewrites another's state.
It exists only once the start moved (retention, DeleteRecordsBefore);
without it the log starts at the first segment's base offset.

cleaner-offset-checkpoint has the same format; its offset is the base of
the first segment the last compaction pass did not map (below it the log
is compacted against itself). It is written only after a pass is swapped
in, lowered before TruncateTo cuts below it, and removed by
TruncateFullyAndStartAt, so it never claims data that was not compacted;
an unreadable one is ignored (the next pass starts at the log start).

partition.metadata is Kafka's:

	version: 0
	topic_id: <16-byte ID in base64url without padding>

All three are replaced atomically: written to <name>.tmp, fsynced, renamed over
the old file, and the directory fsynced. Open deletes a leftover .tmp. The
epoch checkpoint is written (durably) before the first batch of a new epoch,
so it never lacks an epoch present in the log; entries past the log end are
dropped when the log turns out shorter (recovery, TruncateTo), and entries
wholly below the log start offset when it moves up (Kafka's
truncateFromStart: the last epoch starting at or below the new start is kept
and moved to it).

# Retention and the log start offset

The log start offset only moves up (ApplyRetention for retention.ms and
retention.bytes, DeleteRecordsBefore for DeleteRecords), and is durable in
log-start-offset-checkpoint before any file below it is deleted: decide and
checkpoint under the append lock, publish the new start and take the
segments out of the segment list, prune the epoch cache, then close and
unlink the files after the append lock is released (details in
retention.go). A crash in between leaves files below the checkpointed start,
which Open deletes. Only whole sealed segments are deleted, oldest first,
never one holding an offset at or past the caller's bound (the high
watermark), and never the active segment: Kafka rolls an expired active
segment first; here it stays until an append rolls it. Reads below the log
start offset are ErrOffsetOutOfRange even while their segment still exists.
The one way down is TruncateTo cutting the batch that holds the log start
offset (after DeleteRecordsBefore inside a batch): the start follows the new
end, as in Kafka, and is checkpointed.

# Compaction

cleanup.policy=compact keeps the latest record of every key (cleaner.go,
after Kafka's log cleaner): a pass maps the keys of the dirty sealed
segments to their latest offsets, rewrites every sealed segment below the
mapped end without the superseded records (offsets never move: a rewritten
batch keeps its base offset and last offset delta), drops tombstones whose
delete horizon passed, and swaps each rewritten segment in by renaming
<base>.log.cleaned to <base>.log.swap (the commit) and then over
<base>.log. Recovery deletes *.cleaned files and completes every
.log.swap, so a crash at any point leaves each segment either old or new.
The active segment and everything at or above the high watermark are
never compacted.

# Durability

Append never waits for the disk. Sync(ctx, upTo) blocks until every offset
below upTo is on stable storage. A Log owns no goroutine: with
DurabilityFsync, Sync queues the log on a SyncScheduler shared by the
logs of the process (Config.SyncScheduler, DefaultSyncScheduler), whose
small pool of workers (started on demand, gone when idle) fdatasyncs the
log's active segment on behalf of all its waiting Sync calls at once
(group commit); DurableOffset then covers everything appended before that
fdatasync began. Calls arriving meanwhile share the next fdatasync, after
the other queued logs had their turn; different logs are synced
concurrently by different workers. SyncAsync asks for the same without
waiting (acks=0, followers), and the durable hook (SetDurableHook) tells
the caller, outside the log's locks, in order and never concurrently,
whenever DurableOffset advances: after such an fdatasync, after a roll,
and in page-cache mode after every append. A roll fsyncs the old
segment's log and indexes and then the directory, before the new segment
is published, in both durability modes. So at any instant every sealed
segment is durable, and after a crash only the active segment can be
incomplete. With DurabilityPageCache, Sync returns at once and
DurableOffset equals LogEndOffset: what that mode acknowledges as
"durable" is in the page cache, which survives a crash of the process but
not of the machine. FlushedOffset is the real fsync point in both modes
(equal to DurableOffset with DurabilityFsync). In page-cache mode data
reaches the disk at roll, at Close, by kernel writeback, or by the flush
policy (Kafka's flush.messages and flush.ms, Config.FlushMessages and
Config.FlushMs; by default never):

  - flush.messages: an append leaving at least FlushMessages offsets above
    FlushedOffset queues the log, and a worker fdatasyncs the active
    segment (as Kafka, messages are counted as offsets: records, not
    batches). The appender never waits for that fsync.
  - flush.ms: a worker arms the log's timer (a time.AfterFunc, which holds
    no goroutine while it waits) for when the oldest append not yet
    fsynced is FlushMs old; the timer queues the log, and a worker
    fdatasyncs then (0: after every append, in the background).

SetConfig changes the policy at once. An fsync failure fails the log, as
in fsync mode. With DurabilityFsync both settings are accepted and
ignored: every acknowledged offset is already fsynced before the ack.
Close waits for a pass running on the log, answers its waiters after
fsyncing the active segment, in both modes.

A failed write is cut back off the file; if that fails too, or any fsync
fails (after which the page cache cannot be trusted), the Log refuses all
further writes and syncs with ErrIO until it is reopened.

# Recovery

Open recovers the directory (details in recover.go):

  - the last segment is scanned fully (framing, magic, CRC-32C, increasing
    offsets); a bad region that reaches the end of the file is a torn tail
    and is truncated with a warning naming file, byte and offset; a bad
    batch followed anywhere by a valid batch is not a torn tail, and Open
    fails with an error wrapping ErrCorrupt naming file and byte;
  - sealed segments are trusted through a sanity check of their indexes and
    of the batch headers after the last index entry; a sealed segment whose
    indexes are missing or inconsistent is scanned fully and its indexes
    rebuilt, and any bad batch in it is ErrCorrupt (a sealed segment was
    fsynced, so damage there is not a crash artefact);
  - segments wholly below the checkpointed log start offset are deleted
    unread; the start is raised to the first segment's base offset and
    capped at the log end offset (then the file is rewritten). An
    unreadable log-start-offset-checkpoint is logged and ignored, since it
    can only hide data;
  - overlapping segments and an unreadable leader-epoch-checkpoint or
    partition.metadata are ErrCorrupt;
  - the last segment is fdatasynced, so DurableOffset starts at
    LogEndOffset;
  - after a clean shutdown (below) the last two steps for the last
    segment are skipped: it is loaded through its indexes like a sealed
    one;
  - before any of this, an interrupted compaction swap is finished:
    *.cleaned files are deleted, each <base>.log.swap is completed, and
    the segments touched get their indexes rebuilt.

# Clean shutdown

A Close that leaves everything durable (the log not failed, the active
segment's .log fdatasynced and its open index files fsynced, dirty ones
rewritten first) writes clean-shutdown, atomically like the checkpoints:

	0               version
	1234 5678 1300  active segment base offset, its .log size, log end offset

Kafka writes one .kafka_cleanshutdown per data directory; ours is per
partition directory, like log-start-offset-checkpoint, so a partition is
self-contained. Open trusts it only if the last segment has that base
offset and exactly that size, both its index files exist and pass the
sealed-segment checks (an active segment's time index may be empty), and
the batch headers from the last index entry chain to the recorded log end
offset. Then the last segment is not scanned or CRC-checked, its epochs
are the checkpoint's (written before any batch of each epoch), and it is
not fdatasynced: an idle partition opens with no flush at all. Anything
else, or no marker, is the full recovery above.

Open unlinks the marker at once, and makes the unlink durable (fsync of
the directory) before the first change to the active segment: append,
roll, TruncateTo, TruncateFullyAndStartAt, or a recovery that changes the
files. Until then the files are exactly what the marker describes, so a
marker brought back by a crash is still true; after it, a crash finds no
marker and recovers fully.

Never is acknowledged data dropped silently: what Sync reported durable
survives a crash, and anything else recovery cannot explain stops the
broker for an operator to look at.

# Concurrency

A Log is safe for concurrent use. Writers (Append, AppendAsFollower,
TruncateTo, TruncateFullyAndStartAt, AssignLeaderEpoch, ApplyRetention,
DeleteRecordsBefore, the swap of a compaction pass, SetConfig, Close) are
serialised by an internal append lock; replication normally serialises appends per partition anyway. Readers
(Read, OffsetForTimestamp, MaxTimestamp, ScanBatchHeaders, and the
accessors such as Size and NumSegments) run beside appends: an append writes its bytes first and then
publishes the new size and log end offset atomically, so readers see only
whole batches and never wait for an append or an fsync. Read returns file
regions that stay valid until the log is truncated or closed or their
segment is deleted; see ReadResult. Segment deletion holds the append lock
only for its two small checkpoint writes; readers wait only for the moment
the segment list changes, and the files are closed (under syncMu, so a
sync worker never fsyncs a closed file; a reader still using one keeps it
open through the FileCache until it is done) and unlinked with no lock
that appends or reads take.

Compact reads and rewrites sealed segments without that lock, through
file handles of its own, and takes it only for the renames of the swap;
one pass runs at a time (cleanMu), and Close interrupts it.

Lock order: Log.cleanMu, then Log.appendMu, then Log.syncMu (held around
each fsync of a sync worker and by whoever closes or shrinks files), then
Log.mu (the segment list; readers hold it shared), then segment.mu
(in-memory indexes), then FileCache.mu. The log's scheduling lock
(logSync.mu, its Sync waiters) comes after appendMu and before
SyncScheduler.mu, and is never held with syncMu or mu; the epoch cache's
lock is a leaf. The durable hook runs with none of them held. An append
takes only appendMu (and Log.mu briefly to publish a new segment), so it
never waits for an fsync.

# Errors

Errors wrap the sentinels in errors.go (ErrCorruptBatch, ErrOffsetOutOfRange,
ErrCorrupt, ...), and each sentinel wraps the kerr error the protocol layer
answers with.
*/
package storage
