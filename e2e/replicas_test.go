package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mnemohq/mnemo/internal/falkortest"
)

// The tests in this file run mnemo on FalkorDB whatever the suite's
// backend: they are about replicas sharing one FalkorDB, and about
// FalkorDB going away.

const replicaToken = "replica-tenant-token-0123456789"

// TestReplicasShareOneFalkorDB: two mnemo processes on one FalkorDB agree
// on everything, with nothing shared in process.
func TestReplicasShareOneFalkorDB(t *testing.T) {
	t.Parallel()
	fk := falkortest.Start(t)
	// No cap on requests in flight: the bursts below count only the rate
	// limit's and the quota's refusals.
	env := map[string]string{"MNEMO_TENANT_MAX_CONCURRENT": "0"}
	a := StartOnFalkorDB(t, fk, env)
	b := StartOnFalkorDB(t, fk, env)

	// A tenant created on A is used on B; a memory stored on A is
	// recalled on B.
	a.CreateTenant("acme", replicaToken)
	id := a.Store(replicaToken, map[string]any{"content": "The orchid on the balcony blooms every March", "tags": []string{"garden"}})
	if got := ids(b.As(replicaToken, "GET", "/recall"+Q("query", "orchid balcony"), nil).Expect(t, 200)); len(got) == 0 || got[0] != id {
		t.Fatalf("recall on B: %v, want %s first", got, id)
	}
	b.As(replicaToken, "GET", "/memory/"+id, nil).Expect(t, 200)

	// An MCP session lives in the replica that opened it: a load balancer
	// must keep a session on one replica (sticky on Mcp-Session-Id). One
	// sent to another replica gets the 404 the MCP spec defines, on which
	// a client starts a new session there; the tenant's data is the same.
	session := mcpInit(t, a, replicaToken)
	if code, out := mcpHealthCall(t, a, replicaToken, session); code != 200 || out["result"] == nil {
		t.Fatalf("MCP tool on the session's replica: %d %v", code, out)
	}
	if code, _ := mcpHealthCall(t, b, replicaToken, session); code != 404 {
		t.Fatalf("MCP session of A sent to B: %d, want 404", code)
	}
	if code, out := mcpHealthCall(t, b, replicaToken, mcpInit(t, b, replicaToken)); code != 200 || out["result"] == nil {
		t.Fatalf("MCP tool on a new session on B: %d %v", code, out)
	}

	// A key revoked on A is refused by B on its next request.
	r := a.Admin("POST", "/admin/tenants/acme/keys", map[string]any{"label": "second", "scopes": []string{"read", "write"}}).Expect(t, 201)
	second, secondID := r.Body["api_token"].(string), r.Body["key"].(map[string]any)["key_id"].(string)
	b.As(second, "GET", "/memory/"+id, nil).Expect(t, 200)
	a.Admin("DELETE", "/admin/tenants/acme/keys/"+secondID, nil).Expect(t, 200)
	b.As(second, "GET", "/memory/"+id, nil).Expect(t, 401)
	a.As(second, "GET", "/memory/"+id, nil).Expect(t, 401)

	// A tenant suspended on B is refused by A, and back on A when B lifts it.
	b.Admin("PATCH", "/admin/tenants/acme", map[string]any{"status": "suspended", "status_reason": "unpaid"}).Expect(t, 200)
	a.As(replicaToken, "GET", "/memory/"+id, nil).ExpectError(t, 423, "unpaid")
	b.Admin("PATCH", "/admin/tenants/acme", map[string]any{"status": "active"}).Expect(t, 200)
	a.As(replicaToken, "GET", "/memory/"+id, nil).Expect(t, 200)

	// One rate budget across replicas: a burst of 10 (refilling once in
	// 1,000 s) split over A and B admits exactly 10.
	a.Admin("PATCH", "/admin/tenants/acme", map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.001, "burst": 10}}).Expect(t, 200)
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for i := range 30 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			switch st := s.As(replicaToken, "GET", "/memory/"+id, nil).Status; st {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
			default:
				t.Errorf("status %d in the burst", st)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 || limited.Load() != 20 {
		t.Fatalf("burst of 30 over two replicas: %d admitted, %d refused; want 10 and 20", ok.Load(), limited.Load())
	}
	a.Admin("PATCH", "/admin/tenants/acme", map[string]any{"rate_limit": nil}).Expect(t, 200)

	// A quota holds under concurrent writes on both replicas.
	a.Admin("PATCH", "/admin/tenants/acme", map[string]any{"quotas": map[string]any{"max_memories": 21}}).Expect(t, 200)
	var stored, refused atomic.Int64
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			switch r := s.As(replicaToken, "POST", "/memory", map[string]any{"content": fmt.Sprintf("quota race %d", i)}); r.Status {
			case 201:
				stored.Add(1)
			case 403:
				refused.Add(1)
			default:
				t.Errorf("store in the quota race: %d %s", r.Status, r.Raw)
			}
		})
	}
	wg.Wait()
	if stored.Load() != 20 || refused.Load() != 20 {
		t.Fatalf("40 concurrent stores against a quota with room for 20: %d stored, %d refused", stored.Load(), refused.Load())
	}
	st := b.Admin("GET", "/admin/tenants/acme/stats", nil).Expect(t, 200)
	if st.Body["memory_count"] != float64(21) {
		t.Fatalf("stats after the race: %s", st.Raw)
	}
}

