package storage

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// batchOpts describes an uncompressed test batch.
type batchOpts struct {
	records   int   // number of records (>= 1)
	valueSize int   // bytes per record value
	firstTs   int64 // timestamp of the first record
	tsStep    int64 // timestamp increment per record
	epoch     int32 // partition leader epoch field
	base      int64 // base offset field
}

// makeBatch encodes an uncompressed RecordBatch v2 as the Kafka protocol
// guide describes it ("Record Batch", "Record"): zigzag varint record
// fields, CRC-32C over attributes..end.
func makeBatch(o batchOpts) []byte {
	if o.records < 1 {
		o.records = 1
	}
	var recs []byte
	maxTs := o.firstTs
	for i := 0; i < o.records; i++ {
		ts := o.firstTs + int64(i)*o.tsStep
		maxTs = max(maxTs, ts)
		var r []byte
		r = append(r, 0) // attributes
		r = binary.AppendVarint(r, ts-o.firstTs)
		r = binary.AppendVarint(r, int64(i))
		r = binary.AppendVarint(r, -1) // null key
		r = binary.AppendVarint(r, int64(o.valueSize))
		for j := 0; j < o.valueSize; j++ {
			r = append(r, byte(i+j))
		}
		r = binary.AppendVarint(r, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(recs))
	be.PutUint64(b[offBaseOffset:], uint64(o.base))
	be.PutUint32(b[offBatchLength:], uint32(BatchHeaderSize-logOverhead+len(recs)))
	be.PutUint32(b[offLeaderEpoch:], uint32(o.epoch))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], 0)
	be.PutUint32(b[offLastDelta:], uint32(o.records-1))
	be.PutUint64(b[offFirstTs:], uint64(o.firstTs))
	be.PutUint64(b[offMaxTs:], uint64(maxTs))
	be.PutUint64(b[offProducerID:], ^uint64(0))
	be.PutUint16(b[offProducerEpoch:], ^uint16(0))
	be.PutUint32(b[offBaseSequence:], ^uint32(0))
	be.PutUint32(b[offNumRecords:], uint32(o.records))
	b = append(b, recs...)
	be.PutUint32(b[offCRC:], batchCRC(b))
	return b
}

// batch is a shorthand: n records of valueSize bytes, all at timestamp ts.
func batch(n, valueSize int, ts int64) []byte {
	return makeBatch(batchOpts{records: n, valueSize: valueSize, firstTs: ts})
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

func testConfig(t testing.TB, dir string) Config {
	cfg := DefaultConfig(dir)
	cfg.Logger = testLogger(t)
	return cfg
}

// openLog opens cfg and closes the log when the test ends.
func openLog(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Dir, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte, epoch int32) AppendInfo {
	t.Helper()
	info, err := l.Append(b, epoch, -1)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return info
}

// readAll reads every batch from offset up to maxOffset, maxBytes at a time.
func readAll(t testing.TB, l *Log, from, maxOffset int64) []byte {
	t.Helper()
	var out []byte
	for {
		res, err := l.Read(from, 64<<10, maxOffset)
		if err != nil {
			t.Fatalf("Read(%d): %v", from, err)
		}
		b, err := res.Bytes()
		if err != nil {
			t.Fatalf("Bytes: %v", err)
		}
		if len(b) == 0 {
			return out
		}
		hs := mustHeaders(t, b)
		out = append(out, b...)
		from = hs[len(hs)-1].NextOffset()
	}
}

// mustHeaders checks b is whole stored batches with valid CRCs.
func mustHeaders(t testing.TB, b []byte) []BatchHeader {
	t.Helper()
	hs, err := walkBatches(b, true)
	if err != nil {
		t.Fatalf("batches read back are invalid: %v", err)
	}
	return hs
}

// waitFor polls cond until it returns nil or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// copyDir copies every regular file of src into a new directory dst: the
// state a crash would leave if nothing else reached the disk.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

func segFile(dir string, base int64, suffix string) string {
	return filepath.Join(dir, segmentFileName(base, suffix))
}

func fileLen(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
