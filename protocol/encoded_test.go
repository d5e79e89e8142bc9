package protocol

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestEncodedResponseSendsFileRegions checks that a handler-encoded
// response reaches the client exactly as its parts say — bytes, then a
// file region sent with sendfile, then bytes — framed with the right
// length and correlation id, and that Release runs once it is written.
func TestEncodedResponseSendsFileRegions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "segment")
	content := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var released atomic.Int32
	reg := NewRegistry()
	reg.Register(3, 0, 13, func(_ context.Context, req *Request) Reply {
		return Later(func(context.Context) (kmsg.Response, error) {
			enc := NewEncodedResponse(req.Key, req.Version, req.Body.IsFlexible())
			enc.Parts = []Part{{Bytes: []byte("head")}, {File: f, Offset: 100, Length: 50000}, {Bytes: []byte("tail")}}
			enc.Release = func() { released.Add(1) }
			return enc, nil
		})
	})
	_, addr := startServer(t, testConfig(t), reg)
	nc := dial(t, addr)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	sendRequest(t, nc, req, 7)
	corr, body := readResponse(t, nc)
	if corr != 7 {
		t.Fatalf("correlation id %d, want 7", corr)
	}
	// The flexible response header's empty tag section, then the parts.
	want := append(append([]byte("\x00head"), content[100:50100]...), "tail"...)
	if !bytes.Equal(body, want) {
		t.Fatalf("body of %d bytes differs from the %d expected", len(body), len(want))
	}
	waitFor(t, 5*time.Second, func() error {
		if released.Load() != 1 {
			return errString("release not called once")
		}
		return nil
	})
}

type errString string

func (e errString) Error() string { return string(e) }
