package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The abuse suite for MCP, authentication and the files and keys of the
// service (issue 9): each attack gets its 4xx in AutoMem's envelope, the
// server stays up, and what it holds stays bounded.

// mcpRequest is a POST of body to /mcp as an MCP client sends it, with
// token and session when they are set.
func mcpRequest(t *testing.T, s *Server, token, session string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", s.URL+"/mcp", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	return req
}

// mcpRaw posts body to /mcp and returns the status, the headers and the
// body.
func mcpRaw(t *testing.T, s *Server, token, session string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(mcpRequest(t, s, token, session, body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// initialize is an initialize request whose capabilities carry pad bytes.
func initialize(pad int, clientInfo map[string]any) []byte {
	if clientInfo == nil {
		clientInfo = map[string]any{"name": "abuse", "version": "0"}
	}
	raw, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-06-18", "clientInfo": clientInfo,
		"capabilities": map[string]any{"experimental": map[string]any{"pad": strings.Repeat("x", pad)}}}})
	return raw
}

// mcpRefused checks that /mcp refused a request with status, in AutoMem's
// envelope with a message containing want, and opened no session.
func mcpRefused(t *testing.T, what string, status int, h http.Header, body []byte, wantStatus int, want string) {
	t.Helper()
	var env map[string]any
	json.Unmarshal(body, &env)
	if status != wantStatus || env["status"] != "error" || env["code"] != float64(wantStatus) || !strings.Contains(fmt.Sprint(env["message"]), want) {
		t.Fatalf("%s: %d %s, want %d with %q in AutoMem's envelope", what, status, body, wantStatus, want)
	}
	if id := h.Get("Mcp-Session-Id"); id != "" {
		t.Fatalf("%s: refused, yet a session %s was opened", what, id)
	}
}

// TestAbuseMCPSuspendedOrRateLimitedTenantGetsNoSession: status, rate
// limit and scopes hold for every HTTP request to /mcp, not only for tool
// calls: a suspended tenant gets its 423, a rate-limited one its 429, never
// a session; a live session stops at the next request; a tool call takes
// one rate-limit token and counts once in usage.
func TestAbuseMCPSuspendedOrRateLimitedTenantGetsNoSession(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-mcp-token-0123456789")
	s.CreateTenant("bravo", "bravo-mcp-token-0123456789")
	session := mcpInit(t, s, "alpha-mcp-token-0123456789")

	s.Admin("PATCH", "/admin/tenants/alpha", map[string]any{"status": "suspended", "status_reason": "unpaid"}).Expect(t, 200)
	code, h, body := mcpRaw(t, s, "alpha-mcp-token-0123456789", "", initialize(0, nil))
	mcpRefused(t, "initialize by a suspended tenant", code, h, body, 423, "Tenant 'alpha' is suspended: unpaid")
	code, h, body = mcpRaw(t, s, "alpha-mcp-token-0123456789", session, []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`))
	mcpRefused(t, "a live session of a suspended tenant", code, h, body, 423, "suspended")
	req, _ := http.NewRequest("GET", s.URL+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer alpha-mcp-token-0123456789")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 423 {
		t.Fatalf("the event stream of a suspended tenant: %d", resp.StatusCode)
	}

	// A rate limit of a burst of 4: initialize, initialized, one tool
	// call (one token, not two), and the next request is a 429.
	s.Admin("PATCH", "/admin/tenants/bravo", map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.001, "burst": 4}}).Expect(t, 200)
	bravo := mcpInit(t, s, "bravo-mcp-token-0123456789")
	code, h, body = mcpRaw(t, s, "bravo-mcp-token-0123456789", bravo, []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"recall_memory","arguments":{"query":"x"}}}`))
	if code != 200 || h.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("tool call: %d remaining %q %s", code, h.Get("X-RateLimit-Remaining"), body)
	}
	code, h, body = mcpRaw(t, s, "bravo-mcp-token-0123456789", bravo, []byte(`{"jsonrpc":"2.0","id":3,"method":"ping"}`))
	if code != 200 || h.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("ping: %d remaining %q %s", code, h.Get("X-RateLimit-Remaining"), body)
	}
	code, h, body = mcpRaw(t, s, "bravo-mcp-token-0123456789", "", initialize(0, nil))
	mcpRefused(t, "initialize over the rate limit", code, h, body, 429, "Rate limit exceeded")
	if h.Get("Retry-After") == "" || h.Get("X-RateLimit-Limit") != "4" {
		t.Fatalf("429 without Retry-After or X-RateLimit headers: %v", h)
	}
	u := s.Admin("GET", "/admin/tenants/bravo/usage", nil).Expect(t, 200).Body["totals"].(map[string]any)
	if u["recall"] != float64(1) || u["mcp"] != nil {
		t.Fatalf("usage after one tool call and protocol messages: %v, want recall 1 and no more", u)
	}
	s.ExpectUp(t)
}

