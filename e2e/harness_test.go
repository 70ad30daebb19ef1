// Package e2e drives the real mnemo binary over HTTP, as a client would:
// each test starts it on a free loopback port with a temporary data
// directory.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mnemohq/mnemo/internal/falkortest"
)

// binary is the mnemo binary built once for the whole suite.
var binary string

// parallelPerCPU is how many tests run at once per CPU, unless -parallel
// says otherwise.
const parallelPerCPU = 4

func TestMain(m *testing.M) {
	// Every test calls t.Parallel: each starts its own server process, on
	// its own port (PORT=0) and data directory, so none shares state with
	// another. (Subtests that share their parent's server stay sequential:
	// they build on each other's data, counts and orderings, and take
	// milliseconds; those with a server of their own, or that touch nothing
	// the others read, run in parallel too.)
	//
	// go test runs at most -parallel tests at once, by default GOMAXPROCS.
	// These tests spend most of their time waiting: on a server process to
	// start and answer, on Node (the MCP tests), on curl and python3 (the
	// script test), on deliberate sleeps (key expiry, embedding backfill).
	// With only GOMAXPROCS of them at once the CPUs sit idle, so, unless
	// -parallel was given on the command line, run parallelPerCPU tests per
	// CPU: the README's plain `go test ./...` gets the speed-up, and
	// `go test -parallel 1 ./e2e/` still runs one test at a time. m.Run reads
	// the flag when it starts the tests, so setting it here takes effect.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", strconv.Itoa(parallelPerCPU*runtime.GOMAXPROCS(0))); err != nil {
			panic(err)
		}
	}

	dir, err := os.MkdirTemp("", "mnemo-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mnemo")
	build := exec.Command("go", "build", "-o", binary, "../cmd/mnemo")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build mnemo:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const adminToken = "test-admin-token-0123456789"

// backend is the storage the suite runs mnemo on: with
// MNEMO_E2E_BACKEND=falkordb every test's server runs on a FalkorDB of its
// own, started on loopback; otherwise on the embedded default. The suite is
// written once and scripts/test runs it both ways.
var backend = os.Getenv("MNEMO_E2E_BACKEND")

// onFalkorDB reports whether the suite runs on FalkorDB.
func onFalkorDB() bool { return backend == "falkordb" }

// embeddedOnly skips t on the FalkorDB run: it tests what only the
// embedded backend has (its files, its disk, its file descriptors).
func embeddedOnly(t *testing.T, why string) {
	t.Helper()
	if onFalkorDB() {
		t.Skip("embedded backend only: " + why)
	}
}

// Server is one running mnemo process.
type Server struct {
	t       *testing.T
	URL     string
	DataDir string
	Env     map[string]string
	// Wrap, when set, runs the binary under this command (such as a shell
	// that lowers a limit, then execs it).
	Wrap []string
	// FalkorDB is the server's FalkorDB on the FalkorDB run.
	FalkorDB *falkortest.Server
	cmd      *exec.Cmd
	logs     *syncBuffer
	done     chan struct{}
}

// syncBuffer is the server's log: written by the goroutine that reads the
// server's stderr, read by the test while the server runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start runs mnemo with a fresh data directory and the admin token set.
// Extra env entries are added or override the defaults.
func Start(t *testing.T, env map[string]string) *Server {
	t.Helper()
	// Suites make many deliberate bad-credential requests from one address;
	// the tests of the throttle turn it back on.
	s := &Server{t: t, DataDir: t.TempDir(), Env: map[string]string{"ADMIN_API_TOKEN": adminToken, "MNEMO_AUTH_FAILURES_PER_MINUTE": "0"}}
	if onFalkorDB() && env["FALKORDB_HOST"] == "" {
		// Started first, so that it stops after mnemo.
		s.FalkorDB = falkortest.Start(t)
		host, port, _ := strings.Cut(s.FalkorDB.Addr, ":")
		s.Env["FALKORDB_HOST"], s.Env["FALKORDB_PORT"] = host, port
	}
	for k, v := range env {
		s.Env[k] = v
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// StartOnFalkorDB runs mnemo on fk, as one of several replicas that share
// it; each has a data directory of its own, which it does not use.
func StartOnFalkorDB(t *testing.T, fk *falkortest.Server, env map[string]string) *Server {
	t.Helper()
	host, port, _ := strings.Cut(fk.Addr, ":")
	all := map[string]string{"FALKORDB_HOST": host, "FALKORDB_PORT": port}
	for k, v := range env {
		all[k] = v
	}
	s := Start(t, all)
	s.FalkorDB = fk
	return s
}

func (s *Server) start() {
	s.t.Helper()
	argv := append(append([]string{}, s.Wrap...), binary, "serve")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "HOST=127.0.0.1", "PORT=0", "MNEMO_DATA_DIR=" + s.DataDir}
	for k, v := range s.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd, s.logs, s.done = cmd, &syncBuffer{}, make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.WriteString(line + "\n")
			var entry struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "mnemo listening" {
				addr <- entry.Addr
			}
		}
		cmd.Wait()
		close(s.done)
	}()
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		s.t.Fatalf("mnemo exited before listening:\n%s", s.logs.String())
	case <-time.After(20 * time.Second):
		s.t.Fatalf("mnemo did not start:\n%s", s.logs.String())
	}
}

