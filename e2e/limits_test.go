package e2e

import (
	"bufio"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	mcAcme = "acme-token-0123456789"
	mcBeta = "beta-token-0123456789"
)

// mcNoLimits is how a tenant without a rate limit or quotas reads.
var mcNoLimits = map[string]any{"rate_limit": nil, "quotas": map[string]any{"max_memories": nil, "max_storage_mb": nil}}

func mcLimitsOf(tenant map[string]any) map[string]any {
	return map[string]any{"rate_limit": tenant["rate_limit"], "quotas": tenant["quotas"]}
}

// TestTenantPatch: PATCH /admin/tenants/{id} sets name, rate limit, quotas
// and status; a field left out is unchanged, null removes a limit, a
// refused patch changes nothing; it all survives a restart.
func TestTenantPatch(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)

	// With no defaults configured, a new tenant has no limit and no quota.
	ten := mcTenantJSON(t, s, "acme")
	mcExpectJSON(t, "new tenant", mcLimitsOf(ten), mcNoLimits)
	if ten["status"] != "active" || ten["name"] != "acme" {
		t.Fatalf("new tenant: %v", ten)
	}

	patch := func(body map[string]any, want map[string]any) {
		t.Helper()
		r := s.Admin("PATCH", "/admin/tenants/acme", body).Expect(t, 200)
		got := r.Body["tenant"].(map[string]any)
		view := map[string]any{"name": got["name"], "status": got["status"], "status_reason": got["status_reason"],
			"rate_limit": got["rate_limit"], "quotas": got["quotas"]}
		mcExpectJSON(t, fmt.Sprintf("PATCH %s answer", mcJSON(body)), view, want)
		got = mcTenantJSON(t, s, "acme")
		view = map[string]any{"name": got["name"], "status": got["status"], "status_reason": got["status_reason"],
			"rate_limit": got["rate_limit"], "quotas": got["quotas"]}
		mcExpectJSON(t, fmt.Sprintf("GET after PATCH %s", mcJSON(body)), view, want)
	}
	state := map[string]any{"name": "acme", "status": "active", "status_reason": "",
		"rate_limit": nil, "quotas": map[string]any{"max_memories": nil, "max_storage_mb": nil}}
	step := func(body map[string]any, change map[string]any) {
		t.Helper()
		for k, v := range change {
			state[k] = v
		}
		patch(body, state)
	}
	step(map[string]any{"name": "Acme Corp"}, map[string]any{"name": "Acme Corp"})
	step(map[string]any{"rate_limit": map[string]any{"requests_per_second": 5, "burst": 10}},
		map[string]any{"rate_limit": map[string]any{"requests_per_second": 5, "burst": 10}})
	step(map[string]any{"quotas": map[string]any{"max_memories": 100, "max_storage_mb": 2.5}},
		map[string]any{"quotas": map[string]any{"max_memories": 100, "max_storage_mb": 2.5}})
	// A quota left out of "quotas" is unchanged too.
	step(map[string]any{"quotas": map[string]any{"max_memories": 50}},
		map[string]any{"quotas": map[string]any{"max_memories": 50, "max_storage_mb": 2.5}})
	step(map[string]any{"status": "read_only", "status_reason": "migration in progress"},
		map[string]any{"status": "read_only", "status_reason": "migration in progress"})
	step(map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.5, "burst": 2}, "name": "Acme Inc"},
		map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.5, "burst": 2}, "name": "Acme Inc"})

	// Refused patches: a 400 naming the field, and nothing changes, not
	// even the valid fields of the same request.
	bad := []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"status": "paused"}, "'status'"},
		{map[string]any{"name": "Renamed", "status": "paused"}, "'status'"},
		{map[string]any{"name": ""}, "'name'"},
		{map[string]any{"rate_limit": map[string]any{"requests_per_second": 0, "burst": 1}}, "requests_per_second"},
		{map[string]any{"rate_limit": map[string]any{"requests_per_second": -1, "burst": 1}}, "requests_per_second"},
		{map[string]any{"rate_limit": map[string]any{"requests_per_second": 1, "burst": 0}}, "burst"},
		{map[string]any{"rate_limit": map[string]any{"requests_per_second": 1, "burst": 1.5}}, "burst"},
		{map[string]any{"rate_limit": "fast"}, "rate_limit"},
		{map[string]any{"quotas": map[string]any{"max_memories": -1}}, "max_memories"},
		{map[string]any{"quotas": map[string]any{"max_memories": 1.5}}, "max_memories"},
		{map[string]any{"quotas": map[string]any{"max_storage_mb": 0}}, "max_storage_mb"},
		{map[string]any{"quotas": map[string]any{"max_storage_mb": "lots"}}, "max_storage_mb"},
		{map[string]any{"quotas": 5}, "quotas"},
		{map[string]any{"status_reason": 7}, "status_reason"},
		{map[string]any{"plan": "gold"}, "'plan'"},
	}
	for _, b := range bad {
		s.Admin("PATCH", "/admin/tenants/acme", b.body).ExpectError(t, 400, b.want)
	}
	s.Admin("PATCH", "/admin/tenants/acme", "").ExpectError(t, 400, "JSON")
	patch(map[string]any{}, state)
	s.Admin("PATCH", "/admin/tenants/nobody", map[string]any{"name": "x"}).ExpectError(t, 404, "nobody")
	s.As(mcAcme, "PATCH", "/admin/tenants/acme", map[string]any{"status": "active"}).ExpectError(t, 401, "Admin authorization required")

	// Everything survives a restart, and a crash.
	s.Restart(false)
	patch(map[string]any{}, state)
	s.Restart(true)
	patch(map[string]any{}, state)

	// null removes a limit.
	step(map[string]any{"quotas": map[string]any{"max_memories": nil}},
		map[string]any{"quotas": map[string]any{"max_memories": nil, "max_storage_mb": 2.5}})
	step(map[string]any{"rate_limit": nil}, map[string]any{"rate_limit": nil})
	step(map[string]any{"quotas": nil}, map[string]any{"quotas": map[string]any{"max_memories": nil, "max_storage_mb": nil}})
	step(map[string]any{"status": "suspended", "status_reason": "unpaid"}, map[string]any{"status": "suspended", "status_reason": "unpaid"})
	s.Restart(false)
	patch(map[string]any{}, state)
	// Without a limit, a tenant request carries no rate-limit headers.
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"status": "active"}).Expect(t, 200)
	r := s.As(mcAcme, "GET", "/recall"+Q("query", "x"), nil).Expect(t, 200)
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		if v := r.Header.Get(h); v != "" {
			t.Fatalf("%s: %q on a tenant without a rate limit", h, v)
		}
	}
}

