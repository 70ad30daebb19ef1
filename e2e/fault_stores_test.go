package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultTenants is how many tenants TestFaultManyTenantsUnderLowFileLimit
// touches, the number; MNEMO_FAULT_TENANTS overrides it for a
// quicker run. On two otherwise idle cores it takes about 90 s (10,000
// tenants created, stored into and recalled in 67 s, read back in 19 s;
// no refusal, 19,996 evictions), which the e2e tests run beside.
const faultTenants = 10000

// metric reads one sample of an admin /metrics scrape ("" labels: the
// unlabelled one).
func metric(t *testing.T, s *Server, name, labels string) (float64, bool) {
	t.Helper()
	r := s.Admin("GET", "/metrics", nil).Expect(t, 200)
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(strings.NewReader(string(r.Raw)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q", want, v)
			}
			return f, true
		}
	}
	return 0, false
}

// serverErrors returns the request log lines whose status is a 5xx other
// than 503.
func serverErrors(logs string) []string {
	var out []string
	for line := range strings.Lines(logs) {
		var e struct {
			Msg    string `json:"msg"`
			Status int    `json:"status"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "request" && e.Status >= 500 && e.Status != 503 {
			out = append(out, line)
		}
	}
	return out
}

// Ten thousand tenants, each created and touched (a store and a recall)
// within one idle window, by a server whose file limit is 256: the pool
// holds at most 11 stores open (the bound derived from the limit), closes
// the least recently used to open the next, and nothing answers 500. Every
// acknowledged write is read back afterwards; any refusal is a 503 with a
// Retry-After.
func TestFaultManyTenantsUnderLowFileLimit(t *testing.T) {
	t.Parallel()
	embeddedOnly(t, "it bounds open SQLite files by the file limit")
	n := faultTenants
	if v := os.Getenv("MNEMO_FAULT_TENANTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	const workers = 8
	s := startLimited(t, memoryDir(t), 256, map[string]string{"MNEMO_STORE_IDLE_TIMEOUT": "1h"})
	if !strings.Contains(s.Logs(), `"max_open_stores":11`) {
		t.Fatalf("the bound is not derived from the file limit of 256 ((256-128)/11 = 11):\n%s", s.Logs())
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: time.Minute}
	defer client.CloseIdleConnections()

	type tenant struct{ id, token, memory, content string }
	tenants := make([]tenant, n)
	var next, refusals atomic.Int64
	errs := make(chan error, workers)
	began := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var refused int
			defer func() { refusals.Add(int64(refused)) }()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				tn := tenant{id: fmt.Sprintf("f%05d", i), token: fmt.Sprintf("fault-token-%05d-0123456789ab", i)}
				tn.content = "the parcel for " + tn.id + " left on tuesday"
				if _, err := retrying(client, "POST", s.URL+"/admin/tenants", adminToken, map[string]any{"tenant_id": tn.id, "api_token": tn.token}, 201, &refused); err != nil {
					errs <- err
					return
				}
				a, err := retrying(client, "POST", s.URL+"/memory", tn.token, map[string]any{"content": tn.content, "tags": []string{"parcel"}}, 201, &refused)
				if err != nil {
					errs <- err
					return
				}
				tn.memory, _ = a.body["memory_id"].(string)
				a, err = retrying(client, "GET", s.URL+"/recall?"+url.Values{"query": {"parcel " + tn.id}}.Encode(), tn.token, nil, 200, &refused)
				if err != nil {
					errs <- err
					return
				}
				if !strings.Contains(string(a.raw), tn.memory) {
					errs <- fmt.Errorf("recall of %s does not find its memory %s: %s", tn.id, tn.memory, a.raw)
					return
				}
				tenants[i] = tn
			}
		})
	}
	wg.Wait()
	touched := time.Since(began)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Every acknowledged write is there.
	next.Store(0)
	errs = make(chan error, workers)
	var refused int
	for range workers {
		wg.Go(func() {
			var mine int
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				tn := tenants[i]
				a, err := retrying(client, "GET", s.URL+"/memory/"+tn.memory, tn.token, nil, 200, &mine)
				if err != nil {
					errs <- err
					return
				}
				if !strings.Contains(string(a.raw), tn.content) {
					errs <- fmt.Errorf("memory %s of %s: %s", tn.memory, tn.id, a.raw)
					return
				}
			}
			refusals.Add(int64(mine))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	_ = refused

	if bad := serverErrors(s.Logs()); len(bad) > 0 {
		t.Fatalf("%d answers were a 5xx other than 503, first: %s", len(bad), bad[0])
	}
	if v, _ := metric(t, s, "mnemo_stores_max_open", ""); v != 11 {
		t.Fatalf("mnemo_stores_max_open = %v, want 11", v)
	}
	if v, _ := metric(t, s, "mnemo_stores_open", ""); v > 11 {
		t.Fatalf("mnemo_stores_open = %v, more than the bound", v)
	}
	evictions, _ := metric(t, s, "mnemo_store_evictions_total", "")
	if evictions < float64(n-11) {
		t.Fatalf("mnemo_store_evictions_total = %v, want at least %d: the bound did not hold", evictions, n-11)
	}
	if got := s.Do("GET", "/health", nil).Expect(t, 200).Body["stores"].(map[string]any); got["max_open"] != float64(11) {
		t.Fatalf("/health stores = %v", got)
	}
	t.Logf("%d tenants created, stored into and recalled in %v (%.0f tenants/s); all read back in %v; %d refusals (503), %v evictions",
		n, touched.Round(time.Millisecond), float64(n)/touched.Seconds(), (time.Since(began) - touched).Round(time.Millisecond), refusals.Load(), evictions)
}

// damagedFixture is a server with three tenants of 50 acknowledged
// memories each, and a backup taken of them.
type damagedFixture struct {
	s       *Server
	tokens  map[string]string
	ids     map[string][]string
	archive string
}

func newDamagedFixture(t *testing.T) *damagedFixture {
	t.Helper()
	f := &damagedFixture{s: Start(t, nil), tokens: map[string]string{}, ids: map[string][]string{}}
	for _, id := range []string{"good", "zero", "corrupt"} {
		f.tokens[id] = "token-of-" + id + "-0123456789abcdef"
		f.s.CreateTenant(id, f.tokens[id])
		var items []map[string]any
		for i := range 50 {
			items = append(items, map[string]any{"content": fmt.Sprintf("%s remembers item %d of the ledger", id, i)})
		}
		r := f.s.As(f.tokens[id], "POST", "/memory/batch", map[string]any{"memories": items}).Expect(t, 201)
		for _, v := range r.Body["memory_ids"].([]any) {
			f.ids[id] = append(f.ids[id], v.(string))
		}
	}
	f.archive = filepath.Join(t.TempDir(), "before.tar.gz")
	if out, err := mnemoCmd("backup", "--data-dir", f.s.DataDir, "--out", f.archive); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	return f
}

// expectDamaged checks that a tenant's requests answer the damaged 503.
func (f *damagedFixture) expectDamaged(t *testing.T, id string) {
	t.Helper()
	for _, r := range []*Response{
		f.s.As(f.tokens[id], "POST", "/memory", map[string]any{"content": "written to a damaged store"}),
		f.s.As(f.tokens[id], "GET", "/recall?query=ledger", nil),
		f.s.As(f.tokens[id], "GET", "/memory/"+f.ids[id][0], nil),
	} {
		r.ExpectError(t, 503, "The data store of tenant '"+id+"' is damaged and out of service until the operator restores it")
		if r.Header.Get("Retry-After") != "60" {
			t.Fatalf("damaged answer with Retry-After %q, want 60", r.Header.Get("Retry-After"))
		}
	}
}

// expectIntact checks that every acknowledged memory of a tenant is there.
func (f *damagedFixture) expectIntact(t *testing.T, s *Server, id string) {
	t.Helper()
	for i, mid := range f.ids[id] {
		r := s.As(f.tokens[id], "GET", "/memory/"+mid, nil).Expect(t, 200)
		if want := fmt.Sprintf("%s remembers item %d of the ledger", id, i); !strings.Contains(string(r.Raw), want) {
			t.Fatalf("memory %s of %s: %s", mid, id, r.Raw)
		}
	}
}

// A tenant file truncated to 0 bytes and one whose header is overwritten,
// with the server stopped and started again: those tenants answer 503
// damaged, the other is unaffected, /health and /metrics name them,
// nothing is re-created empty, backup and export skip them and save the
// rest, and the operator's restore brings them back with every memory.
func TestFaultDamagedTenants(t *testing.T) {
	t.Parallel()
	embeddedOnly(t, "it damages tenants' SQLite files")
	f := newDamagedFixture(t)
	s := f.s
	s.Stop()
	if err := os.Truncate(s.storeFile("zero"), 0); err != nil {
		t.Fatal(err)
	}
	damage(t, s.storeFile("corrupt"), 0, []byte("this is no db!!!"))
	s.start()

	f.expectDamaged(t, "zero")
	f.expectDamaged(t, "corrupt")
	f.expectIntact(t, s, "good")
	s.As(f.tokens["good"], "POST", "/memory", map[string]any{"content": "good still writes"}).Expect(t, 201)
	if fi, err := os.Stat(s.storeFile("zero")); err != nil || fi.Size() != 0 {
		t.Fatalf("the truncated store was re-created: %v %v", fi, err)
	}

	// /health: degraded; the anonymous view counts, the operator's names.
	h := s.Do("GET", "/health", nil).Expect(t, 200).Body
	if h["status"] != "degraded" || h["stores"].(map[string]any)["damaged"] != float64(2) || h["stores"].(map[string]any)["damaged_tenants"] != nil {
		t.Fatalf("anonymous /health = %v", h)
	}
	h = s.Do("GET", "/health", nil, "X-Admin-Token", adminToken).Expect(t, 200).Body
	var named []string
	stores, _ := h["stores"].(map[string]any)
	list, _ := stores["damaged_tenants"].([]any)
	for _, d := range list {
		if d, ok := d.(map[string]any); ok {
			named = append(named, fmt.Sprint(d["tenant_id"]))
		}
	}
	if h["status"] != "degraded" || strings.Join(named, ",") != "corrupt,zero" {
		t.Fatalf("operator /health = %v", h)
	}
	s.Do("GET", "/health", nil, "X-Admin-Token", "wrong-admin-token-0123456789").ExpectError(t, 401, "")
	if h := s.As(f.tokens["zero"], "GET", "/health", nil).Expect(t, 200).Body; h["status"] != "degraded" {
		t.Fatalf("the damaged tenant's own /health = %v", h)
	}
	if h := s.As(f.tokens["good"], "GET", "/health", nil).Expect(t, 200).Body; h["status"] != "healthy" || h["stores"] != nil {
		t.Fatalf("a healthy tenant's /health = %v", h)
	}
	for labels, want := range map[string]float64{"": 2, `tenant="zero"`: 1, `tenant="corrupt"`: 1} {
		name := "mnemo_store_damaged"
		if labels == "" {
			name = "mnemo_stores_damaged"
		}
		if v, ok := metric(t, s, name, labels); !ok || v != want {
			t.Fatalf("%s{%s} = %v (present %v), want %v", name, labels, v, ok, want)
		}
	}
	if logs := s.Logs(); !strings.Contains(logs, `"msg":"tenant store is damaged`) || !strings.Contains(logs, `"tenant":"zero"`) {
		t.Fatalf("the damage is not logged:\n%s", logs)
	}

	// Export skips a damaged tenant: a 503 before any byte.
	s.Admin("GET", "/admin/tenants/zero/export", nil).ExpectError(t, 503, "damaged")
	if a, err := call(http.DefaultClient, "GET", s.URL+"/admin/tenants/good/export", adminToken, nil); err != nil || a.status != 200 {
		t.Fatalf("export of a healthy tenant: %v %v", a, err)
	}

	// GET /backup saves the healthy tenant and names the others.
	resp, err := http.DefaultClient.Do(func() *http.Request {
		req, _ := http.NewRequest("GET", s.URL+"/backup", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		return req
	}())
	if err != nil {
		t.Fatal(err)
	}
	httpArchive := filepath.Join(t.TempDir(), "http.tar.gz")
	out, _ := os.Create(httpArchive)
	if _, err := out.ReadFrom(resp.Body); err != nil {
		t.Fatalf("GET /backup cut off: %v", err)
	}
	out.Close()
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Trailer.Get("X-Mnemo-Skipped-Tenants") != "corrupt,zero" {
		t.Fatalf("GET /backup: %d, skipped trailer %q", resp.StatusCode, resp.Trailer.Get("X-Mnemo-Skipped-Tenants"))
	}

	// mnemo backup does the same, says so, and exits 3.
	cliArchive := filepath.Join(t.TempDir(), "cli.tar.gz")
	cmd := exec.Command(binary, "backup", "--data-dir", s.DataDir, "--out", cliArchive)
	text, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("mnemo backup with damaged tenants: exit %d (%v), want 3:\n%s", code, err, text)
	}
	for _, want := range []string{"skipped tenant zero: its store is damaged", "skipped tenant corrupt: its store is damaged", "2 damaged tenants skipped", "1 tenants"} {
		if !strings.Contains(string(text), want) {
			t.Fatalf("mnemo backup output lacks %q:\n%s", want, text)
		}
	}
	// Both archives restore; the healthy tenant comes back whole, the
	// skipped ones keep their keys and are damaged (missing), not empty.
	for _, archive := range []string{httpArchive, cliArchive} {
		dir := filepath.Join(t.TempDir(), "restored")
		if out, err := mnemoCmd("restore", "--data-dir", dir, archive); err != nil {
			t.Fatalf("restore %s: %v\n%s", archive, err, out)
		}
		r := startOn(t, dir)
		f.expectIntact(t, r, "good")
		r.As(f.tokens["zero"], "GET", "/memory/"+f.ids["zero"][0], nil).ExpectError(t, 503, "damaged")
		r.Stop()
	}

	// The operator's way back: each tenant's store from the earlier
	// backup, while the server runs. Every acknowledged memory returns.
	if out, err := mnemoCmd("restore", "--data-dir", s.DataDir, "--tenant", "good", f.archive); err == nil || !strings.Contains(out, "not damaged") {
		t.Fatalf("restore --tenant over a healthy store: %v\n%s", err, out)
	}
	// Rolling a healthy tenant back is refused while the server runs: it
	// holds the registry open, and its newer acknowledged writes would go.
	if out, err := mnemoCmd("restore", "--data-dir", s.DataDir, "--tenant", "good", "--force", f.archive); err == nil ||
		!strings.Contains(out, "a server (or a backup) is using") {
		t.Fatalf("restore --tenant --force under a running server: %v\n%s", err, out)
	}
	s.As(f.tokens["good"], "POST", "/memory", map[string]any{"content": "good writes after the refused restore"}).Expect(t, 201)
	for _, id := range []string{"zero", "corrupt"} {
		out, err := mnemoCmd("restore", "--data-dir", s.DataDir, "--tenant", id, f.archive)
		if err != nil || !strings.Contains(out, "restored tenant "+id+" (incarnation 1, created ") {
			t.Fatalf("restore --tenant %s: %v\n%s", id, err, out)
		}
		f.expectIntact(t, s, id)
		s.As(f.tokens[id], "POST", "/memory", map[string]any{"content": "written after the restore"}).Expect(t, 201)
	}
	if h := s.Do("GET", "/health", nil).Expect(t, 200).Body; h["status"] != "healthy" || h["stores"].(map[string]any)["damaged"] != float64(0) {
		t.Fatalf("/health after the restores = %v", h)
	}
	if v, _ := metric(t, s, "mnemo_stores_damaged", ""); v != 0 {
		t.Fatalf("mnemo_stores_damaged after the restores = %v", v)
	}
	if bad := serverErrors(s.Logs()); len(bad) > 0 {
		t.Fatalf("a 5xx other than 503: %s", bad[0])
	}
	if matches, _ := filepath.Glob(filepath.Join(s.DataDir, "tenants", ".orphan-zero-damaged-*", "memories.db")); len(matches) != 1 {
		t.Fatalf("the damaged file of zero was not kept: %v", matches)
	}
}

// A page in the middle of a store overwritten while the server is down is
// found by the quick_check of the store's first open; the other way back,
// deleting the tenant and importing its export into a new one, works too.
func TestFaultCorruptPageAndReimport(t *testing.T) {
	t.Parallel()
	embeddedOnly(t, "it corrupts a tenant's SQLite file")
	f := newDamagedFixture(t)
	s := f.s
	a, err := call(http.DefaultClient, "GET", s.URL+"/admin/tenants/corrupt/export", adminToken, nil)
	if err != nil || a.status != 200 {
		t.Fatalf("export: %v %v", a, err)
	}
	export := a.raw
	s.Stop()
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = 0xEE
	}
	damage(t, s.storeFile("corrupt"), 3*4096, garbage)
	s.start()
	f.expectDamaged(t, "corrupt")
	f.expectIntact(t, s, "good")
	if !regexp.MustCompile(`"reason":"SQLite's quick_check failed`).MatchString(s.Logs()) {
		t.Fatalf("the quick_check finding is not logged:\n%s", s.Logs())
	}

	s.Admin("DELETE", "/admin/tenants/corrupt", nil).Expect(t, 200)
	s.CreateTenant("corrupt", f.tokens["corrupt"])
	s.Do("POST", "/admin/tenants/corrupt/import", string(export), "Authorization", "Bearer "+adminToken).Expect(t, 200)
	for _, mid := range f.ids["corrupt"] {
		s.As(f.tokens["corrupt"], "GET", "/memory/"+mid, nil).Expect(t, 200)
	}
	if h := s.Do("GET", "/health", nil).Expect(t, 200).Body; h["status"] != "healthy" {
		t.Fatalf("/health after the re-import = %v", h)
	}
	// The backup holds the deleted tenant's store, not the new one's: a
	// restore of it is refused, even forced with the server stopped.
	s.Stop()
	if out, err := mnemoCmd("restore", "--data-dir", s.DataDir, "--tenant", "corrupt", "--force", f.archive); err == nil ||
		!regexp.MustCompile(`the backup's tenant "corrupt" is incarnation 1, created [^,]+, but the live one is incarnation 2, created `).MatchString(out) {
		t.Fatalf("restore --tenant of an earlier incarnation: %v\n%s", err, out)
	}
	s.start()
	for _, mid := range f.ids["corrupt"] {
		s.As(f.tokens["corrupt"], "GET", "/memory/"+mid, nil).Expect(t, 200)
	}
}
