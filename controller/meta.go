package controller

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// metaFile is the name, in DataDir, of the file that ties a data directory
// to one cluster and one node, like Kafka's meta.properties.
const metaFile = "meta.properties"

const metaVersion = 1

// dirMeta is the content of meta.properties.
type dirMeta struct {
	ClusterID string
	NodeID    int32
	// DirectoryID identifies this incarnation of the data directory, as
	// Kafka's directory.id (KIP-858, KIP-853) does: a wiped or replaced
	// directory gets a new one, so the other voters can tell that the
	// node lost its Raft log (see raft_transport.go).
	DirectoryID dirID
}

// dirID is a data directory's id; zero means unknown.
type dirID [16]byte

func (d dirID) String() string { return base64.RawURLEncoding.EncodeToString(d[:]) }

func (d dirID) isZero() bool { return d == dirID{} }

func newDirID() (dirID, error) {
	var d dirID
	for d.isZero() {
		if _, err := rand.Read(d[:]); err != nil {
			return d, fmt.Errorf("generate directory id: %w", err)
		}
	}
	return d, nil
}

// raftState says what DataDir/raft holds.
type raftState int

const (
	raftAbsent  raftState = iota // no raft.db at all
	raftEmpty                    // raft.db without Raft state (never bootstrapped or joined)
	raftPresent                  // a Raft log, configuration or snapshot
)

// loadOrCreateMeta reads DataDir/meta.properties, or writes it on a fresh
// directory, and checks it against the configuration. A directory with
// Raft state but no meta.properties is refused rather than guessed at;
// one whose meta.properties survived but whose raft.db did not lost its
// log (ErrLogLost), unless this node joins a quorum as a new member or is
// an observer: it then gets a new directory id.
func loadOrCreateMeta(cfg Config, state raftState) (dirMeta, error) {
	path := filepath.Join(cfg.DataDir, metaFile)
	m, err := readMeta(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if state == raftPresent {
			return dirMeta{}, fmt.Errorf("%w: %s holds Raft state but no %s", ErrDataDirMismatch, cfg.DataDir, metaFile)
		}
		m = dirMeta{ClusterID: cfg.ClusterID, NodeID: cfg.NodeID}
		if m.ClusterID == "" {
			if m.ClusterID, err = newClusterID(); err != nil {
				return dirMeta{}, err
			}
		}
		if m.DirectoryID, err = newDirID(); err != nil {
			return dirMeta{}, err
		}
		return m, writeMeta(path, m)
	case err != nil:
		return dirMeta{}, err
	}
	if cfg.ClusterID != "" && cfg.ClusterID != m.ClusterID {
		return dirMeta{}, fmt.Errorf("%w: %s belongs to cluster %q, the configuration names cluster %q",
			ErrClusterIDMismatch, cfg.DataDir, m.ClusterID, cfg.ClusterID)
	}
	if m.NodeID != cfg.NodeID {
		return dirMeta{}, fmt.Errorf("%w: %s belongs to node %d, this is node %d", ErrDataDirMismatch, cfg.DataDir, m.NodeID, cfg.NodeID)
	}
	renew := m.DirectoryID.isZero() // written by a release without directory ids
	if state == raftAbsent && !cfg.singleVoter() {
		// An observer never voted: a lost log is harmless, the leader
		// sends it again.
		if !cfg.Join && !cfg.Observer {
			return dirMeta{}, fmt.Errorf("%w: %s exists but %s does not: this node's Raft log was deleted, so it must not rejoin the quorum as the voter it was (it may have voted or acknowledged entries it no longer has). "+
				"Remove it from the quorum (samsa cluster remove-controller --id %d), then start it with controller.quorum.join=true and add it back (samsa cluster add-controller --id %d --address <raft address>)",
				ErrLogLost, path, filepath.Join(cfg.DataDir, "raft", "raft.db"), cfg.NodeID, cfg.NodeID)
		}
		renew = true // a new member (or observer): a new incarnation of the directory
	}
	if renew {
		if m.DirectoryID, err = newDirID(); err != nil {
			return dirMeta{}, err
		}
		if err := writeMeta(path, m); err != nil {
			return dirMeta{}, err
		}
	}
	return m, nil
}

func readMeta(path string) (dirMeta, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return dirMeta{}, err
	}
	props := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return dirMeta{}, fmt.Errorf("%w: %s: malformed line %q", ErrDataDirMismatch, path, line)
		}
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if v := props["version"]; v != strconv.Itoa(metaVersion) {
		return dirMeta{}, fmt.Errorf("%w: %s: unsupported version %q", ErrDataDirMismatch, path, v)
	}
	id, err := strconv.ParseInt(props["node.id"], 10, 32)
	if err != nil || props["cluster.id"] == "" {
		return dirMeta{}, fmt.Errorf("%w: %s: missing or bad node.id or cluster.id", ErrDataDirMismatch, path)
	}
	m := dirMeta{ClusterID: props["cluster.id"], NodeID: int32(id)}
	if v := props["directory.id"]; v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) != len(m.DirectoryID) {
			return dirMeta{}, fmt.Errorf("%w: %s: bad directory.id %q", ErrDataDirMismatch, path, v)
		}
		m.DirectoryID = dirID(b)
	}
	return m, nil
}

// writeMeta writes the file atomically: a synced temporary file renamed
// over the target, then the directory synced.
func writeMeta(path string, m dirMeta) error {
	content := fmt.Sprintf("# Written by samsa on first start. Do not edit.\nversion=%d\nnode.id=%d\ncluster.id=%s\ndirectory.id=%s\n",
		metaVersion, m.NodeID, m.ClusterID, m.DirectoryID)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.WriteString(content); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// newClusterID returns 16 random bytes in unpadded base64url, as Kafka's
// Uuid.randomUuid().toString() does (and, like it, never starting with '-'
// so that the id cannot be mistaken for a command-line flag).
func newClusterID() (string, error) {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("generate cluster id: %w", err)
		}
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id, nil
		}
	}
}