// TestTenantDefaultsFromConfig: new tenants start with the configured
// rate limit and quotas, which apply at once; a tenant keeps its own limits
// when the defaults change.
func TestTenantDefaultsFromConfig(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{
		"MNEMO_DEFAULT_RATE_LIMIT_RPS":   "0.01",
		"MNEMO_DEFAULT_RATE_LIMIT_BURST": "4",
		"MNEMO_DEFAULT_MAX_MEMORIES":     "2",
		"MNEMO_DEFAULT_MAX_STORAGE_MB":   "5",
	})
	r := s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "acme", "api_token": mcAcme}).Expect(t, 201)
	want := map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 4},
		"quotas": map[string]any{"max_memories": 2, "max_storage_mb": 5}}
	mcExpectJSON(t, "create answer", mcLimitsOf(r.Body["tenant"].(map[string]any)), want)
	mcExpectJSON(t, "GET tenant", mcLimitsOf(mcTenantJSON(t, s, "acme")), want)

	// They apply: two stores fit, the third crosses max_memories, the fourth
	// request is the last of the burst, the fifth is refused.
	s.Store(mcAcme, map[string]any{"content": "one"})
	s.Store(mcAcme, map[string]any{"content": "two"})
	s.As(mcAcme, "POST", "/memory", map[string]any{"content": "three"}).ExpectError(t, 403, "max_memories")
	s.As(mcAcme, "GET", "/recall"+Q("query", "one"), nil).Expect(t, 200)
	s.As(mcAcme, "GET", "/recall"+Q("query", "one"), nil).ExpectError(t, 429, "Rate limit exceeded")

	// New defaults apply to new tenants only.
	s.Env["MNEMO_DEFAULT_RATE_LIMIT_RPS"] = "2"
	s.Env["MNEMO_DEFAULT_RATE_LIMIT_BURST"] = "7"
	s.Env["MNEMO_DEFAULT_MAX_MEMORIES"] = "0"
	s.Env["MNEMO_DEFAULT_MAX_STORAGE_MB"] = "0"
	s.Restart(false)
	mcExpectJSON(t, "acme after new defaults", mcLimitsOf(mcTenantJSON(t, s, "acme")), want)
	mcTenant(t, s, "beta", mcBeta)
	mcExpectJSON(t, "beta", mcLimitsOf(mcTenantJSON(t, s, "beta")), map[string]any{
		"rate_limit": map[string]any{"requests_per_second": 2, "burst": 7},
		"quotas":     map[string]any{"max_memories": nil, "max_storage_mb": nil}})
}

// mcRateHeaders returns the X-RateLimit-* headers.
func mcRateHeaders(h http.Header) [3]string {
	return [3]string{h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset")}
}

// mcRetryAfter returns Retry-After as whole seconds within [lo, hi].
func mcRetryAfter(t *testing.T, h http.Header, lo, hi int) int {
	t.Helper()
	v := h.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		t.Fatalf("Retry-After %q, want an integer from %d to %d", v, lo, hi)
	}
	return n
}

// mcRetryAfterSince checks the Retry-After of a refusal that lasts full
// from a moment the test can only bound: no earlier than since, the
// client's clock just before the request that started it (the first
// request of a fresh bucket, the first failed authentication). The server
// must send what is left of full, in whole seconds rounded up: within
// slack seconds of full when the requests in between were quick, as on an
// idle machine, and the range the test was written with; when they were
// not (a loaded machine, tests running in parallel) the lower bound is the
// time that has really passed, which a correct server always meets and a
// wrong wait still fails.
func mcRetryAfterSince(t *testing.T, h http.Header, full time.Duration, since time.Time, slack int) int {
	t.Helper()
	hi := int(math.Ceil(full.Seconds()))
	return mcRetryAfter(t, h, min(hi-slack, int(math.Ceil((full-time.Since(since)).Seconds()))), hi)
}

