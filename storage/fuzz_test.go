package storage

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateFuzzCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite the seed corpus in testdata/fuzz")

// fuzzSeeds are the edge cases every decoder's corpus starts from: empty
// input, a zero length, a 0xFFFFFFFF length, one valid batch, and a few
// shapes recovery must tell apart (torn tail, damage before valid data).
func fuzzSeeds() map[string][]byte {
	valid := makeBatch(batchOpts{records: 2, valueSize: 8, firstTs: 1700000000000, tsStep: 1})
	zeroLen := make([]byte, BatchHeaderSize)
	zeroLen[offMagic] = 2
	ffLen := bytes.Clone(valid)
	be.PutUint32(ffLen[offBatchLength:], 0xFFFFFFFF)
	second := bytes.Clone(valid)
	StampBatch(second, 2, 0, -1)
	damaged := bytes.Clone(valid)
	damaged[len(damaged)-3] ^= 0xff
	return map[string][]byte{
		"empty":            {},
		"zero-length":      zeroLen,
		"ffffffff-length":  ffLen,
		"one-valid-batch":  valid,
		"torn-tail":        append(bytes.Clone(valid), second[:30]...),
		"damage-then-data": append(damaged, second...),
		"magic-1":          append(bytes.Clone(valid[:16]), 1, 0, 0, 0, 0),
	}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/<Target>/ when run with
// -update-fuzz-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateFuzzCorpus {
		t.Skip("run with -update-fuzz-corpus to rewrite the seed corpus")
	}
	for _, target := range []string{"FuzzParseBatchHeader", "FuzzValidateBatches", "FuzzRecovery"} {
		writeFuzzSeeds(t, target, fuzzSeeds())
	}
	writeFuzzSeeds(t, "FuzzDecodeRecords", decodeRecordsSeeds(t))
	writeFuzzSeeds(t, "FuzzDecodeTxnIndex", txnIndexSeeds())
}

func writeFuzzSeeds(t *testing.T, target string, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ParseBatchHeader never panics and only succeeds on a full v2 header.
func FuzzParseBatchHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseBatchHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrUnsupportedMagic) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if len(b) < BatchHeaderSize || h.Magic != 2 {
			t.Fatalf("accepted %d bytes with magic %d", len(b), h.Magic)
		}
	})
}

// ValidateBatches never panics; what it accepts is a whole number of batches
// with valid CRCs, and stays valid after the broker stamps it.
func FuzzValidateBatches(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := ValidateBatches(b, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrUnsupportedMagic) && !errors.Is(err, ErrBatchTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		var total int64
		for _, h := range hs {
			total += h.Size()
		}
		if total != int64(len(b)) {
			t.Fatalf("headers cover %d of %d bytes", total, len(b))
		}
		pos := int64(0)
		for i, h := range hs {
			StampBatch(b[pos:pos+h.Size()], int64(i)*100, 7, int64(i))
			pos += h.Size()
		}
		if _, err := ValidateBatches(b, 1<<20); err != nil {
			t.Fatalf("stamped batches no longer validate: %v", err)
		}
	})
}

// fastTempDir is a temporary directory on tmpfs when there is one: recovery
// fsyncs several times per Open, which would otherwise dominate fuzzing.
func fastTempDir(t *testing.T) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "samsa-fuzz-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// Random bytes as the only .log: Open either fails with ErrCorrupt or
// recovers a valid prefix of the bytes, which reads back intact and takes
// appends. It never panics.
func FuzzRecovery(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := fastTempDir(t)
		path := segFile(dir, 0, logSuffix)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(DefaultConfig(dir))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open failed without ErrCorrupt: %v", err)
			}
			return
		}
		defer l.Close()
		got := readAll(t, l, l.LogStartOffset(), l.LogEndOffset())
		if !bytes.HasPrefix(data, got) || int64(len(got)) != fileLen(t, path) {
			t.Fatalf("recovered %d bytes that are not the file's valid prefix (file %d bytes)", len(got), fileLen(t, path))
		}
		leo := l.LogEndOffset()
		if info, err := l.Append(batch(1, 1, 0), max(l.LatestEpoch(), 0), -1); err != nil || info.BaseOffset != leo {
			t.Fatalf("append after recovery: %+v, %v", info, err)
		}
	})
}
