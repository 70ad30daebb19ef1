package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// startOn runs mnemo on an existing data directory.
func startOn(t *testing.T, dataDir string) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: dataDir, Env: map[string]string{"ADMIN_API_TOKEN": adminToken, "MNEMO_AUTH_FAILURES_PER_MINUTE": "0"}}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// mnemoCmd runs the binary with a clean environment and returns its
// output and error.
func mnemoCmd(args ...string) (string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// written is a memory the writer stored and the server acknowledged.
type written struct {
	id, content, tag string
}

// writer stores memories into one tenant until stopped, each linked to the
// one before by /associate, as a busy client would; it records what the
// server acknowledged. It runs outside the test goroutine, so it reports
// errors instead of failing the test.
type writer struct {
	url, token string
	mu         sync.Mutex
	acked      []written
	err        error
	stop, done chan struct{}
}

func startWriter(s *Server, token string) *writer {
	w := &writer{url: s.URL, token: token, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *writer) post(path string, body any) (map[string]any, error) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", w.url+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+w.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if resp.StatusCode != 201 {
		return nil, fmt.Errorf("POST %s: %d %v", path, resp.StatusCode, out)
	}
	return out, nil
}

func (w *writer) run() {
	defer close(w.done)
	prev := ""
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		m := written{content: fmt.Sprintf("written during the backup, number %d", i), tag: fmt.Sprintf("during-%d", i)}
		out, err := w.post("/memory", map[string]any{"content": m.content, "tags": []string{"during", m.tag}, "importance": 0.4})
		if err == nil && prev != "" {
			_, err = w.post("/associate", map[string]any{"memory1_id": out["memory_id"], "memory2_id": prev, "type": "OCCURRED_BEFORE"})
		}
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		m.id = out["memory_id"].(string)
		prev = m.id
		w.mu.Lock()
		w.acked = append(w.acked, m)
		w.mu.Unlock()
	}
}

func (w *writer) snapshot() []written {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]written(nil), w.acked...)
}

