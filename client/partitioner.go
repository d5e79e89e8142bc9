package client

import "github.com/twmb/franz-go/pkg/kgo"

// Key partitioning.
//
// A record with a key and Partition set to AnyPartition goes to
// murmur2(key) & 0x7fffffff % partitions, with Kafka's murmur2 (seed
// 0x9747b28c): the partition the Java client's default partitioner and
// librdkafka's murmur2 / murmur2_random partitioners choose, so Go, Java
// and C producers agree on where a key lives. An empty key is a key (it is
// hashed); only a nil key is a null key. Records without a key are spread
// by franz-go's uniform-bytes partitioner (KIP-794: sticky per batch,
// switching after 64 KiB, favouring less backed-up partitions).
//
// The hash is franz-go's own (kgo.StickyKeyPartitioner(nil), which is
// kgo.KafkaHasher over murmur2); the SDK does not carry a copy.

// stickyBatchBytes is how many bytes of unkeyed records go to one partition
// before the producer switches to another.
const stickyBatchBytes = 64 << 10

// defaultPartitioner is the SDK producer's partitioner: Java-compatible
// murmur2 for keyed records, uniform sticky batches for the others, and
// the record's own partition when it names one.
func defaultPartitioner() kgo.Partitioner {
	// A nil hasher is kgo.KafkaHasher(murmur2), Kafka's default.
	return choosingPartitioner{base: kgo.UniformBytesPartitioner(stickyBatchBytes, true, true, nil)}
}

// keyHasher partitions keyed records exactly as defaultPartitioner does.
// For a non-nil key it only hashes, so it keeps no state and is safe for
// concurrent use.
var keyHasher = kgo.StickyKeyPartitioner(nil).ForTopic("")

// PartitionForKey returns the partition, out of numPartitions, that the
// producer chooses for a record with this key and AnyPartition: the same
// partition as the Java client and librdkafka's murmur2 partitioner. It
// returns AnyPartition for a nil key (null keys are not hashed) or a
// non-positive numPartitions.
func PartitionForKey(key []byte, numPartitions int32) int32 {
	if key == nil || numPartitions <= 0 {
		return AnyPartition
	}
	return int32(keyHasher.Partition(&kgo.Record{Key: key}, int(numPartitions)))
}
