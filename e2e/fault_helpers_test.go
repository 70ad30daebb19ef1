package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"
)

// The fault suite (fault_*_test.go) breaks what the server stands on (its
// file limit, its files) and checks that the fault stays where it
// happens. These are its tools.

// startLimited runs mnemo on dataDir with its file-descriptor limit (soft
// and hard: Go raises the soft one to the hard one at start) lowered to
// nofile.
func startLimited(t *testing.T, dataDir string, nofile int, env map[string]string) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: dataDir, Env: map[string]string{"ADMIN_API_TOKEN": adminToken, "MNEMO_AUTH_FAILURES_PER_MINUTE": "0"},
		Wrap: []string{"sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, nofile), "sh"}}
	for k, v := range env {
		s.Env[k] = v
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// memoryDir is a temporary directory in memory (tmpfs) when the machine
// has one, else on disk: where a test is about file descriptors, not the
// disk, fsync's latency only slows it down.
func memoryDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "mnemo-fault-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// answer is one HTTP answer, for requests sent outside the test goroutine
// (which must not call t.Fatal).
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// call sends a JSON request with a bearer token and decodes the answer.
func call(client *http.Client, method, url, token string, body any) (*answer, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	a := &answer{status: resp.StatusCode, header: resp.Header}
	if a.raw, err = io.ReadAll(resp.Body); err != nil {
		return nil, err
	}
	if len(a.raw) > 0 && a.raw[0] == '{' {
		json.Unmarshal(a.raw, &a.body)
	}
	return a, nil
}

// retrying sends the request until it is not refused with a 503, waiting
// what each refusal's Retry-After says. It fails when the server answers
// 503 without a Retry-After, or anything but want; refusals counts the
// 503s.
func retrying(client *http.Client, method, url, token string, body any, want int, refusals *int) (*answer, error) {
	for attempt := 0; ; attempt++ {
		a, err := call(client, method, url, token, body)
		if err != nil {
			return nil, err
		}
		if a.status == want {
			return a, nil
		}
		if a.status != http.StatusServiceUnavailable || attempt == 20 {
			return a, fmt.Errorf("%s %s: %d %s", method, url, a.status, a.raw)
		}
		wait, err := strconv.Atoi(a.header.Get("Retry-After"))
		if err != nil || wait <= 0 {
			return a, fmt.Errorf("%s %s: 503 without a Retry-After: %s", method, url, a.raw)
		}
		*refusals++
		time.Sleep(time.Duration(wait) * time.Second)
	}
}

// storeFile is the path of a tenant's database.
func (s *Server) storeFile(id string) string {
	return s.DataDir + "/tenants/" + id + "/memories.db"
}

// damage overwrites part of a file, as a failing disk or a stray write
// would.
func damage(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
