package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/internal/registrytest"
)

const logicalAdmin = "logical-backup-admin-token-0123456789"

// inProcessServer is `mnemo serve` run by run() in this process.
type inProcessServer struct {
	t    *testing.T
	url  string
	stop func()
}

// serveOn runs `mnemo serve` on dataDir until stop (or the test's end).
func serveOn(t *testing.T, dataDir string) *inProcessServer {
	t.Helper()
	for k, v := range map[string]string{"MNEMO_DATA_DIR": dataDir, "HOST": "127.0.0.1", "PORT": "0", "ADMIN_API_TOKEN": logicalAdmin,
		"VECTOR_SIZE": "8", "EMBEDDING_PROVIDER": "hash", "MNEMO_AUTH_FAILURES_PER_MINUTE": "0", "MNEMO_USAGE_FLUSH_INTERVAL": "10ms"} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"serve"}, io.Discard, pw)
		pw.Close()
		done <- err
	}()
	addr := make(chan string, 1)
	var logs bytes.Buffer
	var logsMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &entry) == nil && entry.Msg == "mnemo listening" {
				addr <- entry.Addr
			}
			logsMu.Lock()
			logs.Write(sc.Bytes())
			logs.WriteByte('\n')
			logsMu.Unlock()
		}
	}()
	s := &inProcessServer{t: t}
	once := sync.Once{}
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	select {
	case a := <-addr:
		s.url = "http://" + a
	case err := <-done:
		logsMu.Lock()
		defer logsMu.Unlock()
		t.Fatalf("serve ended before listening: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	return s
}

// do sends a request with token (the admin's when empty) and wants status.
func (s *inProcessServer) do(method, path, token string, body any, status int) map[string]any {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if token == "" {
		token = logicalAdmin
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		s.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, status)
	}
	var out map[string]any
	json.Unmarshal(raw, &out)
	return out
}

func (s *inProcessServer) store(token string, body map[string]any) string {
	s.t.Helper()
	return s.do("POST", "/memory", token, body, 201)["memory_id"].(string)
}

// fillThroughTheServer makes, over HTTP: three tenants, one with a rate
// limit and quota, memories with given and computed vectors and relations,
// keys (a read-only one, an expiring one, a revoked one), a tenant deleted
// and created again, recalls (usage) and the audit all of it leaves. It
// returns the tokens that work and those that must not.
func fillThroughTheServer(t *testing.T, s *inProcessServer) (live, dead map[string]string) {
	live, dead = map[string]string{}, map[string]string{}
	for _, id := range []string{"acme", "beta", "gamma"} {
		live[id] = "token-of-" + id + "-0123456789abcdef"
		s.do("POST", "/admin/tenants", "", map[string]any{"tenant_id": id, "name": "Tenant " + id, "api_token": live[id]}, 201)
	}
	s.do("PATCH", "/admin/tenants/acme", "", map[string]any{"rate_limit": map[string]any{"requests_per_second": 50.5, "burst": 100},
		"quotas": map[string]any{"max_memories": 1000, "max_storage_mb": 12.5}}, 200)
	a := s.store(live["acme"], map[string]any{"content": "Decided to use Postgres for billing", "tags": []string{"db", "billing"},
		"importance": 0.9, "metadata": map[string]any{"n": 12345678901234567890.0}, "embedding": []float64{0.1, 0.2, 0.3, 0.4, -0.5, 0.6, 0.7, 1e-7}})
	b := s.store(live["acme"], map[string]any{"content": "I prefer tea over coffee", "timestamp": "2024-02-03T04:05:06.123456Z"})
	c := s.store(live["acme"], map[string]any{"content": "Billing runs nightly", "tags": []string{"billing"}, "t_invalid": "2030-01-01T00:00:00Z"})
	s.do("POST", "/associate", live["acme"], map[string]any{"memory1_id": a, "memory2_id": c, "type": "RELATES_TO", "strength": 0.8}, 201)
	s.do("POST", "/associate", live["acme"], map[string]any{"memory1_id": b, "memory2_id": a, "type": "PREFERS_OVER", "strength": 0.4,
		"reason": "taste"}, 201)
	read := s.do("POST", "/admin/tenants/acme/keys", "", map[string]any{"label": "dashboard", "scopes": []string{"read"}}, 201)
	live["acme-read"] = read["api_token"].(string)
	exp := s.do("POST", "/admin/tenants/acme/keys", "", map[string]any{"label": "temp", "scopes": []string{"read", "write"},
		"expires_at": time.Now().Add(240 * time.Hour).UTC().Format(time.RFC3339)}, 201)
	live["acme-expiring"] = exp["api_token"].(string)
	rev := s.do("POST", "/admin/tenants/acme/keys", "", map[string]any{"label": "old", "scopes": []string{"read"}}, 201)
	dead["acme-revoked"] = rev["api_token"].(string)
	s.do("DELETE", "/admin/tenants/acme/keys/"+rev["key"].(map[string]any)["key_id"].(string), "", nil, 200)
	s.do("GET", "/recall?query=billing", live["acme-read"], nil, 200)

	s.store(live["beta"], map[string]any{"content": "beta's first life"})
	s.do("DELETE", "/admin/tenants/beta", "", nil, 200)
	dead["beta-first-life"] = live["beta"]
	live["beta"] = "token-of-beta-second-life-0123456789"
	s.do("POST", "/admin/tenants", "", map[string]any{"tenant_id": "beta", "api_token": live["beta"]}, 201)
	s.store(live["beta"], map[string]any{"content": "beta's second life", "tags": []string{"x"}})
	s.do("GET", "/recall?query=life", live["beta"], nil, 200)
	return live, dead
}