// TestRateLimitPerTenant: with 0.01 requests per second and a burst of 3,
// exactly three requests pass and the fourth is a 429 with Retry-After and
// the X-RateLimit headers; meanwhile every request of another tenant
// succeeds, interleaved and concurrent; a new limit applies at once, and
// the limit survives a restart.
func TestRateLimitPerTenant(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	mcTenant(t, s, "beta", mcBeta)
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 3}}).Expect(t, 200)
	s.Admin("PATCH", "/admin/tenants/beta", map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 100}}).Expect(t, 200)

	// Three pass, each saying what is left; a token comes back in 100 s.
	// A refusal's Retry-After is the wait for that token: 100 s from the
	// first request, which found the bucket full.
	const perToken = 100 * time.Second
	fullAt := time.Now()
	r := s.As(mcAcme, "POST", "/memory", map[string]any{"content": "first of the burst"}).Expect(t, 201)
	if h := mcRateHeaders(r.Header); h != [3]string{"3", "2", "100"} {
		t.Fatalf("first request X-RateLimit Limit/Remaining/Reset = %v", h)
	}
	r = s.As(mcAcme, "GET", "/recall"+Q("query", "burst"), nil).Expect(t, 200)
	if h := mcRateHeaders(r.Header); h[0] != "3" || h[1] != "1" {
		t.Fatalf("second request X-RateLimit = %v", h)
	}
	r = s.As(mcAcme, "GET", "/recall"+Q("query", "burst"), nil).Expect(t, 200)
	if h := mcRateHeaders(r.Header); h[0] != "3" || h[1] != "0" {
		t.Fatalf("third request X-RateLimit = %v", h)
	}
	// The fourth, and every one after it, is refused, with the other tenant's
	// requests interleaved: all of those succeed, drawing on beta's own bucket.
	betaLeft := 100
	for i := 0; i < 10; i++ {
		r := s.As(mcAcme, "POST", "/memory", map[string]any{"content": "refused"})
		r.ExpectError(t, 429, "Rate limit exceeded")
		mcRetryAfterSince(t, r.Header, perToken, fullAt, 1)
		if h := mcRateHeaders(r.Header); h != [3]string{"3", "0", "100"} {
			t.Fatalf("refused request X-RateLimit = %v", h)
		}
		for _, req := range []struct {
			method, path string
			body         any
			status       int
		}{
			{"POST", "/memory", map[string]any{"content": fmt.Sprintf("beta memory %d", i)}, 201},
			{"GET", "/recall" + Q("query", "beta memory"), nil, 200},
		} {
			r := s.As(mcBeta, req.method, req.path, req.body).Expect(t, req.status)
			betaLeft--
			if h := mcRateHeaders(r.Header); h[0] != "100" || h[1] != strconv.Itoa(betaLeft) {
				t.Fatalf("beta X-RateLimit = %v, want limit 100 remaining %d", h, betaLeft)
			}
		}
	}
	mcExpectCount(t, s, "acme", 1)
	mcExpectCount(t, s, "beta", 10)

	// Concurrent: 40 acme requests and 10 beta requests at once (within
	// beta's own cap of 16 in flight). acme has no token left, so all of
	// its requests are refused; every beta request succeeds.
	var wg sync.WaitGroup
	acmeRes, betaRes := make([]mcResult, 40), make([]mcResult, 10)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acmeRes[i] = mcSend(s.URL, "GET", "/recall"+Q("query", "burst"), nil, "Authorization", "Bearer "+mcAcme)
		}()
		if i%4 == 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				betaRes[i/4] = mcSend(s.URL, "GET", "/recall"+Q("query", "beta"), nil, "Authorization", "Bearer "+mcBeta)
			}()
		}
	}
	wg.Wait()
	for i, r := range acmeRes {
		if r.Err != nil || r.Status != 429 || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), "Rate limit exceeded") {
			t.Fatalf("concurrent acme request %d: %d %v %s", i, r.Status, r.Err, r.Body)
		}
	}
	for i, r := range betaRes {
		if r.Err != nil || r.Status != 200 {
			t.Fatalf("concurrent beta request %d: %d %v %s", i, r.Status, r.Err, r.Body)
		}
	}
	// Admin routes are not limited by the tenant's rate.
	for range 5 {
		s.Admin("GET", "/admin/tenants/acme", nil).Expect(t, 200)
	}

	// A new limit applies at once, with a fresh burst.
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 2}}).Expect(t, 200)
	fullAt = time.Now()
	for i := range 2 {
		r := s.As(mcAcme, "GET", "/recall"+Q("query", "burst"), nil).Expect(t, 200)
		if h := mcRateHeaders(r.Header); h[0] != "2" || h[1] != strconv.Itoa(1-i) {
			t.Fatalf("after the new limit, request %d: X-RateLimit = %v", i+1, h)
		}
	}
	r = s.As(mcAcme, "GET", "/recall"+Q("query", "burst"), nil)
	r.ExpectError(t, 429, "Rate limit exceeded")
	mcRetryAfterSince(t, r.Header, perToken, fullAt, 1)

	// The limit survives a restart. In the embedded backend the bucket is
	// the process's, so a restart gives a fresh one of the same size; on
	// FalkorDB the bucket is shared by every replica and outlives any of
	// them, so it is still empty.
	s.Restart(false)
	if !onFalkorDB() {
		fullAt = time.Now()
		for range 2 {
			s.As(mcAcme, "GET", "/recall"+Q("query", "burst"), nil).Expect(t, 200)
		}
	}
	r = s.As(mcAcme, "GET", "/recall"+Q("query", "burst"), nil)
	r.ExpectError(t, 429, "Rate limit exceeded")
	mcRetryAfterSince(t, r.Header, perToken, fullAt, 1)
	s.As(mcBeta, "GET", "/recall"+Q("query", "beta"), nil).Expect(t, 200)

	// null removes it.
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"rate_limit": nil}).Expect(t, 200)
	for range 10 {
		r := s.As(mcAcme, "GET", "/recall"+Q("query", "burst"), nil).Expect(t, 200)
		if r.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("X-RateLimit-Limit without a limit: %q", r.Header.Get("X-RateLimit-Limit"))
		}
	}
}

// TestRateLimitFreshForNewTenant: a tenant created with an id that a
// deleted tenant used is a new tenant, with the configured default limit
// and a full burst: the deleted tenant's drained bucket does not slow it.
func TestRateLimitFreshForNewTenant(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_DEFAULT_RATE_LIMIT_RPS": "0.01", "MNEMO_DEFAULT_RATE_LIMIT_BURST": "3"})
	mcTenant(t, s, "acme", mcAcme)
	for range 3 {
		s.As(mcAcme, "GET", "/recall"+Q("query", "x"), nil).Expect(t, 200)
	}
	s.As(mcAcme, "GET", "/recall"+Q("query", "x"), nil).ExpectError(t, 429, "Rate limit exceeded")
	s.Admin("DELETE", "/admin/tenants/acme", nil).Expect(t, 200)

	const newToken = "acme-second-customer-token"
	mcTenant(t, s, "acme", newToken)
	for i := range 3 {
		r := s.As(newToken, "GET", "/recall"+Q("query", "x"), nil)
		if r.Status != 200 {
			t.Fatalf("new tenant's request %d: %d %s (X-RateLimit-Remaining %q)", i+1, r.Status, r.Raw, r.Header.Get("X-RateLimit-Remaining"))
		}
		if got := r.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(2-i) {
			t.Fatalf("new tenant's request %d: X-RateLimit-Remaining %q, want %d", i+1, got, 2-i)
		}
	}
	s.As(newToken, "GET", "/recall"+Q("query", "x"), nil).ExpectError(t, 429, "Rate limit exceeded")
}