// TestReplicaKilledLosesNoAcknowledgedWrite: every write replica A
// acknowledged before kill -9 is there on replica B.
func TestReplicaKilledLosesNoAcknowledgedWrite(t *testing.T) {
	t.Parallel()
	fk := falkortest.Start(t)
	a := StartOnFalkorDB(t, fk, nil)
	b := StartOnFalkorDB(t, fk, nil)
	a.CreateTenant("acme", replicaToken)

	var mu sync.Mutex
	var acked []string
	halt := writeStream(a, 4, func(r *Response, err error) bool {
		if err != nil {
			return false // the replica is gone
		}
		if r.Status == 201 {
			mu.Lock()
			acked = append(acked, r.Body["memory_id"].(string))
			mu.Unlock()
		}
		return true
	})
	defer halt() // also when the test fails early
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.Kill()
	halt()
	for _, id := range acked {
		b.As(replicaToken, "GET", "/memory/"+id, nil).Expect(t, 200)
	}
	t.Logf("%d acknowledged writes, all on B after kill -9 of A", len(acked))
}

// post sends a tenant's JSON request without failing the test when the
// connection does: the server may be killed mid-request.
func post(url, token string, body any) (*Response, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest("POST", url, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := &Response{Status: resp.StatusCode, Header: resp.Header}
	if out.Raw, err = io.ReadAll(resp.Body); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
		return nil, fmt.Errorf("%d %q: %w", resp.StatusCode, out.Raw, err)
	}
	return out, nil
}

// writeStream runs clients that store memories on s, one after another,
// and hands each answer (or the connection's error) to answered until it
// returns false or the returned stop is called; stop waits for them.
func writeStream(s *Server, clients int, answered func(*Response, error) bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				r, err := post(s.URL+"/memory", replicaToken, map[string]any{"content": "write " + strconv.Itoa(c) + "/" + strconv.Itoa(i)})
				if !answered(r, err) {
					return
				}
			}
		})
	}
	halt := sync.OnceFunc(func() { close(done) })
	return func() { halt(); wg.Wait() }
}