// records and contents of an embedded data directory, opened in process.
type dataDirContents struct {
	Records []mnemo.RegistryRecord
	Tenants map[string][2][]any // memories, relations
}

func readDataDir(t *testing.T, dir string) dataDirContents {
	t.Helper()
	ctx := context.Background()
	reg, stores, closeAll, err := openEmbedded(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	out := dataDirContents{Records: registrytest.Records(t, reg), Tenants: map[string][2][]any{}}
	for _, r := range out.Records {
		if r.Tenant == nil {
			continue
		}
		st, release, err := stores.Open(ctx, r.Tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		sn, err := st.Snapshot(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		var c [2][]any
		for m, err := range sn.Memories() {
			if err != nil {
				t.Fatal(err)
			}
			c[0] = append(c[0], m)
		}
		for rel, err := range sn.Relations() {
			if err != nil {
				t.Fatal(err)
			}
			c[1] = append(c[1], rel)
		}
		sn.Close()
		release()
		out.Tenants[r.Tenant.ID] = c
	}
	return out
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("mnemo %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestLogicalBackupRoundTrip: a data directory filled through the server
// is backed up logically (while the server runs, and after), restored into
// a fresh directory, and holds the same registry records (keys, usage,
// audit, incarnations) and the same memories, relations and vectors; a
// server started on it authenticates the keys that worked and refuses
// those that did not.
func TestLogicalBackupRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	work := t.TempDir()
	src, dst, dstLive := filepath.Join(work, "src"), filepath.Join(work, "dst"), filepath.Join(work, "dst-live")
	srv := serveOn(t, src)
	live, dead := fillThroughTheServer(t, srv)

	// While the server runs: the backup copies the directory first.
	during := filepath.Join(work, "during.tar.gz")
	if out := runOK(t, "backup", "--logical", "--data-dir", src, "--out", during); !strings.Contains(out, "logical backup of "+src+" written to "+during+": 3 tenants") {
		t.Fatalf("backup output: %s", out)
	}
	srv.stop()
	after := filepath.Join(work, "after.tar.gz")
	runOK(t, "backup", "--logical", "--data-dir", src, "--out", after)
	if fi, err := os.Stat(after); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v, %v", fi, err)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 3 { // src, during, after: no staging left
		t.Fatalf("the work directory holds %d entries after the backups", len(entries))
	}

	if out := runOK(t, "restore", "--data-dir", dst, after); !strings.Contains(out, "3 tenants, 4 memories, 2 relations") {
		t.Fatalf("restore output: %s", out)
	}
	want, got := readDataDir(t, src), readDataDir(t, dst)
	if len(want.Records) < 20 || len(want.Tenants) != 3 {
		t.Fatalf("the source holds %d records and %d tenants: the fill did not happen", len(want.Records), len(want.Tenants))
	}
	if !reflect.DeepEqual(want.Records, got.Records) {
		t.Fatalf("restored registry records differ:\n%+v\n%+v", want.Records, got.Records)
	}
	if !reflect.DeepEqual(want.Tenants, got.Tenants) {
		t.Fatalf("restored tenants differ:\n%+v\n%+v", want.Tenants, got.Tenants)
	}
	var usage, audit int
	for _, r := range got.Records {
		if r.Usage != nil {
			usage++
		}
		if r.Audit != nil {
			audit++
		}
	}
	if usage == 0 || audit == 0 {
		t.Fatalf("restored %d usage rows and %d audit events", usage, audit)
	}

	// A server on the restored directory: the keys that worked work, with
	// their scopes; the others do not.
	restored := serveOn(t, dst)
	hits := restored.do("GET", "/recall?query=billing", live["acme"], nil, 200)
	if n, _ := hits["count"].(float64); n < 2 {
		t.Fatalf("recall on the restored server: %v", hits)
	}
	restored.do("GET", "/recall?query=tea", live["acme-read"], nil, 200)
	restored.do("POST", "/memory", live["acme-read"], map[string]any{"content": "read-only key writes"}, 403)
	restored.do("GET", "/recall?query=life", live["acme-expiring"], nil, 200)
	restored.do("GET", "/recall?query=life", live["beta"], nil, 200)
	restored.do("GET", "/recall?query=anything", live["gamma"], nil, 200)
	for name, token := range dead {
		req, _ := http.NewRequest("GET", restored.url+"/recall?query=x", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("%s's token answers %d on the restored server, want 401", name, resp.StatusCode)
		}
	}
	beta := restored.do("GET", "/admin/tenants/beta", "", nil, 200)["tenant"].(map[string]any)
	if beta["incarnation"] != float64(2) {
		t.Fatalf("restored beta: %v", beta)
	}
	// The counters come back with the data: listing opens no store.
	stats := restored.do("GET", "/admin/tenants/acme/stats", "", nil, 200)
	if stats["memory_count"] != float64(3) || stats["graph_relationships"] != float64(2) || stats["vector_points"] != float64(3) {
		t.Fatalf("restored acme's stats: %v", stats)
	}
	restored.stop()

	// The backup taken while the server ran restores too.
	runOK(t, "restore", "--data-dir", dstLive, during)
	if got := readDataDir(t, dstLive); len(got.Tenants) != 3 || len(got.Tenants["acme"][0]) != 3 {
		t.Fatalf("the backup taken while serving restored %d tenants", len(got.Tenants))
	}
}

// tarGz packs files (name, body) as an archive.
func tarGz(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f[0], Mode: 0o600, Size: int64(len(f[1]))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// TestLogicalRestoreRefusals: `mnemo restore` refuses a logical archive
// that is not one a backup writes, or a target that is not empty, with an
// error that says why, and leaves the target as it was.
func TestLogicalRestoreRefusals(t *testing.T) {
	manifest := [2]string{"manifest.json", `{"format":"mnemo-logical-backup","version":1,"created_at":"2025-01-01T00:00:00+00:00"}`}
	registry := [2]string{"registry.ndjson", `{"kind":"incarnation","tenant_id":"acme","incarnation":1,"created_at":"2025-01-01T00:00:00Z","deleted_at":null}` + "\n" +
		`{"kind":"tenant","id":"acme","name":"A","status":"active","status_reason":"","rate_limit":null,"max_memories":null,"max_storage_mb":null,` +
		`"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z","incarnation":1}` + "\n"}
	acme := [2]string{"tenants/acme.ndjson", `{"format":"mnemo-export","version":1,"tenant_id":"acme","memories":0,"relations":0}` + "\n"}
	end := [2]string{"end.json", `{"tenants":1,"registry_records":2,"vanished":[],"skipped":[]}`}
	work := t.TempDir()
	write := func(name string, raw []byte) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.tar.gz", tarGz(t, manifest, registry, acme, end))
	cases := []struct {
		name, archive, want string
	}{
		{"path traversal", write("traversal.tar.gz", tarGz(t, manifest, registry, [2]string{"tenants/../../../etc/acme.ndjson", acme[1]}, end)),
			`unexpected archive member "tenants/../../../etc/acme.ndjson"`},
		{"oversized manifest", write("big.tar.gz", tarGz(t, [2]string{"manifest.json", manifest[1] + strings.Repeat(" ", 1<<20)}, registry, acme, end)),
			"manifest.json is too large"},
		{"newer version", write("v2.tar.gz", tarGz(t, [2]string{"manifest.json", strings.Replace(manifest[1], `"version":1`, `"version":2`, 1)}, registry, acme, end)),
			"logical backup format version 2 is not supported"},
		{"truncated", write("truncated.tar.gz", tarGz(t, manifest, registry, acme)), "the archive has no end.json (truncated?)"},
		{"neither format", write("other.tar.gz", tarGz(t, [2]string{"manifest.json", `{"format":"something-else","version":1}`})),
			`manifest format is "something-else", want "mnemo-backup"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "data")
			err := run(context.Background(), []string{"restore", "--data-dir", target, c.archive}, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("restore: %v, want %q", err, c.want)
			}
			if _, err := os.Stat(target); !os.IsNotExist(err) {
				t.Fatalf("a refused restore left %s behind: %v", target, err)
			}
		})
	}
	t.Run("non-empty target", func(t *testing.T) {
		target := t.TempDir()
		write := filepath.Join(target, "keep.txt")
		os.WriteFile(write, []byte("mine"), 0o600)
		err := run(context.Background(), []string{"restore", "--data-dir", target, good}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "is not empty") {
			t.Fatalf("restore into a non-empty directory: %v", err)
		}
		if entries, _ := os.ReadDir(target); len(entries) != 1 {
			t.Fatalf("a refused restore changed the directory: %v", entries)
		}
	})
	t.Run("one tenant of a logical backup", func(t *testing.T) {
		err := run(context.Background(), []string{"restore", "--data-dir", t.TempDir(), "--tenant", "acme", good}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "a logical backup restores whole") {
			t.Fatalf("restore --tenant of a logical backup: %v", err)
		}
	})
	t.Run("unverifiable stream fails late and still leaves nothing", func(t *testing.T) {
		// From a pipe the archive cannot be verified first: the registry is
		// loaded before the bad member is met, in the staging directory.
		bad := tarGz(t, manifest, registry, [2]string{"tenants/acme.ndjson", `{"format":"mnemo-export","version":1,"tenant_id":"beta"}` + "\n"}, end)
		target := filepath.Join(t.TempDir(), "data")
		_, err := restoreLogicalDir(context.Background(), bytes.NewReader(bad), false, target, mnemo.Limits{})
		if err == nil || !strings.Contains(err.Error(), `the export is of tenant "beta", not "acme"`) {
			t.Fatalf("restore: %v", err)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Fatalf("a failed restore left %s behind: %v", target, err)
		}
	})
	t.Run("the good one restores", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "data")
		runOK(t, "restore", "--data-dir", target, good)
		if got := readDataDir(t, target); len(got.Tenants) != 1 {
			t.Fatalf("restored %+v", got)
		}
		if entries, _ := os.ReadDir(target); len(entries) != 2 {
			t.Fatalf("the restored directory holds %v; want tenants and registry.db", entries)
		}
	})
}

// TestLogicalBackupSkipsDamagedTenant: a tenant whose store is damaged is
// left out of a logical backup, named, and the command ends with status
// 3; every other tenant is saved, and the restore keeps the damaged
// tenant's keys but suspends it, saying why.
func TestLogicalBackupSkipsDamagedTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	work := t.TempDir()
	src, dst := filepath.Join(work, "src"), filepath.Join(work, "dst")
	srv := serveOn(t, src)
	live, _ := fillThroughTheServer(t, srv)
	srv.stop()
	if err := os.Truncate(filepath.Join(src, "tenants", "acme", "memories.db"), 0); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "backup.tar.gz")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"backup", "--logical", "--data-dir", src, "--out", out}, &stdout, &stderr)
	var coded interface{ ExitCode() int }
	if !errors.As(err, &coded) || coded.ExitCode() != exitPartial || !strings.Contains(err.Error(), "end.json") ||
		!strings.Contains(stderr.String(), "skipped tenant acme") {
		t.Fatalf("backup of a directory with a damaged tenant: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	t.Logf("backup: %v\n%s", err, stderr.String())
	runOK(t, "restore", "--data-dir", dst, out)
	got := readDataDir(t, dst)
	if len(got.Tenants["acme"][0]) != 0 || len(got.Tenants["beta"][0]) != 1 {
		t.Fatalf("restored acme holds %d memories, beta %d", len(got.Tenants["acme"][0]), len(got.Tenants["beta"][0]))
	}
	restored := serveOn(t, dst)
	acme := restored.do("GET", "/admin/tenants/acme", "", nil, 200)["tenant"].(map[string]any)
	if acme["status"] != "suspended" || !strings.Contains(acme["status_reason"].(string), "restored without its memories") {
		t.Fatalf("restored acme: %v", acme)
	}
	t.Logf("restored acme: %s", acme["status_reason"])
	restored.do("GET", "/recall?query=x", live["beta"], nil, 200)
}