// TestQuotaMaxMemories: a write that would cross max_memories is a 403
// naming the quota and the numbers; a batch that would cross it stores
// nothing; reads and deletes still work, and a delete frees quota at once.
func TestQuotaMaxMemories(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"quotas": map[string]any{"max_memories": 3}}).Expect(t, 200)
	first := s.Store(mcAcme, map[string]any{"content": "quota memory one", "tags": []string{"keep"}})
	s.Store(mcAcme, map[string]any{"content": "quota memory two", "tags": []string{"drop"}})

	// A batch of two would make four: refused whole.
	batch := map[string]any{"memories": []any{map[string]any{"content": "batch a"}, map[string]any{"content": "batch b"}}}
	s.As(mcAcme, "POST", "/memory/batch", batch).ExpectError(t, 403, "max_memories is 3; the tenant holds 2 and this request adds 2")
	mcExpectCount(t, s, "acme", 2)
	r := s.As(mcAcme, "GET", "/recall"+Q("query", "batch"), nil).Expect(t, 200)
	for _, row := range r.Body["results"].([]any) {
		if c := row.(map[string]any)["memory"].(map[string]any)["content"]; c == "batch a" || c == "batch b" {
			t.Fatalf("a refused batch stored %q", c)
		}
	}
	// One fits; the next does not.
	third := s.Store(mcAcme, map[string]any{"content": "quota memory three", "tags": []string{"drop"}})
	s.As(mcAcme, "POST", "/memory", map[string]any{"content": "quota memory four"}).ExpectError(t, 403, "max_memories is 3; the tenant holds 3 and this request adds 1")
	s.As(mcAcme, "POST", "/memory/batch", map[string]any{"memories": []any{map[string]any{"content": "x"}}}).ExpectError(t, 403, "max_memories is 3")
	mcExpectCount(t, s, "acme", 3)

	// Reads and updates that add no memory still work at the quota.
	s.As(mcAcme, "GET", "/memory/"+first, nil).Expect(t, 200)
	s.As(mcAcme, "GET", "/recall"+Q("query", "quota memory"), nil).Expect(t, 200)
	s.As(mcAcme, "GET", "/memory/by-tag"+Q("tags", "drop"), nil).Expect(t, 200)
	s.As(mcAcme, "PATCH", "/memory/"+first, map[string]any{"importance": 0.9}).Expect(t, 200)
	s.As(mcAcme, "POST", "/associate", map[string]any{"memory1_id": first, "memory2_id": third, "type": "RELATES_TO"}).Expect(t, 201)

	// A delete frees quota at once.
	s.As(mcAcme, "DELETE", "/memory/"+third, nil).Expect(t, 200)
	mcExpectCount(t, s, "acme", 2)
	s.Store(mcAcme, map[string]any{"content": "fits after the delete", "tags": []string{"drop"}})
	s.As(mcAcme, "POST", "/memory", map[string]any{"content": "over again"}).ExpectError(t, 403, "max_memories is 3; the tenant holds 3 and this request adds 1")
	// A delete by tag frees it too.
	if n := s.As(mcAcme, "DELETE", "/memory/by-tag"+Q("tags", "drop"), nil).Expect(t, 200).Body["deleted_count"]; n != float64(2) {
		t.Fatalf("deleted_count %v, want 2", n)
	}
	mcExpectCount(t, s, "acme", 1)
	s.As(mcAcme, "POST", "/memory/batch", batch).Expect(t, 201)
	mcExpectCount(t, s, "acme", 3)

	// A lowered quota: the tenant keeps what it has, stores nothing more.
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"quotas": map[string]any{"max_memories": 1}}).Expect(t, 200)
	s.As(mcAcme, "POST", "/memory", map[string]any{"content": "x"}).ExpectError(t, 403, "max_memories is 1; the tenant holds 3 and this request adds 1")
	s.As(mcAcme, "GET", "/recall"+Q("query", "batch"), nil).Expect(t, 200)
	// The quota survives a restart.
	s.Restart(false)
	s.As(mcAcme, "POST", "/memory", map[string]any{"content": "x"}).ExpectError(t, 403, "max_memories is 1; the tenant holds 3 and this request adds 1")
	mcExpectCount(t, s, "acme", 3)
	// null removes it.
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"quotas": map[string]any{"max_memories": nil}}).Expect(t, 200)
	s.Store(mcAcme, map[string]any{"content": "no quota any more"})
	mcExpectCount(t, s, "acme", 4)
}

// TestQuotaConcurrentWrites: concurrent stores cannot both pass a quota
// check that only one fits.
func TestQuotaConcurrentWrites(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"quotas": map[string]any{"max_memories": 5}}).Expect(t, 200)
	const n = 12
	res := make([]mcResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = mcSend(s.URL, "POST", "/memory", map[string]any{"content": fmt.Sprintf("concurrent %d", i)}, "Authorization", "Bearer "+mcAcme)
		}()
	}
	wg.Wait()
	created, refused := 0, 0
	for i, r := range res {
		switch {
		case r.Err != nil:
			t.Fatalf("request %d: %v", i, r.Err)
		case r.Status == 201:
			created++
		case r.Status == 403 && strings.Contains(string(r.Body), "max_memories is 5"):
			refused++
		default:
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
	}
	if created != 5 || refused != n-5 {
		t.Fatalf("%d created, %d refused; want 5 and %d", created, refused, n-5)
	}
	mcExpectCount(t, s, "acme", 5)
}

// TestQuotaMaxStorage: max_storage_mb counts the tenant's stored bytes; the
// 403 names the quota and the numbers; a delete frees the bytes at once.
func TestQuotaMaxStorage(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	// 0.01 MiB = 10485 bytes: with 768-dimension vectors (3072 bytes each)
	// three short memories fit and a fourth does not.
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"quotas": map[string]any{"max_storage_mb": 0.01}}).Expect(t, 200)
	var stored []string
	for i := range 3 {
		stored = append(stored, s.Store(mcAcme, map[string]any{"content": fmt.Sprintf("storage quota memory %d", i)}))
	}
	bytesNow := int64(mcStats(t, s, "acme")["stored_bytes"].(float64))
	if bytesNow <= 3*3072 || bytesNow > 10485 {
		t.Fatalf("stored_bytes %d", bytesNow)
	}
	s.As(mcAcme, "POST", "/memory", map[string]any{"content": "storage quota memory 3"}).
		ExpectError(t, 403, fmt.Sprintf("max_storage_mb is 0.01 (10485 bytes); the tenant stores %d bytes", bytesNow))
	s.As(mcAcme, "POST", "/memory/batch", map[string]any{"memories": []any{map[string]any{"content": "b"}}}).ExpectError(t, 403, "max_storage_mb is 0.01")
	mcExpectCount(t, s, "acme", 3)
	if b := int64(mcStats(t, s, "acme")["stored_bytes"].(float64)); b != bytesNow {
		t.Fatalf("a refused write changed stored_bytes: %d -> %d", bytesNow, b)
	}
	// An update that grows a memory past the quota is refused too, and
	// changes nothing.
	long := strings.Repeat("growing content ", 100)
	s.As(mcAcme, "PATCH", "/memory/"+stored[0], map[string]any{"content": long}).ExpectError(t, 403, "max_storage_mb is 0.01")
	if c := s.As(mcAcme, "GET", "/memory/"+stored[0], nil).Expect(t, 200).Body["memory"].(map[string]any)["content"]; c != "storage quota memory 0" {
		t.Fatalf("refused update changed the content to %q", c)
	}
	// Reads work; a delete frees the bytes at once.
	s.As(mcAcme, "GET", "/recall"+Q("query", "storage quota"), nil).Expect(t, 200)
	s.As(mcAcme, "DELETE", "/memory/"+stored[1], nil).Expect(t, 200)
	s.Store(mcAcme, map[string]any{"content": "storage quota memory 4"})
	mcExpectCount(t, s, "acme", 3)
}

