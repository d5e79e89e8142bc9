package group

import "unicode/utf16"

// PartitionFor returns the __consumer_offsets partition that owns groupID
// among n partitions: abs(hashCode(groupID)) mod n, with Java's
// String.hashCode over the UTF-16 code units and Kafka's Utils.abs (which
// maps MinInt32 to 0), so that Samsa and every Kafka tool agree on where a
// group lives. Invalid UTF-8 counts as U+FFFD per bad byte, as Java's
// decoder replaces malformed input.
func PartitionFor(groupID string, n int32) int32 {
	if n <= 0 {
		return 0
	}
	var h int32
	for _, r := range groupID {
		if r1, r2 := utf16.EncodeRune(r); r1 != '\uFFFD' {
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}