// Stop ends the server gracefully (SIGTERM) and waits.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	// A graceful shutdown waits for the server's open connections, and
	// counts one the client dialed but never sent a request on (the
	// transport keeps such a spare connection idle when another one freed
	// up first) as busy for 5 seconds. Close the client's idle connections
	// so that a stop does not wait on them. It closes those to the other
	// tests' servers too, which only makes their next request dial again.
	// (Every client here uses http.DefaultTransport.)
	http.DefaultClient.CloseIdleConnections()
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	s.cmd = nil
}

// Kill ends the server with SIGKILL: no shutdown code runs.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart stops (or, with kill, kills) the server and starts it again on the
// same data directory.
func (s *Server) Restart(kill bool) {
	if kill {
		s.Kill()
	} else {
		s.Stop()
	}
	s.start()
}

// Logs returns what the server has logged so far.
func (s *Server) Logs() string { return s.logs.String() }

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Do sends a request. body may be nil, a string (sent verbatim), or any
// value (sent as JSON). headers are name/value pairs.
func (s *Server) Do(method, path string, body any, headers ...string) *Response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return s.doRequest(req)
}

// Admin sends a request with the admin token.
func (s *Server) Admin(method, path string, body any) *Response {
	s.t.Helper()
	return s.Do(method, path, body, "Authorization", "Bearer "+adminToken)
}

// As sends a request with a tenant token.
func (s *Server) As(token, method, path string, body any) *Response {
	s.t.Helper()
	return s.Do(method, path, body, "Authorization", "Bearer "+token)
}

// CreateTenant creates a tenant with a client-supplied token.
func (s *Server) CreateTenant(id, token string) {
	s.t.Helper()
	r := s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": id, "api_token": token})
	if r.Status != 201 {
		s.t.Fatalf("create tenant %s: %d %s", id, r.Status, r.Raw)
	}
}

// Store stores one memory and returns its id.
func (s *Server) Store(token string, memory map[string]any) string {
	s.t.Helper()
	r := s.As(token, "POST", "/memory", memory)
	if r.Status != 201 {
		s.t.Fatalf("store: %d %s", r.Status, r.Raw)
	}
	return r.Body["memory_id"].(string)
}

// Expect fails the test unless the response has the status.
func (r *Response) Expect(t *testing.T, status int) *Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// ExpectError checks an error envelope: status, code, and a message
// containing want.
func (r *Response) ExpectError(t *testing.T, status int, want string) {
	t.Helper()
	r.Expect(t, status)
	if r.Body["status"] != "error" || r.Body["code"] != float64(status) {
		t.Fatalf("not an error envelope: %s", r.Raw)
	}
	if msg, _ := r.Body["message"].(string); !strings.Contains(msg, want) {
		t.Fatalf("message %q does not contain %q", msg, want)
	}
}

// Q builds a query string.
func Q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

// ids returns the ids of /recall results, in order.
func ids(r *Response) []string {
	var out []string
	for _, row := range r.Body["results"].([]any) {
		out = append(out, row.(map[string]any)["id"].(string))
	}
	return out
}

func (s *Server) doRequest(req *http.Request) *Response {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			s.t.Fatalf("%s %s: bad JSON %q: %v", req.Method, req.URL.Path, raw, err)
		}
	}
	return out
}