// TestConcurrencyCap: with MNEMO_TENANT_MAX_CONCURRENT=1, a tenant request
// that arrives while another of the same tenant is in flight is a 429;
// other tenants and the admin routes are not affected. The request in
// flight is a POST whose body is held back.
func TestConcurrencyCap(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_TENANT_MAX_CONCURRENT": "1"})
	mcTenant(t, s, "acme", mcAcme)
	mcTenant(t, s, "beta", mcBeta)
	u, _ := url.Parse(s.URL)
	body := `{"content": "held open while another request of the same tenant arrives"}`

	var conn net.Conn
	var refused *Response
	for attempt := 0; attempt < 5 && refused == nil; attempt++ {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /memory HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			u.Host, mcAcme, len(body), body[:10])
		time.Sleep(100 * time.Millisecond)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			r := s.As(mcAcme, "GET", "/recall"+Q("query", "held"), nil)
			if r.Status == 429 {
				refused = r
				break
			}
			r.Expect(t, 200)
			// Did the held request lose the race for the slot? Then it has
			// already answered: start over.
			c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
			if n, _ := c.Read(make([]byte, 1)); n > 0 {
				break
			}
			c.SetReadDeadline(time.Time{})
		}
		if refused == nil {
			c.Close()
			continue
		}
		c.SetReadDeadline(time.Time{})
		conn = c
	}
	if refused == nil {
		t.Fatal("no request was refused while another of the same tenant was in flight")
	}
	defer conn.Close()
	refused.ExpectError(t, 429, "Too many concurrent requests for this tenant (at most 1)")
	mcRetryAfter(t, refused.Header, 1, 1)
	// Still in flight: the same tenant is refused again, others are not.
	s.As(mcAcme, "POST", "/memory", map[string]any{"content": "refused"}).ExpectError(t, 429, "Too many concurrent requests")
	s.As(mcBeta, "GET", "/recall"+Q("query", "x"), nil).Expect(t, 200)
	s.Store(mcBeta, map[string]any{"content": "beta is not capped by acme"})
	s.Admin("GET", "/admin/tenants/acme", nil).Expect(t, 200)

	// The held request completes normally; then the slot is free.
	if _, err := conn.Write([]byte(body[10:])); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("held request: %d", resp.StatusCode)
	}
	s.As(mcAcme, "GET", "/recall"+Q("query", "held"), nil).Expect(t, 200)
	mcExpectCount(t, s, "acme", 1)
	mcExpectCount(t, s, "beta", 1)
}

// TestRecallQueriesCap: a recall runs at most 10 queries; beyond is a 400.
func TestRecallQueriesCap(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	s.Store(mcAcme, map[string]any{"content": "query number three is about deploys"})
	qs := func(n int) string {
		v := url.Values{}
		for i := range n {
			v.Add("queries", fmt.Sprintf("query number %d", i))
		}
		return "?" + v.Encode()
	}
	s.As(mcAcme, "GET", "/recall"+qs(10), nil).Expect(t, 200)
	s.As(mcAcme, "GET", "/recall"+qs(11), nil).ExpectError(t, 400, "'queries' may hold at most 10 queries (got 11)")
	s.As(mcAcme, "GET", "/recall"+qs(50), nil).ExpectError(t, 400, "'queries' may hold at most 10 queries (got 50)")
	// Comma-separated values count one by one.
	s.As(mcAcme, "GET", "/recall"+Q("queries", "a,b,c,d,e,f,g,h,i,j"), nil).Expect(t, 200)
	s.As(mcAcme, "GET", "/recall"+Q("queries", "a,b,c,d,e,f,g,h,i,j,k"), nil).ExpectError(t, 400, "(got 11)")
}

// TestAuthThrottle: with MNEMO_AUTH_FAILURES_PER_MINUTE=3, the fourth
// attempt in a minute from an address that failed three times is a 429
// with Retry-After, on tenant and admin routes, for a wrong key and for a
// good one short enough to have been guessed (mcAcme has 21 characters).
// A request without a credential guesses nothing and is not counted; the
// admin token (27 characters) cannot be guessed and is never refused.
func TestAuthThrottle(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_AUTH_FAILURES_PER_MINUTE": "3"})
	mcTenant(t, s, "acme", mcAcme)
	s.As(mcAcme, "GET", "/recall"+Q("query", "x"), nil).Expect(t, 200)
	firstFailure := time.Now() // the minute is counted from here
	s.As("wrong-token-000000001", "GET", "/recall"+Q("query", "x"), nil).ExpectError(t, 401, "Unauthorized")
	s.Do("GET", "/recall"+Q("query", "x"), nil).ExpectError(t, 401, "Unauthorized")
	s.As("wrong-token-000000002", "GET", "/recall"+Q("query", "x"), nil).ExpectError(t, 401, "Unauthorized")
	s.Admin("GET", "/admin/tenants", nil).Expect(t, 200)
	s.Do("GET", "/admin/tenants", nil, "Authorization", "Bearer wrong-admin-token").ExpectError(t, 401, "Admin authorization required")
	// The fourth attempt: refused whatever it carries.
	r := s.As(mcAcme, "GET", "/recall"+Q("query", "x"), nil)
	r.ExpectError(t, 429, "Too many failed authentications")
	mcRetryAfterSince(t, r.Header, time.Minute, firstFailure, 5)
	s.Admin("GET", "/admin/tenants", nil).Expect(t, 200)
	r = s.Do("GET", "/admin/tenants", nil, "Authorization", "Bearer wrong-admin-token")
	r.ExpectError(t, 429, "Too many failed authentications")
	mcRetryAfterSince(t, r.Header, time.Minute, firstFailure, 5)
	s.As("wrong-token-000000001", "POST", "/memory", map[string]any{"content": "x"}).ExpectError(t, 429, "Too many failed authentications")
	s.As(mcAcme, "POST", "/memory", map[string]any{"content": "x"}).ExpectError(t, 429, "Too many failed authentications")
	// /health needs no credentials and is not throttled.
	s.Do("GET", "/health", nil).Expect(t, 200)
}

