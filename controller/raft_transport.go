package controller

// The Raft transport's stream layer: TCP, with a handshake on every
// connection so that voters of different clusters, or a node configured
// with the wrong id, never exchange a single Raft RPC (KRaft checks the
// cluster id on every request for the same reason). hashicorp/raft has no
// notion of a cluster id, so the check lives below it.
//
// Handshake, sent by the dialer before any Raft bytes:
//
//	magic "SMRF" | version 2 | cluster id length (1 byte) | cluster id |
//	dialer's node id (int32) | node id the dialer expects here (int32, -1: any) |
//	dialer's process nonce (8 bytes) | flags (1 byte; 1: probe) |
//	dialer's directory id (16 bytes) | directory id the dialer expects here (16 bytes, zero: any)
//
// and answered by the acceptor with a status byte (0 accepted, otherwise the
// reason below) and a message (length byte, bytes), followed, when
// accepted, by the acceptor's directory id (16 bytes). A refused connection
// is closed by both sides; the dialer's error and the acceptor's log name
// the cause. Version 1 hellos (no flags, no directory ids) are still
// accepted and answered without the directory id, so that a node of the
// previous release can reach this one during an upgrade.
//
// Directory ids (see membership.go) let a node tell that a peer lost its
// data directory: each side records the other's on first contact (unless
// the dialer only probes, before it bootstraps), and refuses a peer that
// comes back with another one, or that expects another one here. A Raft
// non-voter (an observer, or a voter being added) is the exception: it
// never voted, so a lost log is harmless (the leader sends the log
// again); the leader dials it without an expected directory id and
// records the one it presents, whatever it had recorded before. An
// observer, for its part, checks no directory ids at all.

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

const (
	handshakeMagic   = "SMRF"
	handshakeVersion = 2
	// handshakeTimeout bounds the acceptor's wait for a dialer's hello.
	handshakeTimeout = 10 * time.Second
)

// Handshake answers.
const (
	handshakeOK byte = iota
	handshakeClusterMismatch
	handshakeNodeMismatch
	handshakeDuplicateID
	handshakeSelf
	handshakeBad
	handshakeDirChanged
)

// Hello flags.
const helloProbe byte = 1

// PeerRefusedError is returned by a dial that the peer refused: it belongs
// to another cluster, or it is not the node the voter list names at that
// address.
type PeerRefusedError struct {
	Addr   string
	reason byte
	Msg    string
}

func (e *PeerRefusedError) Error() string {
	return fmt.Sprintf("raft peer %s refused this node: %s", e.Addr, e.Msg)
}

// streamLayer is a raft.StreamLayer over TCP with the cluster handshake.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	clusterID string
	nodeID    int32
	// nonce identifies this process, so that a node that dials itself (it
	// binds another voter's address) notices.
	nonce [8]byte
	// dir is this node's directory id; book records the peers' (nil in
	// tests of the handshake alone).
	dir  dirID
	book *dirBook
	// observer is set on a Raft non-voter (Config.Observer): it accepts
	// any directory id (checkDirs).
	observer bool

	mu sync.Mutex
	// peerIDs maps a voter's Raft address to its id, so that the dialer can
	// say whom it expects; it follows the Raft configuration.
	peerIDs map[string]int32
	// nonvoters are the ids the Raft configuration lists as non-voters.
	nonvoters map[int32]bool
	refused   map[string]*PeerRefusedError // by address; cleared by a good dial
	// lost is set when a peer expected another directory id here: this
	// node's data directory was replaced.
	lost *PeerRefusedError
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// newStreamLayer listens on bindAddr, or uses ln when it is given. advertise is the address peers know
// this node by, exactly as the voter list spells it (a host name stays a
// host name); empty means the bound address, which must then not be an
// unspecified IP.
func newStreamLayer(ln net.Listener, bindAddr, advertise, clusterID string, nodeID int32, voters []Voter) (*streamLayer, error) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", bindAddr); err != nil {
			return nil, err
		}
	}
	s := &streamLayer{ln: ln, clusterID: clusterID, nodeID: nodeID,
		peerIDs: map[string]int32{}, refused: map[string]*PeerRefusedError{}}
	if _, err := rand.Read(s.nonce[:]); err != nil {
		ln.Close()
		return nil, err
	}
	for _, v := range voters {
		s.peerIDs[v.Addr] = v.ID
	}
	if advertise != "" {
		s.advertise = advertisedAddr(advertise)
	} else if addr, ok := ln.Addr().(*net.TCPAddr); !ok || addr.IP == nil || addr.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft transport address %v cannot be advertised to peers: set an advertise address", ln.Addr())
	}
	return s, nil
}

