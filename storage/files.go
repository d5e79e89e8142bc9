package storage

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File names inside a partition directory.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	tmpSuffix       = ".tmp"
	cleanedSuffix   = ".cleaned" // a compacted copy being written (cleaner.go)
	swapSuffix      = ".swap"    // a compacted copy committed, being swapped in

	epochCheckpointFile    = "leader-epoch-checkpoint"
	logStartCheckpointFile = "log-start-offset-checkpoint"
	partitionMetadataFile  = "partition.metadata"
	cleanerCheckpointFile  = "cleaner-offset-checkpoint"

	baseOffsetDigits = 20
)

// PartitionDirName is the directory name of a partition: "<topic>-<partition>".
func PartitionDirName(topic string, partition int32) string {
	return topic + "-" + strconv.FormatInt(int64(partition), 10)
}

// ParsePartitionDir splits a directory name made by PartitionDirName. It
// rejects names Kafka gives to directories being deleted or moved
// ("<topic>-<n>.<id>-delete", "-future", "-stray"), illegal topic names,
// negative or non-canonical partition numbers.
func ParsePartitionDir(name string) (topic string, partition int32, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return "", 0, false
	}
	topic, num := name[:i], name[i+1:]
	if !validTopicName(topic) || (len(num) > 1 && num[0] == '0') {
		return "", 0, false
	}
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return "", 0, false
		}
	}
	p, err := strconv.ParseInt(num, 10, 32)
	if err != nil {
		return "", 0, false
	}
	return topic, int32(p), true
}

// validTopicName applies Kafka's topic name rule: 1-249 characters of
// [a-zA-Z0-9._-], and not "." or "..".
func validTopicName(t string) bool {
	if len(t) == 0 || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, c := range []byte(t) {
		ok := c == '.' || c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// segmentFileName is the name of a segment file: base offset as 20 digits.
func segmentFileName(base int64, suffix string) string {
	return fmt.Sprintf("%0*d%s", baseOffsetDigits, base, suffix)
}

// parseSegmentFileName returns the base offset of "<20 digits><suffix>".
func parseSegmentFileName(name, suffix string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != baseOffsetDigits {
		return 0, false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%w: open dir %s: %v", ErrIO, dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w: fsync dir %s: %v", ErrIO, dir, err)
	}
	return nil
}

// writeFileAtomic replaces dir/name with data: write name.tmp, fsync it,
// rename it over name, fsync dir. A crash leaves the old or the new file,
// never a mix; Open removes a leftover .tmp.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+tmpSuffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%w: create %s: %v", ErrIO, tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("%w: write %s: %v", ErrIO, filepath.Join(dir, name), err)
	}
	return syncDir(dir)
}

// readSmallFile reads a checkpoint file; a missing file is (nil, false, nil).
func readSmallFile(path string) ([]byte, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: read %s: %v", ErrIO, path, err)
	}
	return b, true, nil
}

// removeSegmentFiles deletes the files of the segment at base, the .log
// first so that a crash never leaves indexes behind a missing log for long
// (Open deletes orphaned index files). Missing files are not an error.
func removeSegmentFiles(dir string, base int64) error {
	logPath, idxPath, timePath := segmentPaths(dir, base)
	txnPath := filepath.Join(dir, segmentFileName(base, txnIndexSuffix))
	var errs []error
	for _, p := range []string{logPath, idxPath, timePath, txnPath} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: remove segment %s: %v", ErrIO, logPath, err)
	}
	return nil
}

// encodeLogStartCheckpoint renders log-start-offset-checkpoint: version
// line "0", then the log start offset.
func encodeLogStartCheckpoint(offset int64) []byte {
	return []byte("0\n" + strconv.FormatInt(offset, 10) + "\n")
}

// parseLogStartCheckpoint parses log-start-offset-checkpoint (version 0
// only): exactly a version line and a non-negative offset.
func parseLogStartCheckpoint(b []byte) (int64, error) {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) != 2 {
		return 0, fmt.Errorf("%d lines, want 2", len(lines))
	}
	if v := strings.TrimSpace(lines[0]); v != "0" {
		return 0, fmt.Errorf("unsupported version line %q", lines[0])
	}
	off, err := strconv.ParseInt(strings.TrimSpace(lines[1]), 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("bad offset line %q", lines[1])
	}
	return off, nil
}

// encodePartitionMetadata renders partition.metadata as Kafka writes it:
// "version: 0" and "topic_id: <base64url, no padding>".
func encodePartitionMetadata(id [16]byte) []byte {
	return []byte("version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n")
}

// parsePartitionMetadata parses partition.metadata (version 0 only).
func parsePartitionMetadata(b []byte) ([16]byte, error) {
	var id [16]byte
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) != 2 {
		return id, fmt.Errorf("%d lines, want 2", len(lines))
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(lines[0]), "version: ")
	if !ok || v != "0" {
		return id, fmt.Errorf("unsupported version line %q", lines[0])
	}
	enc, ok := strings.CutPrefix(strings.TrimSpace(lines[1]), "topic_id: ")
	if !ok {
		return id, fmt.Errorf("bad topic_id line %q", lines[1])
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(raw) != len(id) {
		return id, fmt.Errorf("bad topic id %q", enc)
	}
	copy(id[:], raw)
	return id, nil
}

// epochEntry is one line of the leader epoch cache: epoch starts at offset.
type epochEntry struct {
	epoch int32
	start int64
}

// encodeEpochCheckpoint renders leader-epoch-checkpoint in Kafka's
// checkpoint format: version line "0", entry count, "epoch startOffset" lines.
func encodeEpochCheckpoint(es []epochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.start)
	}
	return b.Bytes()
}

// parseEpochCheckpoint parses leader-epoch-checkpoint; epochs must increase
// and start offsets must not decrease.
func parseEpochCheckpoint(b []byte) ([]epochEntry, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return strings.TrimSpace(sc.Text()), true
	}
	if v, ok := next(); !ok || v != "0" {
		return nil, fmt.Errorf("unsupported version line %q", v)
	}
	c, ok := next()
	n, err := strconv.Atoi(c)
	if !ok || err != nil || n < 0 || n > len(b) {
		return nil, fmt.Errorf("bad entry count %q", c)
	}
	es := make([]epochEntry, 0, n)
	for i := 0; i < n; i++ {
		line, _ := next()
		e, err := parseEpochLine(line)
		if err != nil {
			return nil, err
		}
		if i > 0 && (e.epoch <= es[i-1].epoch || e.start < es[i-1].start) {
			return nil, fmt.Errorf("entry %q out of order", line)
		}
		es = append(es, e)
	}
	if extra, ok := next(); ok && extra != "" {
		return nil, fmt.Errorf("unexpected line %q after %d entries", extra, n)
	}
	return es, nil
}

func parseEpochLine(line string) (epochEntry, error) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return epochEntry{}, fmt.Errorf("bad entry %q", line)
	}
	ep, err1 := strconv.ParseInt(f[0], 10, 32)
	start, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || ep < 0 || start < 0 {
		return epochEntry{}, fmt.Errorf("bad entry %q", line)
	}
	return epochEntry{epoch: int32(ep), start: start}, nil
}