// TestAuthThrottleHealthIsNoOracle: /health answers 200 to anyone and, with
// a valid key, names the key's tenant, so it can tell a good key from a bad
// one. An address that failed authentication three times in the minute
// must not be able to test keys there either.
func TestAuthThrottleHealthIsNoOracle(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_AUTH_FAILURES_PER_MINUTE": "3"})
	mcTenant(t, s, "acme", mcAcme)
	if r := s.As(mcAcme, "GET", "/health", nil).Expect(t, 200); r.Body["tenant_id"] != "acme" {
		t.Fatalf("/health with a good key: %s", r.Raw)
	}
	for range 3 {
		s.As("wrong-token-000000001", "GET", "/recall", nil).ExpectError(t, 401, "Unauthorized")
	}
	s.As(mcAcme, "GET", "/recall", nil).ExpectError(t, 429, "Too many failed authentications")
	r := s.As(mcAcme, "GET", "/health", nil).Expect(t, 200)
	if _, ok := r.Body["tenant_id"]; ok {
		t.Fatalf("a throttled address can still confirm a key through /health: %s", r.Raw)
	}
}

// TestAuthThrottleHealthGuessesCount: guessing keys through /health is
// failed authentication like any other: after three bad keys there, the
// address is throttled and a good key no longer confirms itself.
func TestAuthThrottleHealthGuessesCount(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_AUTH_FAILURES_PER_MINUTE": "3"})
	mcTenant(t, s, "acme", mcAcme)
	for i := range 10 {
		r := s.As(fmt.Sprintf("guessed-token-%08d", i), "GET", "/health", nil).Expect(t, 200)
		if _, ok := r.Body["tenant_id"]; ok {
			t.Fatalf("a bad key named a tenant: %s", r.Raw)
		}
	}
	r := s.As(mcAcme, "GET", "/health", nil).Expect(t, 200)
	if _, ok := r.Body["tenant_id"]; ok {
		t.Fatalf("after 10 bad keys in a minute, /health still confirms a good key: %s", r.Raw)
	}
}

// TestAuthThrottleTrustedProxy: behind a trusted proxy, the client address
// in X-Forwarded-For is the one throttled: another address, and the proxy
// itself, are not.
func TestAuthThrottleTrustedProxy(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_AUTH_FAILURES_PER_MINUTE": "3", "MNEMO_TRUSTED_PROXIES": "127.0.0.1/32"})
	mcTenant(t, s, "acme", mcAcme)
	firstFailure := time.Now() // the minute is counted from here
	for range 3 {
		s.Do("GET", "/recall"+Q("query", "x"), nil, "Authorization", "Bearer wrong-token-00001", "X-Forwarded-For", "203.0.113.7").ExpectError(t, 401, "Unauthorized")
	}
	r := s.Do("GET", "/recall"+Q("query", "x"), nil, "Authorization", "Bearer "+mcAcme, "X-Forwarded-For", "203.0.113.7")
	r.ExpectError(t, 429, "Too many failed authentications")
	mcRetryAfterSince(t, r.Header, time.Minute, firstFailure, 5)
	// A client cannot escape by prepending an address: the last untrusted hop counts.
	s.Do("GET", "/recall"+Q("query", "x"), nil, "Authorization", "Bearer "+mcAcme, "X-Forwarded-For", "198.51.100.1, 203.0.113.7").
		ExpectError(t, 429, "Too many failed authentications")
	// Another client address, and the proxy itself, are not throttled.
	s.Do("GET", "/recall"+Q("query", "x"), nil, "Authorization", "Bearer "+mcAcme, "X-Forwarded-For", "203.0.113.8").Expect(t, 200)
	s.Do("GET", "/recall"+Q("query", "x"), nil, "Authorization", "Bearer "+mcAcme, "X-Forwarded-For", "203.0.113.7, 203.0.113.8").Expect(t, 200)
	s.As(mcAcme, "GET", "/recall"+Q("query", "x"), nil).Expect(t, 200)
	s.Admin("GET", "/admin/tenants", nil).Expect(t, 200)
}

// TestAuthThrottleUntrustedForwardedFor: without trusted proxies,
// X-Forwarded-For is ignored: the peer address is throttled.
func TestAuthThrottleUntrustedForwardedFor(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_AUTH_FAILURES_PER_MINUTE": "3"})
	mcTenant(t, s, "acme", mcAcme)
	for i := range 3 {
		s.Do("GET", "/recall"+Q("query", "x"), nil, "Authorization", "Bearer wrong-token-00001", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1)).ExpectError(t, 401, "Unauthorized")
	}
	s.Do("GET", "/recall"+Q("query", "x"), nil, "Authorization", "Bearer "+mcAcme, "X-Forwarded-For", "203.0.113.99").ExpectError(t, 429, "Too many failed authentications")
}