// advertisedAddr is a TCP address kept as written.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// Accept returns the next connection; its handshake runs on its first read,
// on the goroutine Raft gives the connection, so a slow dialer never holds
// up the accept loop.
func (s *streamLayer) Accept() (net.Conn, error) {
	conn, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &acceptedConn{Conn: conn, s: s}, nil
}

func (s *streamLayer) Close() error { return s.ln.Close() }

// Addr is the advertised address when one is set, else the bound one.
func (s *streamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.ln.Addr()
}

// Dial connects to a peer and performs the handshake within timeout.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	addr := string(address)
	s.mu.Lock()
	expect, ok := s.peerIDs[addr]
	s.mu.Unlock()
	if !ok {
		expect = -1
	}
	conn, err := s.dialHandshake(addr, expect, 0, timeout)
	var refused *PeerRefusedError
	if errors.As(err, &refused) {
		s.mu.Lock()
		s.refused[addr] = refused
		s.mu.Unlock()
	} else if err == nil {
		s.mu.Lock()
		delete(s.refused, addr)
		s.mu.Unlock()
	}
	return conn, err
}

// dialHandshake connects to addr, expecting node expect there, and
// performs the handshake within timeout.
func (s *streamLayer) dialHandshake(addr string, expect int32, flags byte, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	nonvoter := s.isNonvoter(expect)
	var expectDir dirID
	if !nonvoter {
		expectDir, _ = s.book.get(expect)
	}
	if _, err := conn.Write(s.hello(expect, flags, expectDir)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("raft handshake with %s: %w", addr, err)
	}
	status, msg, err := readAnswer(conn)
	var peerDir dirID
	if err == nil && status == handshakeOK {
		_, err = io.ReadFull(conn, peerDir[:])
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("raft handshake with %s: %w", addr, err)
	}
	if status != handshakeOK {
		conn.Close()
		return nil, &PeerRefusedError{Addr: addr, reason: status, Msg: msg}
	}
	if expect >= 0 && flags&helloProbe == 0 {
		record := s.book.learn
		if nonvoter {
			record = s.book.replace
		}
		if err := record(expect, peerDir); err != nil {
			conn.Close()
			return nil, fmt.Errorf("raft handshake with %s: record its directory id: %w", addr, err)
		}
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// probe performs a handshake with node id at addr that records nothing on
// either side, and closes the connection: a node about to bootstrap asks
// whether the peer knew it with another data directory.
func (s *streamLayer) probe(addr string, id int32, timeout time.Duration) error {
	conn, err := s.dialHandshake(addr, id, helloProbe, timeout)
	if err == nil {
		conn.Close()
	}
	return err
}

// setPeers replaces the map of peer addresses to ids.
func (s *streamLayer) setPeers(peers map[string]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peerIDs = peers
}

// setNonvoters replaces the set of non-voters' ids.
func (s *streamLayer) setNonvoters(ids map[int32]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonvoters = ids
}

// markNonvoter records that id is (about to be) a non-voter.
func (s *streamLayer) markNonvoter(id int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nonvoters == nil {
		s.nonvoters = map[int32]bool{}
	}
	s.nonvoters[id] = true
}

func (s *streamLayer) isNonvoter(id int32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return id >= 0 && s.nonvoters[id]
}

// setPeer maps one more address to its id.
func (s *streamLayer) setPeer(addr string, id int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peerIDs[addr] = id
}

// refusalOf returns the latest refusal by the peer at addr, if any.
func (s *streamLayer) refusalOf(addr string) *PeerRefusedError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused[addr]
}

// lostLog returns how a peer told this node that it lost its log, if one did.
func (s *streamLayer) lostLog() *PeerRefusedError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// duplicateID reports whether the refusal proves this node's id wrong:
// the node at the address the voter list gives for this node's own id has
// this id too (this node runs elsewhere with it), or this node dialled
// itself at another voter's address.
func (e *PeerRefusedError) duplicateID() bool {
	return e.reason == handshakeDuplicateID || e.reason == handshakeSelf
}

// lostLog reports whether the refusal says this node lost its data
// directory.
func (e *PeerRefusedError) lostLog() bool { return e.reason == handshakeDirChanged }

// refusals returns the latest refusal of each peer that refused this node
// and has not accepted it since.
func (s *streamLayer) refusals() []*PeerRefusedError {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*PeerRefusedError, 0, len(s.refused))
	for _, r := range s.refused {
		out = append(out, r)
	}
	return out
}

