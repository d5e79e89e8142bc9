package metadata

// shardCount is the number of shards of a cowMap. A change copies the
// shard array (shardCount pointers) and the shards it touches, so a change
// to one topic of n costs O(shardCount + n/shardCount), not O(n).
const shardCount = 256

// cowMap is a copy-on-write hash map split into shards. A cowMap value held
// by an Image is never modified; a cowWriter makes a modified copy that
// shares every untouched shard with the original.
type cowMap[K comparable, V any] struct {
	shards *[shardCount]map[K]V // nil when empty
	n      int
}

func (m cowMap[K, V]) len() int { return m.n }

func (m cowMap[K, V]) get(k K, shard uint8) (V, bool) {
	if m.shards == nil {
		var zero V
		return zero, false
	}
	v, ok := m.shards[shard][k]
	return v, ok
}

// each calls fn for every entry, in no particular order.
func (m cowMap[K, V]) each(fn func(K, V)) {
	if m.shards == nil {
		return
	}
	for _, s := range m.shards {
		for k, v := range s {
			fn(k, v)
		}
	}
}

// cowWriter builds a new cowMap from a base one, copying the shard array
// once and each shard at most once.
type cowWriter[K comparable, V any] struct {
	m         cowMap[K, V]
	ownsArray bool
	owned     [shardCount]bool
}

func newCowWriter[K comparable, V any](base cowMap[K, V]) *cowWriter[K, V] {
	return &cowWriter[K, V]{m: base}
}

func (w *cowWriter[K, V]) shardForWrite(shard uint8) map[K]V {
	if !w.ownsArray {
		arr := new([shardCount]map[K]V)
		if w.m.shards != nil {
			*arr = *w.m.shards
		}
		w.m.shards = arr
		w.ownsArray = true
	}
	if !w.owned[shard] {
		old := w.m.shards[shard]
		s := make(map[K]V, len(old)+1)
		for k, v := range old {
			s[k] = v
		}
		w.m.shards[shard] = s
		w.owned[shard] = true
	}
	return w.m.shards[shard]
}

func (w *cowWriter[K, V]) get(k K, shard uint8) (V, bool) { return w.m.get(k, shard) }

func (w *cowWriter[K, V]) set(k K, shard uint8, v V) {
	s := w.shardForWrite(shard)
	if _, ok := s[k]; !ok {
		w.m.n++
	}
	s[k] = v
}

func (w *cowWriter[K, V]) delete(k K, shard uint8) {
	if _, ok := w.m.get(k, shard); !ok {
		return
	}
	delete(w.shardForWrite(shard), k)
	w.m.n--
}

// result returns the built map. The writer must not be used afterwards.
func (w *cowWriter[K, V]) result() cowMap[K, V] { return w.m }

// idShard spreads topic ids over shards (FNV-1a folded to a byte).
func idShard(id [16]byte) uint8 {
	h := uint32(2166136261)
	for _, b := range id {
		h ^= uint32(b)
		h *= 16777619
	}
	return uint8(h ^ h>>8 ^ h>>16 ^ h>>24)
}

// nameShard spreads topic names over shards (FNV-1a folded to a byte).
func nameShard(name string) uint8 {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return uint8(h ^ h>>8 ^ h>>16 ^ h>>24)
}
