// Package e2e drives the real mnemo binary over HTTP, as a client would:
// each test starts it on a free loopback port with a temporary data
// directory.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the mnemo binary built once for the whole suite.
var binary string

func TestMain(m *testing.M) {
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

// Server is one running mnemo process.
type Server struct {
	t       *testing.T
	URL     string
	DataDir string
	Env     map[string]string
	cmd     *exec.Cmd
	logs    *bytes.Buffer
	done    chan struct{}
}

// Start runs mnemo with a fresh data directory and the admin token set.
// Extra env entries are added or override the defaults.
func Start(t *testing.T, env map[string]string) *Server {
	t.Helper()
	// Suites make many deliberate bad-credential requests from one address;
	// the tests of the throttle turn it back on.
	s := &Server{t: t, DataDir: t.TempDir(), Env: map[string]string{"ADMIN_API_TOKEN": adminToken, "MNEMO_AUTH_FAILURES_PER_MINUTE": "0"}}
	for k, v := range env {
		s.Env[k] = v
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(binary, "serve")
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
	s.cmd, s.logs, s.done = cmd, &bytes.Buffer{}, make(chan struct{})
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
