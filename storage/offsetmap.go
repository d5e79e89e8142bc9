package storage

// offsetMap is the key -> latest offset map of one compaction pass (Kafka's
// SkimpyOffsetMap, the "dedupe buffer"). Kafka stores 16-byte MD5 hashes of
// the keys in a fixed buffer and accepts the tiny chance that two keys
// collide, which would drop a record that was not superseded. This map
// stores the keys themselves, so it is exact; its memory is bounded instead
// by a byte budget that counts each distinct key's bytes plus
// offsetMapEntryOverhead (log.cleaner.dedupe.buffer.size plays the same
// role in Kafka). The budget is checked between segments: a pass maps whole
// segments and stops before the first one that starts over budget, except
// that the first dirty segment is always mapped, so every pass makes
// progress (one segment's distinct keys may exceed the budget).
type offsetMap struct {
	idx   map[string]int32 // key -> index into offs
	offs  []int64
	bytes int64
}

// offsetMapEntryOverhead approximates the memory of one entry besides its
// key bytes: the map slot, the string header and the offset.
const offsetMapEntryOverhead = 64

func newOffsetMap() *offsetMap { return &offsetMap{idx: make(map[string]int32)} }

// put records that key was written at offset; offsets must come in
// increasing order.
func (m *offsetMap) put(key []byte, offset int64) {
	if i, ok := m.idx[string(key)]; ok { // no allocation for a known key
		m.offs[i] = offset
		return
	}
	m.idx[string(key)] = int32(len(m.offs))
	m.offs = append(m.offs, offset)
	m.bytes += int64(len(key)) + offsetMapEntryOverhead
}

// supersedes reports whether key was written again after offset.
func (m *offsetMap) supersedes(key []byte, offset int64) bool {
	i, ok := m.idx[string(key)]
	return ok && m.offs[i] > offset
}

// size is the number of distinct keys.
func (m *offsetMap) size() int { return len(m.offs) }