// TestIdempotencyKey: a retried POST write with the same Idempotency-Key
// gets the first answer (Idempotent-Replayed: true) and stores and counts
// nothing twice; the same key with another request is a 422; keys are per
// tenant; the kept answers survive a restart and a crash.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	mcTenant(t, s, "beta", mcBeta)
	post := func(token, path string, body any, key string) *Response {
		t.Helper()
		return s.Do("POST", path, body, "Authorization", "Bearer "+token, "Idempotency-Key", key)
	}
	usage := func() map[string]any {
		t.Helper()
		totals := s.Admin("GET", "/admin/tenants/acme/usage", nil).Expect(t, 200).Body["totals"].(map[string]any)
		delete(totals, "admin") // reading usage is itself admin work
		return totals
	}
	expectReplay := func(r, first *Response, status int) {
		t.Helper()
		r.Expect(t, status)
		if r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("Idempotent-Replayed %q on a retry", r.Header.Get("Idempotent-Replayed"))
		}
		if string(r.Raw) != string(first.Raw) {
			t.Fatalf("retry answer differs:\n first %s\n retry %s", first.Raw, r.Raw)
		}
	}

	// POST /memory.
	memBody := map[string]any{"content": "stored exactly once", "tags": []string{"idem"}}
	first := post(mcAcme, "/memory", memBody, "store-1").Expect(t, 201)
	if first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first answer carries Idempotent-Replayed: %q", first.Header.Get("Idempotent-Replayed"))
	}
	memID := first.Body["memory_id"].(string)
	u0 := usage()
	mcExpectCount(t, s, "acme", 1)
	for range 3 {
		r := post(mcAcme, "/memory", memBody, "store-1")
		expectReplay(r, first, 201)
		if r.Body["memory_id"] != memID {
			t.Fatalf("retry memory_id %v, want %s", r.Body["memory_id"], memID)
		}
	}
	mcExpectCount(t, s, "acme", 1)
	mcExpectJSON(t, "usage after retries", usage(), u0)

	// The same key with another body, or on another route, is a 422.
	post(mcAcme, "/memory", map[string]any{"content": "something else", "tags": []string{"idem"}}, "store-1").ExpectError(t, 422, "Idempotency-Key")
	post(mcAcme, "/memory/batch", map[string]any{"memories": []any{memBody}}, "store-1").ExpectError(t, 422, "Idempotency-Key")
	mcExpectCount(t, s, "acme", 1)
	mcExpectJSON(t, "usage after 422s", usage(), u0)
	// Another key, or no key, runs again.
	second := post(mcAcme, "/memory", memBody, "store-2").Expect(t, 201)
	if second.Body["memory_id"] == memID {
		t.Fatal("a different Idempotency-Key replayed another request's answer")
	}
	mcExpectCount(t, s, "acme", 2)
	// Keys are per tenant: beta's "store-1" is beta's own request.
	b := post(mcBeta, "/memory", memBody, "store-1").Expect(t, 201)
	if b.Header.Get("Idempotent-Replayed") != "" || b.Body["memory_id"] == memID {
		t.Fatalf("beta got acme's answer: %s", b.Raw)
	}
	mcExpectCount(t, s, "beta", 1)
	s.As(mcBeta, "GET", "/memory/"+memID, nil).Expect(t, 404)

	// POST /memory/batch.
	batchBody := map[string]any{"memories": []any{
		map[string]any{"content": "batch item one"}, map[string]any{"content": "batch item two"}, map[string]any{"content": "batch item three"}}}
	bFirst := post(mcAcme, "/memory/batch", batchBody, "batch-1").Expect(t, 201)
	mcExpectCount(t, s, "acme", 5)
	u1 := usage()
	expectReplay(post(mcAcme, "/memory/batch", batchBody, "batch-1"), bFirst, 201)
	mcExpectCount(t, s, "acme", 5)
	mcExpectJSON(t, "usage after batch retry", usage(), u1)

	// POST /associate.
	batchIDs := bFirst.Body["memory_ids"].([]any)
	assoc := map[string]any{"memory1_id": memID, "memory2_id": batchIDs[0], "type": "RELATES_TO", "strength": 0.7}
	aFirst := post(mcAcme, "/associate", assoc, "assoc-1").Expect(t, 201)
	u2 := usage()
	expectReplay(post(mcAcme, "/associate", assoc, "assoc-1"), aFirst, 201)
	if st := mcStats(t, s, "acme"); st["graph_relationships"] != float64(1) {
		t.Fatalf("graph_relationships %v after an associate retry", st["graph_relationships"])
	}
	mcExpectJSON(t, "usage after associate retry", usage(), u2)
	assoc["strength"] = 0.9
	post(mcAcme, "/associate", assoc, "assoc-1").ExpectError(t, 422, "Idempotency-Key")

	// An over-long key is a 400 naming the header.
	post(mcAcme, "/memory", memBody, strings.Repeat("k", 256)).ExpectError(t, 400, "Idempotency-Key")
	mcExpectCount(t, s, "acme", 5)
	u2 = usage() // the refused request counts as a store request, and stores nothing
	if u2["memories_stored"] != float64(5) {
		t.Fatalf("memories_stored %v, want 5", u2["memories_stored"])
	}

	// The answers survive a restart and a crash.
	s.Restart(false)
	expectReplay(post(mcAcme, "/memory", memBody, "store-1"), first, 201)
	expectReplay(post(mcAcme, "/memory/batch", batchBody, "batch-1"), bFirst, 201)
	s.Restart(true)
	expectReplay(post(mcAcme, "/associate", map[string]any{"memory1_id": memID, "memory2_id": batchIDs[0], "type": "RELATES_TO", "strength": 0.7}, "assoc-1"), aFirst, 201)
	expectReplay(post(mcAcme, "/memory", memBody, "store-1"), first, 201)
	post(mcAcme, "/memory", map[string]any{"content": "changed after restart"}, "store-1").ExpectError(t, 422, "Idempotency-Key")
	mcExpectCount(t, s, "acme", 5)
	if st := mcStats(t, s, "acme"); st["graph_relationships"] != float64(1) {
		t.Fatalf("graph_relationships %v", st["graph_relationships"])
	}
	mcExpectJSON(t, "usage after restarts", usage(), u2)
}

// TestIdempotencyForgottenWithTenant: a deleted tenant's kept answers go
// with it: a new tenant that reuses the id (perhaps another customer) never
// gets the old tenant's answers replayed, nor a 422 for its own first
// request.
func TestIdempotencyForgottenWithTenant(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	body := map[string]any{"content": "first customer's note", "metadata": map[string]any{"customer": "first-customer-private"}}
	first := s.Do("POST", "/memory", body, "Authorization", "Bearer "+mcAcme, "Idempotency-Key", "order-1").Expect(t, 201)
	s.Do("POST", "/memory", map[string]any{"content": "first customer's other note"}, "Authorization", "Bearer "+mcAcme, "Idempotency-Key", "order-2").Expect(t, 201)
	s.Admin("DELETE", "/admin/tenants/acme", nil).Expect(t, 200)

	const newToken = "acme-second-customer-token"
	mcTenant(t, s, "acme", newToken)
	r := s.Do("POST", "/memory", body, "Authorization", "Bearer "+newToken, "Idempotency-Key", "order-1")
	r.Expect(t, 201)
	if r.Header.Get("Idempotent-Replayed") != "" || r.Body["memory_id"] == first.Body["memory_id"] {
		t.Fatalf("the new tenant got the deleted tenant's answer replayed: %s", r.Raw)
	}
	s.Do("POST", "/memory", map[string]any{"content": "second customer's own note"}, "Authorization", "Bearer "+newToken, "Idempotency-Key", "order-2").Expect(t, 201)
	mcExpectCount(t, s, "acme", 2)
}