// TestAbuseMCPSessionCaps: a tenant may hold MNEMO_MCP_TENANT_MAX_SESSIONS
// sessions and the server MNEMO_MCP_MAX_SESSIONS; past them a new session is
// a 429 that says what to do, and ending one makes room.
func TestAbuseMCPSessionCaps(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_MCP_TENANT_MAX_SESSIONS": "3", "MNEMO_MCP_MAX_SESSIONS": "5"})
	s.CreateTenant("alpha", "alpha-mcp-token-0123456789")
	s.CreateTenant("bravo", "bravo-mcp-token-0123456789")
	var alpha []string
	for range 3 {
		alpha = append(alpha, mcpInit(t, s, "alpha-mcp-token-0123456789"))
	}
	code, h, body := mcpRaw(t, s, "alpha-mcp-token-0123456789", "", initialize(0, nil))
	mcpRefused(t, "a fourth session of one tenant", code, h, body, 429, "Too many MCP sessions for tenant 'alpha': at most 3")
	if h.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// A failed initialize holds no session.
	for range 5 {
		mcpRaw(t, s, "bravo-mcp-token-0123456789", "", []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	}
	mcpInit(t, s, "bravo-mcp-token-0123456789")
	mcpInit(t, s, "bravo-mcp-token-0123456789")
	code, h, body = mcpRaw(t, s, "bravo-mcp-token-0123456789", "", initialize(0, nil))
	mcpRefused(t, "a session past the server's cap", code, h, body, 429, "maximum of 5 MCP sessions")
	if m := string(s.Admin("GET", "/metrics", nil).Expect(t, 200).Raw); !strings.Contains(m, `mnemo_refusals_total{reason="mcp_sessions"} 2`) {
		t.Fatalf("the refusals are not in /metrics:\n%s", m)
	}
	// The sessions that are open still work; ending one makes room.
	if code, out := mcpHealthCall(t, s, "alpha-mcp-token-0123456789", alpha[0]); code != 200 || out["result"] == nil {
		t.Fatalf("an open session: %d %v", code, out)
	}
	req, _ := http.NewRequest("DELETE", s.URL+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer alpha-mcp-token-0123456789")
	req.Header.Set("Mcp-Session-Id", alpha[0])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, h, _ := mcpRaw(t, s, "bravo-mcp-token-0123456789", "", initialize(0, nil))
		if code == 200 && h.Get("Mcp-Session-Id") != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed session was never given back: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAbuseMCPInitializeFlood: the request that opens a session is held to
// 16 KiB and a clientInfo of 1 KiB, and sessions are capped, so a flood of
// large initialize requests from several tenants leaves the server's
// memory bounded (it grew by 660 MB in 5 s before).
func TestAbuseMCPInitializeFlood(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tokens := []string{"flood-a-token-0123456789ab", "flood-b-token-0123456789ab", "flood-c-token-0123456789ab"}
	for i, tok := range tokens {
		s.CreateTenant(fmt.Sprintf("flood%d", i), tok)
	}
	code, h, body := mcpRaw(t, s, tokens[0], "", initialize(20<<10, nil))
	mcpRefused(t, "a 20 KiB initialize", code, h, body, 413, "exceeds the limit of 16384 bytes")
	code, h, body = mcpRaw(t, s, tokens[0], "", initialize(0, map[string]any{"name": strings.Repeat("n", 2000), "version": "1"}))
	mcpRefused(t, "a 2 KB clientInfo", code, h, body, 400, "'clientInfo' of initialize must be at most 1024 bytes")
	// A tool call in a session may be larger, up to MNEMO_MCP_MAX_BODY_BYTES.
	session := mcpInit(t, s, tokens[0])
	code, _, body = mcpRaw(t, s, tokens[0], session, []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"store_memory","arguments":{"content":"big","metadata":{"pad":"`+strings.Repeat("y", 40<<10)+`"}}}}`))
	if code != 200 {
		t.Fatalf("a 40 KiB tool call: %d %s", code, body)
	}
	code, h, body = mcpRaw(t, s, tokens[0], session, bytes.Repeat([]byte(" "), 2<<20))
	mcpRefused(t, "a 2 MiB message", code, h, body, 413, "exceeds the limit of 1048576 bytes")

	before := s.Footprint(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for w := range 6 {
		wg.Go(func() {
			client := &http.Client{}
			for i := range 60 {
				body := initialize(15<<10, nil) // just under the limit: the most a session may hold
				if i%3 == 0 {
					body = initialize(200<<10, nil)
				}
				req, _ := http.NewRequest("POST", s.URL+"/mcp", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Authorization", "Bearer "+tokens[w%len(tokens)])
				resp, err := client.Do(req)
				if err != nil {
					continue // the server may close a connection whose body is too large
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("statuses %v; RSS %d -> %d MiB", statuses, before.RSS>>20, s.RSS(t)>>20)
	// 32 sessions per tenant: the rest refused, the oversized ones too.
	if statuses[200] != 3*32-1 || statuses[429] == 0 || statuses[413] == 0 {
		t.Fatalf("statuses %v: want %d sessions opened, then 429s, and 413s", statuses, 3*32-1)
	}
	s.ExpectBounded(t, before, 48<<20, 1<<20)
}

// TestAbuseMCPIdleSessionsExpire: a session without a request for
// MNEMO_MCP_SESSION_TIMEOUT is closed and its place given back; the stdio
// bridge keeps the session of a client that is still running alive.
func TestAbuseMCPIdleSessionsExpire(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_MCP_SESSION_TIMEOUT": "1s", "MNEMO_MCP_TENANT_MAX_SESSIONS": "1"})
	s.CreateTenant("alpha", "alpha-mcp-token-0123456789")
	session := mcpInit(t, s, "alpha-mcp-token-0123456789")
	code, h, body := mcpRaw(t, s, "alpha-mcp-token-0123456789", "", initialize(0, nil))
	mcpRefused(t, "a second session", code, h, body, 429, "or for one to sit idle for 1s")
	time.Sleep(2500 * time.Millisecond)
	if code, _ := mcpHealthCall(t, s, "alpha-mcp-token-0123456789", session); code != 404 {
		t.Fatalf("a session idle past its timeout answered %d, want 404", code)
	}
	mcpInit(t, s, "alpha-mcp-token-0123456789") // its place was given back

	t.Run("bridge keepalive", func(t *testing.T) {
		s := Start(t, map[string]string{"MNEMO_MCP_SESSION_TIMEOUT": "1s"})
		s.CreateTenant("alpha", "alpha-mcp-token-0123456789")
		steps := []map[string]any{
			{"op": "call", "tool": "store_memory", "args": map[string]any{"content": "before the pause"}},
			{"op": "sleep", "ms": 2500},
			{"op": "call", "tool": "recall_memory", "args": map[string]any{"query": "pause"}},
		}
		out, stderr, err := tryMCPClientEnv(t, "stdio", s, "alpha-mcp-token-0123456789", steps, map[string]string{"MNEMO_MCP_KEEPALIVE": "300ms"})
		if err != nil {
			t.Fatal(err)
		}
		mcpOK(t, out, 2)
		if strings.Contains(stderr, "transport error") { // such as a ping's answer reaching the client
			t.Fatalf("the bridge's pings disturbed the client: %s", stderr)
		}
		// Without the pings the session ends under the idle client.
		out, _, err = tryMCPClientEnv(t, "stdio", s, "alpha-mcp-token-0123456789", steps, map[string]string{"MNEMO_MCP_KEEPALIVE": "0"})
		if err == nil && out[2]["error"] == nil {
			t.Fatalf("without keepalive the session outlived its timeout: %v", out[2])
		}
	})
}

// TestAbuseAuthThrottleKeepsValidKeys: 31 bad requests from one address (a
// NAT, a proxy, a connector's egress) no longer lock out every tenant and
// the operator there: a valid key of 24 characters or more still works,
// over HTTP and /mcp, while failures get 429 (on /mcp too, not 401, which
// would make a client discard its token).
func TestAbuseAuthThrottleKeepsValidKeys(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_AUTH_FAILURES_PER_MINUTE": "30"})
	s.CreateTenant("alpha", "alpha-token-0123456789")
	key := s.Admin("POST", "/admin/tenants/alpha/keys", map[string]any{"label": "generated"}).Expect(t, 201).Body["api_token"].(string)
	for i := range 31 {
		s.As(fmt.Sprintf("attacker-guess-%04d", i), "GET", "/recall", nil)
	}
	for range 40 { // no credential at all: not counted, never refused
		s.Do("GET", "/recall", nil).ExpectError(t, 401, "Unauthorized")
	}
	s.As(key, "GET", "/recall"+Q("query", "x"), nil).Expect(t, 200)
	s.Do("GET", "/recall"+Q("query", "x"), nil, "X-API-Key", key).Expect(t, 200)
	s.Admin("GET", "/admin/tenants", nil).Expect(t, 200)
	mcpInit(t, s, key)
	code, h, body := mcpRaw(t, s, "attacker-guess-9999", "", initialize(0, nil))
	mcpRefused(t, "/mcp with a bad key from the throttled address", code, h, body, 429, "Too many failed authentications")
	if h.Get("Retry-After") == "" || h.Get("Www-Authenticate") != "" {
		t.Fatalf("throttled /mcp: Retry-After %q, WWW-Authenticate %q", h.Get("Retry-After"), h.Get("Www-Authenticate"))
	}
	s.As("attacker-guess-9999-long-enough-to-be-strong", "GET", "/recall", nil).ExpectError(t, 429, "Too many failed authentications")
	// A short client key could be a lucky guess: it waits out the minute.
	s.As("alpha-token-0123456789", "GET", "/recall", nil).ExpectError(t, 429, "Too many failed authentications")
	// A request without a key still learns where to get one.
	code, h, _ = mcpRaw(t, s, "", "", initialize(0, nil))
	if code != 401 || !strings.Contains(h.Get("Www-Authenticate"), "resource_metadata") {
		t.Fatalf("/mcp without a key: %d %v", code, h)
	}
}

// TestAbuseAuthThrottleCannotBeFlushed: cycling through more client
// addresses than the throttle remembers (MNEMO_AUTH_THROTTLE_MAX_ENTRIES)
// does not lift a throttle; IPv6 addresses count by their /64.
func TestAbuseAuthThrottleCannotBeFlushed(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_AUTH_FAILURES_PER_MINUTE": "3", "MNEMO_TRUSTED_PROXIES": "127.0.0.1/32",
		"MNEMO_AUTH_THROTTLE_MAX_ENTRIES": "200"})
	s.CreateTenant("alpha", "alpha-token-0123456789")
	from := func(addr, token string) *Response {
		return s.Do("GET", "/recall", nil, "Authorization", "Bearer "+token, "X-Forwarded-For", addr)
	}
	for range 3 {
		from("203.0.113.7", "wrong-token-0001").ExpectError(t, 401, "Unauthorized")
	}
	from("203.0.113.7", "alpha-token-0123456789").ExpectError(t, 429, "Too many failed authentications")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < 1000; i += 4 {
				req, _ := http.NewRequest("GET", s.URL+"/recall", nil)
				req.Header.Set("Authorization", fmt.Sprintf("Bearer cycling-%04d-long-enough-to-be-looked-up", i))
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", i/250, i%250))
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	from("203.0.113.7", "alpha-token-0123456789").ExpectError(t, 429, "Too many failed authentications")
	from("203.0.113.8", "alpha-token-0123456789").Expect(t, 200)

	for i := range 3 {
		from(fmt.Sprintf("2001:db8:5:6::%x", i+1), "ipv6-wrong-token-0002").ExpectError(t, 401, "Unauthorized")
	}
	from("2001:db8:5:6:abcd::99", "alpha-token-0123456789").ExpectError(t, 429, "Too many failed authentications")
	from("2001:db8:5:7::1", "alpha-token-0123456789").Expect(t, 200)
}

// TestAbuseFilesArePrivate: the databases a tenant's data lives in, with
// their -wal and -shm, are 0600 and their directories 0700, as is a backup.
func TestAbuseFilesArePrivate(t *testing.T) {
	t.Parallel()
	embeddedOnly(t, "it checks the data directory's file modes")
	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-token-0123456789")
	s.Store("alpha-token-0123456789", map[string]any{"content": "a private memory"})
	seen := map[string]bool{}
	filepath.WalkDir(s.DataDir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		rel, _ := filepath.Rel(s.DataDir, p)
		if rel == "." {
			return nil // the test made it
		}
		seen[rel] = true
		want := fs.FileMode(0o600)
		if e.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s is %v, want %v", rel, info.Mode().Perm(), want)
		}
		return nil
	})
	for _, f := range []string{"registry.db", "registry.db-wal", "tenants", "tenants/alpha", "tenants/alpha/memories.db", "tenants/alpha/memories.db-wal"} {
		if !seen[f] {
			t.Errorf("%s missing from %v", f, seen)
		}
	}
	out := filepath.Join(t.TempDir(), "backup.tar.gz")
	if msg, err := exec.Command(binary, "backup", "--data-dir", s.DataDir, "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("mnemo backup: %v\n%s", err, msg)
	}
	if info, err := os.Stat(out); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", info.Mode(), err)
	}
}

// TestAbuseShortClientKeys: a client-chosen key under 24 characters is
// accepted (the seed's own test-token works) with a warning; an operator
// can set a minimum.
func TestAbuseShortClientKeys(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	r := s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "seed", "api_token": "test-token"}).Expect(t, 201)
	if w, _ := r.Body["warning"].(string); !strings.Contains(w, "shorter than 24 characters") {
		t.Fatalf("no warning for a 10-character key: %s", r.Raw)
	}
	s.As("test-token", "GET", "/recall", nil).Expect(t, 200)
	for _, body := range []map[string]any{{"tenant_id": "long", "api_token": "a-client-key-of-24-chars"}, {"tenant_id": "generated"}} {
		if r := s.Admin("POST", "/admin/tenants", body).Expect(t, 201); r.Body["warning"] != nil {
			t.Fatalf("a warning for %v: %s", body, r.Raw)
		}
	}

	strict := Start(t, map[string]string{"MNEMO_MIN_CLIENT_TOKEN_LENGTH": "24"})
	strict.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "seed", "api_token": "test-token"}).
		ExpectError(t, 400, "'api_token' must be a string of 24 to 512 characters")
	strict.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "long", "api_token": "a-client-key-of-24-chars"}).Expect(t, 201)
}

// TestAbuseQueryKeysNeverLogged: ?api_key= works by default, as AutoMem's
// clients need, can be switched off, and never reaches a log line, not even
// at debug level, on any path: success, refusal, bad input, unknown route,
// /mcp.
func TestAbuseQueryKeysNeverLogged(t *testing.T) {
	t.Parallel()
	const good, bad = "query-key-secret-0123456789", "query-key-wrong-0123456789"
	for _, allow := range []string{"true", "false"} {
		s := Start(t, map[string]string{"MNEMO_LOG_LEVEL": "debug", "MNEMO_ALLOW_QUERY_TOKEN": allow, "MNEMO_AUTH_FAILURES_PER_MINUTE": "3"})
		s.CreateTenant("alpha", good)
		want := 200
		if allow == "false" {
			want = 401
		}
		s.Do("GET", "/recall"+Q("api_key", good, "query", "x"), nil).Expect(t, want)
		s.Do("POST", "/memory"+Q("api_key", good), map[string]any{"content": "via query"}, "Idempotency-Key", "k1").Expect(t, map[int]int{200: 201, 401: 401}[want])
		s.Do("GET", "/recall"+Q("api_key", good, "limit", "abc"), nil)
		s.Do("GET", "/memory/not-a-uuid"+Q("api_key", good), nil)
		s.Do("GET", "/no/such/route"+Q("api_key", good), nil).Expect(t, 404)
		s.Do("GET", "/health"+Q("api_key", good), nil).Expect(t, 200)
		s.Do("GET", "/admin/tenants"+Q("api_key", good), nil).Expect(t, 401)
		for range 5 {
			s.Do("GET", "/recall"+Q("api_key", bad), nil)
		}
		s.Do("POST", "/mcp"+Q("api_key", good), string(initialize(0, nil)))
		s.Stop()
		logs := s.Logs()
		if !strings.Contains(logs, `"path":"/recall"`) {
			t.Fatalf("the request log is missing: %s", logs)
		}
		if strings.Contains(logs, "query-key") {
			t.Fatalf("MNEMO_ALLOW_QUERY_TOKEN=%s: a query-string key reached the log:\n%s", allow, logs)
		}
	}
}

// TestAbuseMCPBridgeKey: `mnemo mcp --token` would put the key in every
// user's ps; it is refused with what to do instead. The key comes from the
// environment or from --key-file.
func TestAbuseMCPBridgeKey(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary, "mcp", "--url", "http://127.0.0.1:1", "--token", "alpha-token-0123456789")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--token is refused") || !strings.Contains(string(out), "MNEMO_API_KEY") {
		t.Fatalf("mnemo mcp --token: %v\n%s", err, out)
	}
	cmd = exec.Command(binary, "mcp", "--url", "http://127.0.0.1:1")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "set MNEMO_API_KEY") {
		t.Fatalf("mnemo mcp without a key: %v\n%s", err, out)
	}

	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-token-0123456789")
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("alpha-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(binary, "mcp", "--url", s.URL, "--key-file", keyFile)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write(append(initialize(0, nil), '\n'))
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	stdin.Close()
	cmd.Wait()
	if !strings.Contains(line, `"serverInfo"`) || !strings.Contains(line, `"mnemo"`) {
		t.Fatalf("initialize through the bridge with --key-file: %q\n%s", line, stderr.String())
	}
}