func (s *streamLayer) hello(expect int32, flags byte, expectDir dirID) []byte {
	b := make([]byte, 0, len(handshakeMagic)+2+len(s.clusterID)+16+1+32)
	b = append(b, handshakeMagic...)
	b = append(b, handshakeVersion, byte(len(s.clusterID)))
	b = append(b, s.clusterID...)
	b = binary.BigEndian.AppendUint32(b, uint32(s.nodeID))
	b = binary.BigEndian.AppendUint32(b, uint32(expect))
	b = append(b, s.nonce[:]...)
	b = append(b, flags)
	b = append(b, s.dir[:]...)
	return append(b, expectDir[:]...)
}

// hello is a dialer's handshake, decoded.
type hello struct {
	version   byte
	cluster   string
	from      int32
	expect    int32
	nonce     [8]byte
	flags     byte
	fromDir   dirID
	expectDir dirID
}

// readHello reads a dialer's hello; on failure it returns the answer to send.
func readHello(r io.Reader) (hello, byte, string) {
	var h hello
	head := make([]byte, len(handshakeMagic)+2)
	if _, err := io.ReadFull(r, head); err != nil {
		return h, handshakeBad, fmt.Sprintf("no handshake: %v", err)
	}
	h.version = head[4]
	if string(head[:4]) != handshakeMagic || (h.version != 1 && h.version != handshakeVersion) {
		return h, handshakeBad, "not a samsa raft handshake (another program, or an incompatible samsa version)"
	}
	n := int(head[5])
	size := n + 16
	if h.version >= 2 {
		size += 1 + 32
	}
	rest := make([]byte, size)
	if _, err := io.ReadFull(r, rest); err != nil {
		return h, handshakeBad, fmt.Sprintf("short handshake: %v", err)
	}
	h.cluster = string(rest[:n])
	h.from = int32(binary.BigEndian.Uint32(rest[n:]))
	h.expect = int32(binary.BigEndian.Uint32(rest[n+4:]))
	h.nonce = [8]byte(rest[n+8:])
	if h.version >= 2 {
		h.flags = rest[n+16]
		h.fromDir = dirID(rest[n+17:])
		h.expectDir = dirID(rest[n+33:])
	}
	return h, handshakeOK, ""
}

// check validates a dialer's hello; it returns the answer to send and the
// hello's version.
func (s *streamLayer) check(r io.Reader) (byte, string, byte) {
	h, status, msg := readHello(r)
	if status != handshakeOK {
		return status, msg, handshakeVersion
	}
	switch {
	case h.nonce == s.nonce:
		return handshakeSelf, fmt.Sprintf("node %d dialled itself: it binds the address the voter list gives for node %d (check node.id and controller.quorum.voters)",
			s.nodeID, h.expect), h.version
	case h.cluster != s.clusterID:
		return handshakeClusterMismatch, fmt.Sprintf("cluster id mismatch: node %d belongs to cluster %q, node %d to cluster %q (check cluster.id)",
			h.from, h.cluster, s.nodeID, s.clusterID), h.version
	case h.expect >= 0 && h.expect != s.nodeID:
		return handshakeNodeMismatch, fmt.Sprintf("node id mismatch: node %d expected node %d at this address, but this is node %d (check node.id and controller.quorum.voters)",
			h.from, h.expect, s.nodeID), h.version
	case h.from == s.nodeID:
		// The dialer expects this node's id here and claims it too: it
		// runs elsewhere with this node's id.
		return handshakeDuplicateID, fmt.Sprintf("duplicate node id: a node at another address claims to be node %d, which is this node (check node.id)", h.from), h.version
	}
	if h.version < 2 {
		return handshakeOK, "", h.version
	}
	status, msg = s.checkDirs(h)
	return status, msg, h.version
}

