package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression codecs, the value of attributes&7 (protocol guide, "Record
// Batch").
const (
	CodecNone   int8 = 0
	CodecGzip   int8 = 1
	CodecSnappy int8 = 2
	CodecLZ4    int8 = 3
	CodecZstd   int8 = 4
)

// Decompression bounds. A batch's records inflate to at most
// decompressFloor plus decompressRatio times their compressed size, and
// never beyond decompressCeiling; past that DecodeRecords refuses the batch
// (ErrCorruptBatch) rather than let a few hostile bytes allocate gigabytes.
// The floor is far above what any producer's batch.size yields; the ratio
// covers highly compressible large batches.
const (
	decompressFloor   = 64 << 20
	decompressRatio   = 16
	decompressCeiling = 1 << 30
)

// decompressLimit is the most bytes n compressed bytes may inflate to.
func decompressLimit(n int) int {
	return int(min(decompressFloor+decompressRatio*int64(n), decompressCeiling))
}

var errTooLarge = errors.New("decompressed records too large")

// codecName names a codec for error messages.
func codecName(c int8) string {
	switch c {
	case CodecNone:
		return "uncompressed"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec %d", c)
}

// decompress inflates the records section of a batch compressed with codec.
// Any failure, including output beyond decompressLimit, is ErrCorruptBatch.
func decompress(codec int8, src []byte) ([]byte, error) {
	limit := decompressLimit(len(src))
	var out []byte
	var err error
	switch codec {
	case CodecGzip:
		out, err = gunzip(src, limit)
	case CodecSnappy:
		out, err = unsnappy(src, limit)
	case CodecLZ4:
		out, err = unlz4(src, limit)
	case CodecZstd:
		out, err = unzstd(src, limit)
	default:
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptBatch, codec)
	}
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("%w: %s records of %d bytes inflate beyond %d bytes", ErrCorruptBatch, codecName(codec), len(src), limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s records: %v", ErrCorruptBatch, codecName(codec), err)
	}
	return out, nil
}

// readLimited reads r to the end, failing with errTooLarge past limit bytes.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, errTooLarge
	}
	return out, nil
}

// gunzip inflates gzip (RFC 1952; concatenated members are read as one
// stream, as Java's GZIPInputStream does).
func gunzip(src []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	return readLimited(zr, limit)
}

// unlz4 inflates the LZ4 frame format, which is what RecordBatch v2 uses.
func unlz4(src []byte, limit int) ([]byte, error) {
	return readLimited(lz4.NewReader(bytes.NewReader(src)), limit)
}

// xerialMagic starts snappy data in the xerial framing that Kafka's Java
// clients write (snappy-java's SnappyOutputStream): the 8 magic bytes, an
// int32 version and an int32 compatible-version, then chunks of
// [int32 compressed length][snappy block], all big-endian.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// unsnappy inflates snappy records: xerial-framed (Java clients, and
// librdkafka or franz-go when talking to them) or one plain snappy block
// (librdkafka, franz-go). The decoded length of every block is read from
// its header and checked against the limit before anything is allocated.
func unsnappy(src []byte, limit int) ([]byte, error) {
	if len(src) < xerialHeaderSize || !bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		return snappyBlock(nil, src, limit)
	}
	out := []byte{}
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("xerial chunk header of %d bytes", len(rest))
		}
		n := int64(int32(be.Uint32(rest)))
		if n < 0 || n > int64(len(rest)-4) {
			return nil, fmt.Errorf("xerial chunk of %d bytes, %d remain", n, len(rest)-4)
		}
		var err error
		if out, err = snappyBlock(out, rest[4:4+n], limit); err != nil {
			return nil, err
		}
		rest = rest[4+n:]
	}
	return out, nil
}

// snappyBlock appends the decoding of one snappy block to dst, keeping the
// total within limit.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > limit-len(dst) {
		return nil, errTooLarge
	}
	k := len(dst)
	if cap(dst)-k < n {
		dst = append(make([]byte, 0, k+max(n, k)), dst...) // amortised growth
	}
	got, err := snappy.Decode(dst[k:k+n], block)
	if err != nil {
		return nil, err
	}
	if len(got) != n {
		return nil, fmt.Errorf("snappy block decoded to %d bytes, header says %d", len(got), n)
	}
	return dst[:k+n], nil
}

// zstdDecoders pools zstd decoders for DecodeAll. DecodeAll writes into the
// output slice directly (no window-sized ring buffer), so memory follows the
// real output, which WithDecoderMaxMemory bounds per frame; the total is
// checked again below. Concurrency 1 means a decoder runs no goroutines, so
// one dropped by the pool needs no Close.
var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return err
	}
	return d
}}

// unzstd inflates zstd frames (RFC 8878). A frame whose window exceeds the
// limit is refused too (the library clamps the window to it).
func unzstd(src []byte, limit int) ([]byte, error) {
	v := zstdDecoders.Get()
	d, ok := v.(*zstd.Decoder)
	if !ok {
		return nil, fmt.Errorf("zstd decoder: %v", v)
	}
	defer zstdDecoders.Put(d)
	if err := d.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(uint64(limit))); err != nil {
		return nil, err
	}
	out, err := d.DecodeAll(src, nil)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || len(out) > limit {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// compress compresses a records section with codec, for batches the
// cleaner re-encodes (cleaner.go): the same codec the producer chose, in the
// form Kafka's own broker writes: gzip (RFC 1952), snappy in the xerial
// framing of snappy-java (which every client reads), the LZ4 frame format,
// or a zstd frame.
func compress(codec int8, src []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return src, nil
	case CodecGzip:
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write(src); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	case CodecSnappy:
		return xerialSnappy(src), nil
	case CodecLZ4:
		var b bytes.Buffer
		zw := lz4.NewWriter(&b)
		if _, err := zw.Write(src); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	case CodecZstd:
		enc, err := zstdEncoder()
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(src, nil), nil
	}
	return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptBatch, codec)
}

// xerialBlockSize is snappy-java's default block size.
const xerialBlockSize = 32 << 10

// xerialSnappy frames src as snappy-java's SnappyOutputStream does: the
// xerial header (magic, version 1, compatible version 1), then each block of
// at most xerialBlockSize input bytes as [int32 length][snappy block].
func xerialSnappy(src []byte) []byte {
	out := append([]byte(nil), xerialMagic...)
	out = be.AppendUint32(out, 1)
	out = be.AppendUint32(out, 1)
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		block := snappy.Encode(nil, src[:n])
		out = be.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		src = src[n:]
	}
	return out
}

// zstdEncoder is created once and shared: EncodeAll is safe for concurrent
// use. Concurrency 1 keeps it from starting goroutines of its own.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
})
