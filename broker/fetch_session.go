package broker

import (
	"container/list"
	"crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Incremental fetch sessions (KIP-227). A consumer opens a session with a
// full fetch (epoch 0); later fetches (epoch n > 0) list only the partitions
// whose fetch position changed and the ones to forget, and the broker answers
// only the partitions with news: records, a moved high watermark or log
// start offset, or an error.

// maxFetchSessions bounds the session cache; the least recently used session
// is evicted, and its consumer falls back to a full fetch after
// FETCH_SESSION_ID_NOT_FOUND.
const maxFetchSessions = 1000

// sessionPartition is one partition's cached fetch position and what was
// last reported for it.
type sessionPartition struct {
	topic       string
	topicID     [16]byte
	partition   int32
	fetchOffset int64
	maxBytes    int32
	leaderEpoch int32
	// lastFetchedEpoch is a follower's LastFetchedEpoch (v12+; -1 for
	// consumers and older versions).
	lastFetchedEpoch int32
	// logStartOffset is the fetcher's own log start (v5+; -1 for
	// consumers), which a follower reports for the low watermark.
	logStartOffset int64

	lastHW, lastLSO, lastLogStart int64
	lastError                     int16
}

// sessionKey names a session partition by topic name (v12 and older) or
// by topic id alone (v13+: the name is looked up again at every request,
// so a partition first fetched before this broker knew its topic id
// starts working once the metadata arrives, and a ForgottenTopics entry
// finds it whatever its name was then).
type sessionKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

// keyOf is a partition's session key: by topic id when there is one.
func keyOf(topic string, topicID [16]byte, partition int32) sessionKey {
	if topicID != ([16]byte{}) {
		return sessionKey{topicID: topicID, partition: partition}
	}
	return sessionKey{topic: topic, partition: partition}
}

type fetchSession struct {
	// mu is held by the one fetch that is using the session; get has
	// already advanced epoch, so a concurrent request with the same epoch
	// is refused rather than queued.
	mu    sync.Mutex
	id    int32
	epoch int32 // the epoch the next request must carry
	order []sessionKey
	parts map[sessionKey]*sessionPartition
	elem  *list.Element
}

type fetchSessions struct {
	mu       sync.Mutex
	sessions map[int32]*fetchSession
	lru      *list.List // front = most recently used
}

func newFetchSessions() *fetchSessions {
	return &fetchSessions{sessions: make(map[int32]*fetchSession), lru: list.New()}
}

// open creates a session for a full fetch and returns it.
func (s *fetchSessions) open() *fetchSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.sessions) >= maxFetchSessions {
		oldest := s.lru.Back().Value.(*fetchSession)
		s.removeLocked(oldest.id)
	}
	fs := &fetchSession{id: s.newIDLocked(), epoch: 1, parts: make(map[sessionKey]*sessionPartition)}
	fs.elem = s.lru.PushFront(fs)
	s.sessions[fs.id] = fs
	return fs
}

func (s *fetchSessions) newIDLocked() int32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		id := int32(binary.BigEndian.Uint32(b[:]) & 0x7fffffff)
		if _, taken := s.sessions[id]; id != 0 && !taken {
			return id
		}
	}
}

// get returns the session for an incremental fetch, checking its epoch.
func (s *fetchSessions) get(id, epoch int32) (*fetchSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs, ok := s.sessions[id]
	if !ok {
		return nil, kerr.FetchSessionIDNotFound
	}
	if fs.epoch != epoch {
		return nil, kerr.InvalidFetchSessionEpoch
	}
	fs.epoch = nextSessionEpoch(epoch)
	s.lru.MoveToFront(fs.elem)
	return fs, nil
}

func (s *fetchSessions) remove(id int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(id)
}

func (s *fetchSessions) removeLocked(id int32) {
	if fs, ok := s.sessions[id]; ok {
		s.lru.Remove(fs.elem)
		delete(s.sessions, id)
	}
}

// nextSessionEpoch wraps from MaxInt32 to 1: 0 and -1 are reserved.
func nextSessionEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// upsert adds or updates a partition's fetch position.
func (fs *fetchSession) upsert(sp sessionPartition) {
	k := keyOf(sp.topic, sp.topicID, sp.partition)
	if cur, ok := fs.parts[k]; ok {
		cur.fetchOffset, cur.maxBytes, cur.leaderEpoch = sp.fetchOffset, sp.maxBytes, sp.leaderEpoch
		cur.lastFetchedEpoch, cur.logStartOffset = sp.lastFetchedEpoch, sp.logStartOffset
		return
	}
	sp.lastHW, sp.lastLSO, sp.lastLogStart = -1, -1, -1
	fs.parts[k] = &sp
	fs.order = append(fs.order, k)
}

func (fs *fetchSession) forget(k sessionKey) {
	if _, ok := fs.parts[k]; !ok {
		return
	}
	delete(fs.parts, k)
	for i, o := range fs.order {
		if o == k {
			fs.order = append(fs.order[:i], fs.order[i+1:]...)
			break
		}
	}
}

// changed reports whether an incremental response must include the
// partition, and remembers what it reports.
func (sp *sessionPartition) changed(out *kmsg.FetchResponseTopicPartition, hasRecords bool) bool {
	news := hasRecords || out.ErrorCode != 0 || out.ErrorCode != sp.lastError ||
		out.HighWatermark != sp.lastHW || out.LastStableOffset != sp.lastLSO || out.LogStartOffset != sp.lastLogStart
	sp.lastHW, sp.lastLSO, sp.lastLogStart, sp.lastError = out.HighWatermark, out.LastStableOffset, out.LogStartOffset, out.ErrorCode
	return news
}