// checkDirs checks the directory ids of a hello and records the dialer's.
func (s *streamLayer) checkDirs(h hello) (byte, string) {
	if s.observer {
		// An observer has no vote to protect and takes the log from
		// whichever leader the voters elected; refusing one it knew with
		// another directory (a voter removed and added back while this
		// node was down) would only cut it off.
		return handshakeOK, ""
	}
	if !h.expectDir.isZero() && h.expectDir != s.dir {
		msg := fmt.Sprintf("node %d knew node %d with data directory %s, but it now has %s: node %d lost its raft log",
			h.from, s.nodeID, h.expectDir, s.dir, s.nodeID)
		s.mu.Lock()
		s.lost = &PeerRefusedError{Addr: fmt.Sprintf("node %d", h.from), reason: handshakeDirChanged, Msg: msg}
		s.mu.Unlock()
		return handshakeDirChanged, msg
	}
	if known, ok := s.book.get(h.from); ok && !h.fromDir.isZero() && known != h.fromDir {
		return handshakeDirChanged, fmt.Sprintf("node %d knew node %d with data directory %s, but it now has %s: node %d lost its raft log",
			s.nodeID, h.from, known, h.fromDir, h.from)
	}
	if h.flags&helloProbe == 0 {
		if err := s.book.learn(h.from, h.fromDir); err != nil {
			return handshakeBad, fmt.Sprintf("node %d cannot record the directory id of node %d: %v", s.nodeID, h.from, err)
		}
	}
	return handshakeOK, ""
}

func readAnswer(r io.Reader) (byte, string, error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, "", err
	}
	msg := make([]byte, head[1])
	if _, err := io.ReadFull(r, msg); err != nil {
		return 0, "", err
	}
	return head[0], string(msg), nil
}

func answer(status byte, msg string) []byte {
	if len(msg) > 255 {
		msg = msg[:255]
	}
	return append([]byte{status, byte(len(msg))}, msg...)
}

// selfCheckTimeout bounds how long a voter tries to reach itself at its
// own address in the voter list before it refuses to start (a variable so
// that a test need not wait that long).
var selfCheckTimeout = 5 * time.Second

// verifySelf dials addr, the address the voter list gives for this node,
// and checks that it reaches this very process (the acceptor recognises
// its own nonce). A node started with another voter's id, or on another
// voter's host, reaches another process or none, and must not take part
// in Raft at all: as a second voter with one id it could make two
// majorities disagree.
func (s *streamLayer) verifySelf(addr string, stop <-chan struct{}) error {
	deadline := time.Now().Add(selfCheckTimeout)
	var last error
	for {
		_, err := s.dialHandshake(addr, s.nodeID, helloProbe, time.Second)
		var refused *PeerRefusedError
		switch {
		case errors.As(err, &refused) && refused.reason == handshakeSelf:
			return nil
		case errors.As(err, &refused):
			return fmt.Errorf("%w: another process answers at %s, the address controller.quorum.voters gives for this node (%d): %s",
				ErrNodeIDMismatch, addr, s.nodeID, refused.Msg)
		case err == nil:
			return fmt.Errorf("%w: another process accepted this node's own handshake at %s", ErrNodeIDMismatch, addr)
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: this node cannot reach itself at %s, the address controller.quorum.voters gives for node %d (check node.id, raft.listener and controller.quorum.voters): %v",
				ErrNodeIDMismatch, addr, s.nodeID, last)
		}
		select {
		case <-stop:
			return ErrClosed
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// errRefused is returned by an accepted connection's first read when the
// dialer was refused; Raft logs it and drops the connection.
var errRefused = errors.New("raft handshake refused")

// acceptedConn performs the acceptor's half of the handshake on its first
// read. Raft reads an inbound connection from one goroutine, so the fields
// need no lock.
type acceptedConn struct {
	net.Conn
	s    *streamLayer
	done bool
}

func (c *acceptedConn) Read(p []byte) (int, error) {
	if !c.done {
		c.done = true
		c.Conn.SetDeadline(time.Now().Add(handshakeTimeout))
		status, msg, version := c.s.check(c.Conn)
		reply := answer(status, msg)
		if status == handshakeOK && version >= 2 {
			reply = append(reply, c.s.dir[:]...)
		}
		_, werr := c.Conn.Write(reply)
		c.Conn.SetDeadline(time.Time{})
		if status == handshakeSelf {
			// This node checking that it reaches itself (verifySelf), or
			// dialling itself at another voter's address: the dialer
			// reports it. io.EOF keeps Raft from logging an error here.
			c.Conn.Close()
			return 0, io.EOF
		}
		if status != handshakeOK {
			c.Conn.Close()
			return 0, fmt.Errorf("%w: connection from %s: %s", errRefused, c.RemoteAddr(), msg)
		}
		if werr != nil {
			c.Conn.Close()
			return 0, fmt.Errorf("raft handshake with %s: %w", c.RemoteAddr(), werr)
		}
	}
	return c.Conn.Read(p)
}
