package harness

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds ./cmd/samsa from this tree once per test process and
// returns its path. The binary lives at one fixed place in the temporary
// directory, replaced atomically by each build (a process still running the
// old file keeps it), so test runs do not leave a binary behind each.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { buildPath, buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func build() (string, error) {
	// One directory per source tree, so test runs of different checkouts
	// never exec each other's binary; runs of the same tree build the
	// same binary and replace it atomically.
	sum := sha256.Sum256([]byte(repoRoot()))
	dir := filepath.Join(os.TempDir(), "samsa-test-bin-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "samsa-*.building")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // a no-op once renamed
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/samsa")
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/samsa: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "samsa")
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Process is a `samsa dev` process on free ports.
type Process struct {
	t         testing.TB
	cmd       *exec.Cmd
	bootstrap string
	exited    chan struct{}
	logs      *lockedBuffer
}

// StartProcess runs `samsa dev --listen 127.0.0.1:0 --data-dir dir` and
// waits for its banner.
func StartProcess(t testing.TB, dataDir string, extraArgs ...string) *Process {
	t.Helper()
	args := append([]string{"dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, extraArgs...)
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{t: t, cmd: cmd, exited: make(chan struct{}), logs: &lockedBuffer{}}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting samsa dev: %v", err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if v, ok := strings.CutPrefix(line, "bootstrap:"); ok {
				select {
				case found <- strings.TrimSpace(v):
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.Kill() })
	select {
	case p.bootstrap = <-found:
	case <-p.exited:
		t.Fatalf("samsa dev exited before serving:\n%s", p.logs.String())
	case <-time.After(60 * time.Second):
		p.Kill()
		t.Fatalf("samsa dev did not print its banner within 60s:\n%s", p.logs.String())
	}
	return p
}

// cleanEnv drops SAMSA_ variables so the process sees only its flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SAMSA_") {
			env = append(env, kv)
		}
	}
	return env
}

// Bootstrap is the process's Kafka address.
func (p *Process) Bootstrap() string { return p.bootstrap }

// Logs returns what the process wrote to stderr so far.
func (p *Process) Logs() string { return p.logs.String() }

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *Process) Stop(ctx context.Context) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if !p.cmd.ProcessState.Success() {
			return fmt.Errorf("samsa exited with %v:\n%s", p.cmd.ProcessState, p.logs.String())
		}
		return nil
	case <-ctx.Done():
		p.Kill()
		return errors.New("samsa did not stop after SIGTERM; killed")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