// TestFalkorDBRestartMidStream: while FalkorDB is down every request that
// needs it gets a clean 503 with a JSON error and Retry-After, /health
// says so, nothing acknowledged is lost, and mnemo serves again by itself
// when FalkorDB is back.
func TestFalkorDBRestartMidStream(t *testing.T) {
	t.Parallel()
	fk := falkortest.Start(t)
	s := StartOnFalkorDB(t, fk, nil)
	s.CreateTenant("acme", replicaToken)
	if h := s.Do("GET", "/health", nil).Expect(t, 200); h.Body["falkordb"] != "connected" || h.Body["status"] != "healthy" {
		t.Fatalf("health before: %s", h.Raw)
	}

	var mu sync.Mutex
	var acked []string
	statuses := map[int]int{}
	var down atomic.Bool
	halt := writeStream(s, 2, func(r *Response, err error) bool {
		if err != nil {
			t.Errorf("store: %v", err)
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		statuses[r.Status]++
		switch r.Status {
		case 201:
			acked = append(acked, r.Body["memory_id"].(string))
		case 503:
			if r.Header.Get("Retry-After") == "" || r.Body["status"] != "error" || r.Body["code"] != float64(503) {
				t.Errorf("503 without Retry-After or an error envelope: %v %s", r.Header, r.Raw)
			}
		default:
			t.Errorf("store with FalkorDB down=%v: %d %s", down.Load(), r.Status, r.Raw)
		}
		time.Sleep(5 * time.Millisecond)
		return true
	})
	defer halt() // also when the test fails early
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	count := func(status int) int {
		mu.Lock()
		defer mu.Unlock()
		return statuses[status]
	}
	waitFor("writes before the kill", func() bool { return count(201) >= 20 })
	fk.Kill()
	down.Store(true)
	waitFor("503s while FalkorDB is down", func() bool { return count(503) >= 10 })
	h := s.Do("GET", "/health", nil).Expect(t, 200)
	if h.Body["falkordb"] != "disconnected" || h.Body["status"] != "degraded" {
		t.Fatalf("health while down: %s", h.Raw)
	}
	if _, leaked := h.Body["falkordb_error"]; leaked {
		t.Fatalf("anonymous health shows the error: %s", h.Raw)
	}
	if h := s.Do("GET", "/health", nil, "X-Admin-Token", adminToken).Expect(t, 200); h.Body["falkordb_error"] == nil {
		t.Fatalf("operator's health while down has no falkordb_error: %s", h.Raw)
	}
	s.As(replicaToken, "GET", "/recall"+Q("query", "write"), nil).ExpectError(t, 503, "")
	s.Admin("GET", "/admin/tenants", nil).ExpectError(t, 503, "")

	before := count(201)
	fk.Restart()
	down.Store(false)
	waitFor("writes after FalkorDB is back", func() bool { return count(201) >= before+20 })
	halt()
	if h := s.Do("GET", "/health", nil).Expect(t, 200); h.Body["falkordb"] != "connected" {
		t.Fatalf("health after: %s", h.Raw)
	}
	for _, id := range acked {
		s.As(replicaToken, "GET", "/memory/"+id, nil).Expect(t, 200)
	}
	if strings.Contains(s.Logs(), "panic") {
		t.Fatalf("panic in the log:\n%s", s.Logs())
	}
	t.Logf("statuses %v; %d acknowledged writes all present after the restart", statuses, len(acked))
}

// TestStartsBeforeFalkorDB: mnemo starts while FalkorDB is not reachable
// yet; /health and every request that needs FalkorDB say so cleanly, and
// it serves as soon as FalkorDB comes up, without a restart.
func TestStartsBeforeFalkorDB(t *testing.T) {
	t.Parallel()
	fk := falkortest.Start(t)
	fk.Kill()
	s := StartOnFalkorDB(t, fk, map[string]string{"AUTOMEM_API_TOKEN": replicaToken})
	if h := s.Do("GET", "/health", nil).Expect(t, 200); h.Body["falkordb"] != "disconnected" || h.Body["status"] != "degraded" {
		t.Fatalf("health before FalkorDB: %s", h.Raw)
	}
	s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "acme", "api_token": "acme-token-0123456789abcdef"}).ExpectError(t, 503, "")
	if r := s.As(replicaToken, "GET", "/recall"+Q("query", "x"), nil); r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("recall before FalkorDB: %d %v %s", r.Status, r.Header, r.Raw)
	}
	fk.Restart()
	// AUTOMEM_API_TOKEN's tenant is bound in the background once FalkorDB
	// answers.
	deadline := time.Now().Add(30 * time.Second)
	for s.As(replicaToken, "GET", "/recall"+Q("query", "x"), nil).Status != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("not serving 30 s after FalkorDB came up:\n%s", s.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	id := s.Store(replicaToken, map[string]any{"content": "stored once FalkorDB is up"})
	s.As(replicaToken, "GET", "/memory/"+id, nil).Expect(t, 200)
	if h := s.Do("GET", "/health", nil).Expect(t, 200); h.Body["falkordb"] != "connected" {
		t.Fatalf("health after: %s", h.Raw)
	}
	if !strings.Contains(s.Logs(), "FalkorDB connected") {
		t.Fatalf("no start-up check of FalkorDB's settings in the log:\n%s", s.Logs())
	}
}
