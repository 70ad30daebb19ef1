package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fullMessage is what a write refused on a full disk says.
const fullMessage = "The server's disk is full: new memories, updates, imports and new tenants are refused until space is freed, " +
	"and accepted again by themselves when it is. Reads and deletes still work."

// logLines returns the server's JSON log lines whose message contains msg.
func logLines(t *testing.T, s *Server, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(s.Logs(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) == nil {
			if m, _ := e["msg"].(string); strings.Contains(m, msg) {
				out = append(out, e)
			}
		}
	}
	return out
}

// TestFullDisk fills a small file system under the real binary: writes
// that find it full answer 507 and say so, /health is degraded, reads and
// deletes work, usage is kept; when space is freed, writes and /health come
// back by themselves, and a restart finds every acknowledged write.
func TestFullDisk(t *testing.T) {
	t.Parallel()
	embeddedOnly(t, "it fills the data directory's disk")
	mnt := mountTmpfs(t, 24<<20)
	// The filler is what the operator frees later; the reserve (2 MiB) is
	// what mnemo frees itself.
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 6<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startOnWith(t, filepath.Join(mnt, "data"), map[string]string{"MNEMO_DISK_RESERVE": "2097152"})
	if fi, err := os.Stat(filepath.Join(mnt, "data", "disk-reserve")); err != nil || fi.Size() != 2<<20 {
		t.Fatalf("the reserve: %v, %v", fi, err)
	}
	const tok, spareTok = "full-disk-token-0123456789", "spare-disk-token-0123456789"
	s.CreateTenant("acme", tok)
	s.CreateTenant("spare", spareTok)
	s.Store(spareTok, map[string]any{"content": "a memory of another tenant, exported to be imported later"})
	export := adminGetRaw(t, s, "/admin/tenants/spare/export").Expect(t, 200).Raw

	// Fill the disk with batches until one is refused; a refused batch
	// stores nothing, so the acknowledged memories are those of the 201s.
	contents := map[string]string{}
	var acked []string
	var refused *Response
	for i := 0; i < 2000 && refused == nil; i++ {
		batch, texts := make([]any, 20), make([]string, 20)
		for j := range batch {
			texts[j] = fmt.Sprintf("memory %d-%d%s", i, j, strings.Repeat(" the quick brown fox jumps over the lazy dog", 40))
			batch[j] = map[string]any{"content": texts[j], "tags": []string{"fill"}}
		}
		r := s.As(tok, "POST", "/memory/batch", map[string]any{"memories": batch})
		switch r.Status {
		case 201:
			for j, id := range r.Body["memory_ids"].([]any) {
				acked = append(acked, id.(string))
				contents[id.(string)] = texts[j]
			}
		case 507:
			refused = r
		default:
			t.Fatalf("batch %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if refused == nil {
		t.Fatal("the disk never filled")
	}
	refused.ExpectError(t, 507, fullMessage)
	if refused.Body["message"] != fullMessage {
		t.Fatalf("507 message: %s", refused.Raw)
	}
	if len(acked) < 100 {
		t.Fatalf("only %d memories before the disk was full", len(acked))
	}

	// Every write of new data is refused, and says why.
	for _, w := range []struct {
		what, method, path string
		body               any
		admin              bool
	}{
		{"store", "POST", "/memory", map[string]any{"content": "one more"}, false},
		{"batch", "POST", "/memory/batch", map[string]any{"memories": []any{map[string]any{"content": "one more"}}}, false},
		{"update", "PATCH", "/memory/" + acked[1], map[string]any{"content": "changed"}, false},
		{"import", "POST", "/admin/tenants/acme/import", export, true},
		{"tenant creation", "POST", "/admin/tenants", map[string]any{"tenant_id": "newcomer", "api_token": "newcomer-token-0123456789"}, true},
		{"key creation", "POST", "/admin/tenants/acme/keys", map[string]any{"label": "late"}, true},
	} {
		var r *Response
		if w.admin {
			r = s.Admin(w.method, w.path, w.body)
		} else {
			r = s.As(tok, w.method, w.path, w.body)
		}
		if r.Status != 507 || r.Body["message"] != fullMessage {
			t.Fatalf("%s on the full disk: %d %s", w.what, r.Status, r.Raw)
		}
	}
	// Anyone may register an OAuth client: that must not spend the reserve
	// that deletes and the usage flush need.
	if r := s.Do("POST", "/oauth/register", map[string]any{"client_name": "late", "redirect_uris": []string{"http://127.0.0.1:9/cb"}}); r.Status != 507 {
		t.Fatalf("OAuth registration on the full disk: %d %s", r.Status, r.Raw)
	}
	health := s.Do("GET", "/health", nil).Expect(t, 200)
	if health.Body["status"] != "degraded" || health.Body["disk"] != "full" {
		t.Fatalf("/health on the full disk: %s", health.Raw)
	}
	if h := s.As(tok, "GET", "/health", nil).Expect(t, 200); h.Body["status"] != "degraded" || h.Body["disk"] != "full" {
		t.Fatalf("a tenant's /health on the full disk: %s", h.Raw)
	}

	// Reads work, and deletes free space.
	got := s.As(tok, "GET", "/memory/"+acked[1], nil).Expect(t, 200)
	if m := got.Body["memory"].(map[string]any); m["content"] != contents[acked[1]] {
		t.Fatalf("read on the full disk: %s", got.Raw)
	}
	if r := s.As(tok, "GET", "/recall"+Q("query", "fox", "limit", "5"), nil).Expect(t, 200); len(ids(r)) != 5 {
		t.Fatalf("recall on the full disk: %s", r.Raw)
	}
	deleted := acked[:3]
	for _, id := range deleted {
		s.As(tok, "DELETE", "/memory/"+id, nil).Expect(t, 200)
		s.As(tok, "GET", "/memory/"+id, nil).Expect(t, 404)
		delete(contents, id)
	}
	stats := s.Admin("GET", "/admin/tenants/acme/stats", nil).Expect(t, 200)
	if stats.Body["memory_count"] != float64(len(acked)-len(deleted)) {
		t.Fatalf("stats on the full disk: %s, want %d memories", stats.Raw, len(acked)-len(deleted))
	}

	// Usage counts every acknowledged memory; it is read again after the
	// restart below.
	day := mcDay(time.Now())
	usage := mcUsage(t, s, "acme", day, day).Body["totals"].(map[string]any)
	if usage["memories_stored"] != float64(len(acked)) {
		t.Fatalf("usage on the full disk: %v, want %d memories_stored", usage, len(acked))
	}

	// The disk filling is logged once; besides that, the only ERRORs are
	// the refused requests, each with its cause.
	if n := len(logLines(t, s, "the disk is full")); n != 1 {
		t.Fatalf("the full disk was logged %d times:\n%s", n, s.Logs())
	}
	for _, e := range logLines(t, s, "") {
		if e["level"] != "ERROR" || strings.Contains(e["msg"].(string), "the disk is full") {
			continue
		}
		if e["status"] != float64(507) || e["msg"] == "request failed" && !strings.Contains(fmt.Sprint(e["err"]), "disk is full") {
			t.Fatalf("an ERROR besides the full disk and its refusals: %v", e)
		}
	}

	// Space returns: /health and writes come back by themselves.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if h := s.Do("GET", "/health", nil).Expect(t, 200); h.Body["status"] != "healthy" || h.Body["disk"] != "ok" {
		t.Fatalf("/health after space returned: %s", h.Raw)
	}
	after := s.Store(tok, map[string]any{"content": "stored once space returned"})
	contents[after] = "stored once space returned"
	s.CreateTenant("newcomer", "newcomer-token-0123456789")
	if fi, err := os.Stat(filepath.Join(mnt, "data", "disk-reserve")); err != nil || fi.Size() != 2<<20 {
		t.Fatalf("the reserve after space returned: %v, %v", fi, err)
	}
	if n := len(logLines(t, s, "writes resume")); n != 1 {
		t.Fatalf("the recovery was logged %d times:\n%s", n, s.Logs())
	}

	// After a restart, every acknowledged write and its usage is there.
	s.Restart(false)
	lines, objs := exportLines(t, adminGetRaw(t, s, "/admin/tenants/acme/export").Expect(t, 200).Raw)
	found := map[string]string{}
	for _, o := range objs[1:] {
		found[o["id"].(string)] = o["content"].(string)
	}
	if len(found) != len(contents) || len(lines) != len(contents)+1 {
		t.Fatalf("after the restart: %d memories, want %d", len(found), len(contents))
	}
	for id, c := range contents {
		if found[id] != c {
			t.Fatalf("acknowledged memory %s after the restart: %.40q, want %.40q", id, found[id], c)
		}
	}
	again := mcUsage(t, s, "acme", day, day).Body["totals"].(map[string]any)
	for kind, n := range usage {
		want := n.(float64)
		switch kind {
		case "memories_stored", "embedding_calls":
			want++ // the store once space returned
		case "bytes_stored", "store", "admin":
			continue // more since, checked below
		}
		if again[kind] != want {
			t.Fatalf("usage %s after the restart: %v, want %v (%v)", kind, again[kind], want, again)
		}
	}
	if again["store"] != usage["store"].(float64)+1 || again["bytes_stored"].(float64) <= usage["bytes_stored"].(float64) {
		t.Fatalf("store usage after the restart: %v, before %v", again, usage)
	}
}