func (w *writer) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(w.snapshot()) < n {
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("writer: %d acknowledged, err %v", len(w.snapshot()), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *writer) finish(t *testing.T) []written {
	t.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	return w.snapshot()
}

// backupFixture is the state a backup must carry: two tenants, memories
// with tags, and a chain of relations in the first.
type backupFixture struct {
	seeds     map[string]string // id -> content, tenant t1
	relations map[string]bool   // "from>type>to", tenant t1
	t2Export  []string          // tenant t2's export lines after the header
}

func seedBackup(t *testing.T, s *Server) *backupFixture {
	t.Helper()
	f := &backupFixture{seeds: map[string]string{}, relations: map[string]bool{}}
	s.CreateTenant("t1", "t1-token-1")
	s.CreateTenant("t2", "t2-token-1")
	var prev string
	for i := 0; i < 30; i++ {
		content := fmt.Sprintf("seed memory %d about project %d", i, i%4)
		id := s.Store("t1-token-1", map[string]any{"content": content, "tags": []string{"seed", fmt.Sprintf("project:%d", i%4)}})
		f.seeds[id] = content
		if prev != "" {
			s.As("t1-token-1", "POST", "/associate", map[string]any{"memory1_id": id, "memory2_id": prev, "type": "LEADS_TO"}).Expect(t, 201)
			f.relations[id+">LEADS_TO>"+prev] = true
		}
		prev = id
	}
	for i := 0; i < 10; i++ {
		s.Store("t2-token-1", map[string]any{"content": fmt.Sprintf("t2 memory %d", i), "tags": []string{"t2"}})
	}
	lines, _ := exportLines(t, adminGetRaw(t, s, "/admin/tenants/t2/export").Expect(t, 200).Raw)
	f.t2Export = lines[1:]
	return f
}

// verifyRestored checks a server started on a restored directory: the same
// tenants and keys; every seed memory and every write acknowledged before
// the backup began; nothing that was never written; each memory complete
// (content, tags, vector); the seed relations.
func verifyRestored(t *testing.T, s *Server, f *backupFixture, before, all []written) {
	t.Helper()
	r := s.Admin("GET", "/admin/tenants", nil).Expect(t, 200)
	var tenants []string
	for _, tn := range r.Body["tenants"].([]any) {
		tenants = append(tenants, tn.(map[string]any)["tenant_id"].(string))
	}
	sort.Strings(tenants)
	if !reflect.DeepEqual(tenants, []string{"t1", "t2"}) {
		t.Fatalf("restored tenants %v", tenants)
	}

	lines, objs := exportLines(t, adminGetRaw(t, s, "/admin/tenants/t1/export").Expect(t, 200).Raw)
	acked := map[string]written{}
	for _, w := range all {
		acked[w.id] = w
	}
	present := map[string]bool{}
	relations := map[string]bool{}
	for i, o := range objs[1:] {
		switch o["kind"] {
		case "memory":
			id := o["id"].(string)
			present[id] = true
			if emb, _ := o["embedding"].([]any); len(emb) != 768 {
				t.Fatalf("restored memory %s has no vector: %.200s", id, lines[i+1])
			}
			tags, _ := o["tags"].([]any)
			if content, ok := f.seeds[id]; ok {
				if o["content"] != content || len(tags) != 2 || tags[0] != "seed" {
					t.Fatalf("seed memory %s restored as %.300s", id, lines[i+1])
				}
			} else if w, ok := acked[id]; ok {
				if o["content"] != w.content || !reflect.DeepEqual(tags, []any{"during", w.tag}) {
					t.Fatalf("memory %s restored as %.300s", id, lines[i+1])
				}
			} else {
				t.Fatalf("restored memory %s was never acknowledged: %.300s", id, lines[i+1])
			}
		case "relation":
			relations[o["memory1_id"].(string)+">"+o["type"].(string)+">"+o["memory2_id"].(string)] = true
		}
	}
	for id := range f.seeds {
		if !present[id] {
			t.Fatalf("seed memory %s is missing", id)
		}
	}
	for _, w := range before {
		if !present[w.id] {
			t.Fatalf("memory %s, acknowledged before the backup began, is missing", w.id)
		}
	}
	for rel := range f.relations {
		if !relations[rel] {
			t.Fatalf("relation %s is missing", rel)
		}
	}
	// Each memory answers GET with its content.
	for id := range present {
		m := s.As("t1-token-1", "GET", "/memory/"+id, nil).Expect(t, 200).Body["memory"].(map[string]any)
		if want, ok := f.seeds[id]; ok && m["content"] != want {
			t.Fatalf("GET %s: %v", id, m["content"])
		}
		if w, ok := acked[id]; ok && m["content"] != w.content {
			t.Fatalf("GET %s: %v", id, m["content"])
		}
	}
	t.Logf("restored %d memories: 30 seeds and %d of the writes (%d acknowledged before the backup, %d in all)",
		len(present), len(present)-30, len(before), len(all))
	h := s.As("t1-token-1", "GET", "/health", nil).Expect(t, 200)
	if h.Body["memory_count"] != float64(len(present)) || h.Body["vector_count"] != float64(len(present)) || h.Body["sync_status"] != "synced" {
		t.Fatalf("health of t1 after restore (%d memories exported): %s", len(present), h.Raw)
	}
	// The recall works on the restored data.
	rr := s.As("t1-token-1", "GET", "/recall"+Q("query", "seed memory about project", "tags", "seed", "limit", "5"), nil).Expect(t, 200)
	if len(ids(rr)) != 5 {
		t.Fatalf("recall after restore: %s", rr.Raw)
	}

	// t2 was not written meanwhile: it is restored exactly.
	t2, _ := exportLines(t, adminGetRaw(t, s, "/admin/tenants/t2/export").Expect(t, 200).Raw)
	if !reflect.DeepEqual(t2[1:], f.t2Export) {
		t.Fatal("tenant t2 differs after restore")
	}
	// Keys: each token still reaches its own tenant, and only it.
	if r := s.As("t2-token-1", "GET", "/health", nil).Expect(t, 200); r.Body["tenant_id"] != "t2" || r.Body["memory_count"] != float64(10) {
		t.Fatalf("t2 after restore: %s", r.Raw)
	}
	s.As("wrong-token-123", "GET", "/recall?query=x", nil).ExpectError(t, 401, "Unauthorized")
}

// TestBackupWhileWriting: GET /backup taken while a client keeps writing
// restores, with mnemo restore, into a directory a second server serves
// with the same tenants, keys and memories, each complete.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	f := seedBackup(t, s)
	w := startWriter(s, "t1-token-1")
	w.waitFor(t, 5)
	before := w.snapshot()
	r := adminGetRaw(t, s, "/backup")
	w.waitFor(t, len(before)+5) // writes go on after the backup too
	all := w.finish(t)
	r.Expect(t, 200)
	if ct := r.Header.Get("Content-Type"); ct != "application/gzip" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	m := regexp.MustCompile(`^attachment; filename="(mnemo-backup-\d{8}_\d{6}\.tar\.gz)"$`).FindStringSubmatch(r.Header.Get("Content-Disposition"))
	if m == nil {
		t.Fatalf("Content-Disposition %q", r.Header.Get("Content-Disposition"))
	}
	archive := filepath.Join(t.TempDir(), m[1])
	if err := os.WriteFile(archive, r.Raw, 0o600); err != nil {
		t.Fatal(err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	// On FalkorDB the backup is logical, and it restores into an embedded
	// data directory all the same.
	want := "restored the backup of "
	if onFalkorDB() {
		want = "restored the logical backup of "
	}
	out, err := mnemoCmd("restore", "--data-dir", restored, archive)
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("mnemo restore: %v\n%s", err, out)
	}
	s2 := startOn(t, restored)
	verifyRestored(t, s2, f, before, all)

	// The backup is audited on the first server, as the operator's, with
	// the file name it was sent as.
	ev := s.Admin("GET", "/admin/audit"+Q("action", "backup"), nil).Expect(t, 200).Body["events"].([]any)
	if len(ev) != 1 {
		t.Fatalf("backup audit events: %v", ev)
	}
	e := ev[0].(map[string]any)
	if e["tenant_id"] != "" || e["target"] != m[1] || e["actor"] != "admin" || e["outcome"] != "success" {
		t.Fatalf("backup audit event: %v", e)
	}
	s.Admin("GET", "/backup?include=neo4j", nil).ExpectError(t, 400, "include must be a comma-separated subset of: falkordb,qdrant")
}

// TestCLIBackupWhileServing: mnemo backup reads the data directory of a
// running server, from another process, while a client writes; mnemo
// restore refuses what it must refuse and restores the archive.
func TestCLIBackupWhileServing(t *testing.T) {
	t.Parallel()
	embeddedOnly(t, "it backs up a data directory")
	s := Start(t, nil)
	f := seedBackup(t, s)
	w := startWriter(s, "t1-token-1")
	w.waitFor(t, 5)
	before := w.snapshot()
	archive := filepath.Join(t.TempDir(), "nightly.tar.gz")
	out, err := mnemoCmd("backup", "--data-dir", s.DataDir, "--out", archive)
	w.waitFor(t, len(before)+5)
	all := w.finish(t)
	if err != nil || out != fmt.Sprintf("backup of %s written to %s: 2 tenants\n", s.DataDir, archive) {
		t.Fatalf("mnemo backup: %v\n%s", err, out)
	}
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v %v", fi, err)
	}
	// No partial or staging file is left behind.
	for _, dir := range []string{filepath.Dir(archive), s.DataDir} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".partial-") || strings.HasPrefix(e.Name(), ".backup-") {
				t.Fatalf("left behind: %s", filepath.Join(dir, e.Name()))
			}
		}
	}

	if out, err := mnemoCmd("backup", "--data-dir", s.DataDir, "--out", archive); err == nil || !strings.Contains(out, "exists; choose another --out") {
		t.Fatalf("backup over an existing file: %v\n%s", err, out)
	}
	if out, err := mnemoCmd("backup", "--data-dir", t.TempDir(), "--out", archive+".2"); err == nil || !strings.Contains(out, "is not a mnemo data directory") {
		t.Fatalf("backup of an empty directory: %v\n%s", err, out)
	}
	// restore refuses a directory that holds anything, and touches nothing.
	busy := t.TempDir()
	os.WriteFile(filepath.Join(busy, "notes.txt"), []byte("keep"), 0o600)
	if out, err := mnemoCmd("restore", "--data-dir", busy, archive); err == nil || !strings.Contains(out, "is not empty") {
		t.Fatalf("restore into a non-empty directory: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(busy); len(entries) != 1 {
		t.Fatalf("restore changed a non-empty directory: %v", entries)
	}
	notBackup := filepath.Join(t.TempDir(), "x.tar.gz")
	os.WriteFile(notBackup, []byte("not an archive"), 0o600)
	empty := filepath.Join(t.TempDir(), "empty")
	if out, err := mnemoCmd("restore", "--data-dir", empty, notBackup); err == nil || !strings.Contains(out, "not a gzip archive") {
		t.Fatalf("restore of a non-archive: %v\n%s", err, out)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left %s: %v", empty, err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := mnemoCmd("restore", "--data-dir", restored, archive); err != nil {
		t.Fatalf("mnemo restore: %v\n%s", err, out)
	}
	s2 := startOn(t, restored)
	verifyRestored(t, s2, f, before, all)

	// The first server kept serving throughout.
	if r := s.As("t1-token-1", "GET", "/health", nil).Expect(t, 200); r.Body["memory_count"] != float64(30+len(all)) {
		t.Fatalf("first server after the backup: %s", r.Raw)
	}
}
