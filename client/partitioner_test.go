package client

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// refMurmur2 is Kafka's murmur2 (Utils.murmur2 in the Java client), written
// here from the algorithm — MurmurHash2, 32-bit, seed 0x9747b28c, key read
// as little-endian 4-byte words, tail bytes folded in, then the final
// avalanche — as an independent check on franz-go's copy.
func refMurmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
	)
	h := uint32(seed) ^ uint32(len(data))
	i := 0
	for ; i+4 <= len(data); i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> 24
		k *= m
		h = h*m ^ k
	}
	rest := data[i:]
	if len(rest) >= 3 {
		h ^= uint32(rest[2]) << 16
	}
	if len(rest) >= 2 {
		h ^= uint32(rest[1]) << 8
	}
	if len(rest) >= 1 {
		h ^= uint32(rest[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h) // Java's int
}

// refPartition is the Java client's keyed choice:
// toPositive(murmur2(key)) % numPartitions, toPositive masking the sign bit.
func refPartition(key []byte, n int32) int32 {
	return (refMurmur2(key) & 0x7fffffff) % n
}

// The reference hash must itself match Java: these are the values of
// Kafka's UtilsTest.testMurmur2.
func TestRefMurmur2MatchesJava(t *testing.T) {
	for key, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := refMurmur2([]byte(key)); got != want {
			t.Errorf("murmur2(%q) = %d, Java says %d", key, got, want)
		}
	}
}

// partitionKeys is the table of keys the cross-checks use: short and long
// keys, every tail length, bytes with the high bit set, an empty key.
func partitionKeys() [][]byte {
	keys := [][]byte{
		{}, {0}, {0xff}, {0x80, 0x81}, {0xde, 0xad, 0xbe}, {0xff, 0xff, 0xff, 0xff},
		[]byte("a"), []byte("ab"), []byte("abc"), []byte("abcd"), []byte("abcde"),
		[]byte("21"), []byte("foobar"), []byte("user-42"), []byte("order:2026-11-21:0001"),
		[]byte("ключ"), []byte("日本語のキー"),
		[]byte("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
	}
	for i := range 40 {
		keys = append(keys, fmt.Appendf(nil, "key-%d", i))
	}
	return keys
}

// For every key and 12 partitions, the SDK producer's default partitioner
// (as kgo calls it for a keyed record), PartitionForKey and the reference
// all pick the same partition.
func TestDefaultPartitionerIsJavaMurmur2(t *testing.T) {
	const n = 12
	tp := defaultPartitioner().ForTopic("t")
	bp, ok := tp.(kgo.TopicBackupPartitioner)
	if !ok {
		t.Fatal("the default partitioner is no longer a backup partitioner; adapt this test")
	}
	seen := map[int32]bool{}
	for _, key := range partitionKeys() {
		r := &kgo.Record{Key: key, Partition: AnyPartition}
		if !tp.RequiresConsistency(r) {
			t.Fatalf("key %x: keyed records must require consistency (all partitions offered)", key)
		}
		want := refPartition(key, n)
		seen[want] = true
		if got := int32(bp.PartitionByBackup(r, n, nil)); got != want {
			t.Errorf("key %q: producer picks %d, Java murmur2 %d", key, got, want)
		}
		if got := PartitionForKey(key, n); got != want {
			t.Errorf("key %q: PartitionForKey %d, Java murmur2 %d", key, got, want)
		}
	}
	if len(seen) < n/2 {
		t.Errorf("the table reaches only %d of %d partitions; widen it", len(seen), n)
	}
	if PartitionForKey(nil, n) != AnyPartition || PartitionForKey([]byte("x"), 0) != AnyPartition {
		t.Error("nil key or no partitions should give AnyPartition")
	}
}