// TestTenantStatus: a suspended tenant gets 423 with the reason on every
// request; a read-only one on writes only; data is kept, admin routes keep
// working, the status survives a restart, and active restores everything.
func TestTenantStatus(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	mcTenant(t, s, "beta", mcBeta)
	_, readToken := mcKey(t, s, "acme", map[string]any{"label": "reader", "scopes": []string{"read"}})
	m1 := s.Store(mcAcme, map[string]any{"content": "kept through suspension", "tags": []string{"status"}})
	m2 := s.Store(mcAcme, map[string]any{"content": "second memory kept", "tags": []string{"other"}})

	type req struct {
		method, path string
		body         any
		write        bool
		okStatus     int
	}
	reqs := []req{
		{"GET", "/recall" + Q("query", "kept"), nil, false, 200},
		{"GET", "/memory/" + m1, nil, false, 200},
		{"GET", "/memory/by-tag" + Q("tags", "status"), nil, false, 200},
		{"GET", "/memories/" + m1 + "/related", nil, false, 200},
		{"GET", "/startup-recall", nil, false, 200},
		{"GET", "/analyze", nil, false, 200},
		{"POST", "/memory", map[string]any{"content": "new"}, true, 201},
		{"POST", "/memory/batch", map[string]any{"memories": []any{map[string]any{"content": "new"}}}, true, 201},
		{"PATCH", "/memory/" + m1, map[string]any{"importance": 0.8}, true, 200},
		{"POST", "/associate", map[string]any{"memory1_id": m1, "memory2_id": m2, "type": "RELATES_TO"}, true, 201},
		{"DELETE", "/memory/" + m2, nil, true, 200},
		{"DELETE", "/memory/by-tag" + Q("tags", "other"), nil, true, 200},
	}

	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"status": "suspended", "status_reason": "invoice 2024-11 unpaid"}).Expect(t, 200)
	suspended := func() {
		t.Helper()
		for _, q := range reqs {
			s.As(mcAcme, q.method, q.path, q.body).ExpectError(t, 423, "Tenant 'acme' is suspended: invoice 2024-11 unpaid")
			if !q.write {
				s.As(readToken, q.method, q.path, q.body).ExpectError(t, 423, "Tenant 'acme' is suspended: invoice 2024-11 unpaid")
			}
		}
		// A bad credential is still a 401, not a 423.
		s.As("not-a-valid-token-123", "GET", "/recall", nil).ExpectError(t, 401, "Unauthorized")
		// The other tenant is not affected.
		s.As(mcBeta, "GET", "/recall"+Q("query", "kept"), nil).Expect(t, 200)
		// Admin routes keep working; the data is kept.
		ten := mcTenantJSON(t, s, "acme")
		if ten["status"] != "suspended" || ten["status_reason"] != "invoice 2024-11 unpaid" {
			t.Fatalf("tenant: %v", ten)
		}
		mcExpectCount(t, s, "acme", 2)
		mcKeys(t, s, "acme")
		s.Admin("GET", "/admin/tenants/acme/usage", nil).Expect(t, 200)
		s.Admin("GET", "/admin/tenants/acme/audit", nil).Expect(t, 200)
	}
	suspended()
	// A key created while suspended is suspended too.
	_, newToken := mcKey(t, s, "acme", map[string]any{"label": "new", "scopes": []string{"read", "write"}})
	s.As(newToken, "GET", "/recall"+Q("query", "kept"), nil).ExpectError(t, 423, "is suspended: invoice 2024-11 unpaid")
	s.Restart(false)
	suspended()

	// Without a reason, the message ends at the status.
	r := s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"status": "suspended", "status_reason": nil}).Expect(t, 200)
	if r.Body["tenant"].(map[string]any)["status_reason"] != "" {
		t.Fatalf("status_reason after null: %s", r.Raw)
	}
	if msg := s.As(mcAcme, "GET", "/recall", nil).Body["message"]; msg != "Tenant 'acme' is suspended" {
		t.Fatalf("message %q", msg)
	}

	// Read-only: reads work, writes are 423 and change nothing.
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"status": "read_only", "status_reason": "migrating storage"}).Expect(t, 200)
	readOnly := func() {
		t.Helper()
		for _, q := range reqs {
			if q.write {
				s.As(mcAcme, q.method, q.path, q.body).ExpectError(t, 423, "Tenant 'acme' is read-only: migrating storage")
			} else {
				s.As(mcAcme, q.method, q.path, q.body).Expect(t, q.okStatus)
				s.As(readToken, q.method, q.path, q.body).Expect(t, q.okStatus)
			}
		}
		mcExpectCount(t, s, "acme", 2)
		if st := mcStats(t, s, "acme"); st["graph_relationships"] != float64(0) {
			t.Fatalf("read-only tenant got a relation: %v", st)
		}
		if c := s.As(mcAcme, "GET", "/memory/"+m1, nil).Body["memory"].(map[string]any)["importance"]; c == 0.8 {
			t.Fatal("a read-only tenant's memory was updated")
		}
	}
	readOnly()
	s.Restart(true)
	readOnly()

	// Active again: everything works.
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"status": "active"}).Expect(t, 200)
	for _, q := range reqs {
		s.As(mcAcme, q.method, q.path, q.body).Expect(t, q.okStatus)
	}
	// 2 kept + 1 store + 1 batch - m2 - nothing tagged "other" left.
	mcExpectCount(t, s, "acme", 3)
	s.As(newToken, "GET", "/recall"+Q("query", "kept"), nil).Expect(t, 200)
}

// TestQuotaStorageCountsRelations: relations are part of what a tenant
// stores (stored_bytes counts them), so an associate that would take the
// tenant over max_storage_mb is refused like any other write, and stores
// nothing.
func TestQuotaStorageCountsRelations(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	a := s.Store(mcAcme, map[string]any{"content": "relation quota memory a"})
	b := s.Store(mcAcme, map[string]any{"content": "relation quota memory b"})
	held := int64(mcStats(t, s, "acme")["stored_bytes"].(float64))
	// A quota a few bytes above what the tenant holds: no relation fits.
	quota := float64(held+8) / (1 << 20)
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"quotas": map[string]any{"max_storage_mb": quota}}).Expect(t, 200)
	s.As(mcAcme, "POST", "/memory", map[string]any{"content": "c"}).ExpectError(t, 403, "max_storage_mb")

	s.As(mcAcme, "POST", "/associate", map[string]any{"memory1_id": a, "memory2_id": b, "type": "RELATES_TO", "strength": 0.5}).
		ExpectError(t, 403, "max_storage_mb")
	s.As(mcAcme, "POST", "/associate", map[string]any{"associations": []any{
		map[string]any{"memory1_id": b, "memory2_id": a, "type": "PREFERS_OVER", "context": "a long context that takes bytes", "reason": "a long reason that takes bytes"}}}).
		ExpectError(t, 403, "max_storage_mb")
	st := mcStats(t, s, "acme")
	if st["graph_relationships"] != float64(0) || int64(st["stored_bytes"].(float64)) != held {
		t.Fatalf("a write over the storage quota was stored: graph_relationships %v, stored_bytes %v (quota allows %d)",
			st["graph_relationships"], st["stored_bytes"], held+8)
	}
}
