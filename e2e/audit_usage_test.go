package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// mcEvent is the part of an audit event a test can predict.
type mcEvent struct {
	Actor, Tenant, Action, Target, RequestID, Outcome string
}

func (e mcEvent) String() string {
	return fmt.Sprintf("{%s %s by %s on %s -> %s, request %s}", e.Action, e.Target, e.Actor, e.Tenant, e.Outcome, e.RequestID)
}

// mcAudit GETs an audit route and returns its events, checking each has a
// time within [from, to] and that times never increase down the list
// (newest first).
func mcAudit(t *testing.T, s *Server, path string, from, to time.Time) ([]mcEvent, *Response) {
	t.Helper()
	r := s.Admin("GET", path, nil).Expect(t, 200)
	items, ok := r.Body["events"].([]any)
	if !ok {
		t.Fatalf("GET %s: no events list: %s", path, r.Raw)
	}
	var out []mcEvent
	var prev time.Time
	for i, it := range items {
		e := it.(map[string]any)
		str := func(k string) string {
			v, ok := e[k].(string)
			if !ok {
				t.Fatalf("GET %s: event %d has no string %q: %v", path, i, k, e)
			}
			return v
		}
		at, err := time.Parse(time.RFC3339Nano, str("time"))
		if err != nil || at.Before(from) || at.After(to) {
			t.Fatalf("GET %s: event %d time %v not within [%v, %v] (%v)", path, i, e["time"], from, to, err)
		}
		if i > 0 && at.After(prev) {
			t.Fatalf("GET %s: events are not newest first: %v", path, items)
		}
		prev = at
		out = append(out, mcEvent{str("actor"), str("tenant_id"), str("action"), str("target"), str("request_id"), str("outcome")})
	}
	return out, r
}

func mcExpectEvents(t *testing.T, what string, got, want []mcEvent) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func mcReqID(t *testing.T, r *Response) string {
	t.Helper()
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id header")
	}
	return id
}

// TestAuditTrail: every admin action and destructive tenant action is
// appended with its actor, tenant, action, target, request id and outcome,
// readable as soon as its request has answered; the filters select; a
// deleted tenant's audit stays, across a crash; no token and no memory
// content is ever in it.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	began := time.Now().Add(-time.Second)
	const acmeToken = "acme-audit-token-0123456789"
	const betaToken = "beta-audit-token-0123456789"
	const secretContent = "the launch code is swordfish-42"

	r := s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "acme", "api_token": acmeToken}).Expect(t, 201)
	initialID, createReq := r.Body["key_id"].(string), mcReqID(t, r)
	want := []mcEvent{
		{"admin", "acme", "key.create", initialID, createReq, "success"},
		{"admin", "acme", "tenant.create", "acme", createReq, "success"},
	}
	// latest checks the newest events are exactly want's first n, at once.
	latest := func(n int) {
		t.Helper()
		got, _ := mcAudit(t, s, fmt.Sprintf("/admin/audit?limit=%d", n), began, time.Now().Add(time.Second))
		mcExpectEvents(t, "newest audit events", got, want[:n])
	}
	latest(2)
	push := func(e mcEvent) { want = append([]mcEvent{e}, want...) }

	r = s.Admin("POST", "/admin/tenants/acme/keys", map[string]any{"label": "ops", "scopes": []string{"read", "write"}}).Expect(t, 201)
	opsID, opsToken := r.Body["key"].(map[string]any)["key_id"].(string), r.Body["api_token"].(string)
	push(mcEvent{"admin", "acme", "key.create", opsID, mcReqID(t, r), "success"})
	latest(1)

	r = s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"name": "Acme", "rate_limit": map[string]any{"requests_per_second": 100, "burst": 100}}).Expect(t, 200)
	push(mcEvent{"admin", "acme", "tenant.update", "acme", mcReqID(t, r), "success"})
	latest(1)

	m1 := s.Store(opsToken, map[string]any{"content": secretContent, "tags": []string{"temp"}})
	s.Store(opsToken, map[string]any{"content": "temporary note two", "tags": []string{"temp"}})
	m3 := s.Store(acmeToken, map[string]any{"content": "a memory deleted by id"})
	s.As(opsToken, "GET", "/recall"+Q("query", "launch"), nil).Expect(t, 200)
	s.As(opsToken, "PATCH", "/memory/"+m1, map[string]any{"importance": 0.9}).Expect(t, 200)
	latest(1) // stores, reads and updates are not audited

	r = s.As(opsToken, "DELETE", "/memory/"+m3, nil).Expect(t, 200)
	push(mcEvent{opsID, "acme", "memory.delete", m3, mcReqID(t, r), "success"})
	latest(1)
	sinceReq := r

	r = s.As(acmeToken, "DELETE", "/memory/by-tag"+Q("tags", "temp"), nil).Expect(t, 200)
	push(mcEvent{initialID, "acme", "memory.delete_by_tag", "tags=temp", mcReqID(t, r), "success"})
	latest(1)

	// A destructive action that found nothing changed nothing: a 404, or a
	// delete by tag that matched nothing, is not audited (a client looping
	// over unknown ids would otherwise fill the log).
	const ghost = "00000000-0000-4000-8000-000000000000"
	s.As(acmeToken, "DELETE", "/memory/"+ghost, nil).Expect(t, 404)
	latest(1)
	s.As(acmeToken, "DELETE", "/memory/by-tag"+Q("tags", "no-such-tag"), nil).Expect(t, 200)
	latest(1)
	s.Admin("DELETE", "/admin/tenants/acme/keys/key_nosuchkey", nil).Expect(t, 404)
	latest(1)

	r = s.Admin("DELETE", "/admin/tenants/acme/keys/"+opsID, nil).Expect(t, 200)
	push(mcEvent{"admin", "acme", "key.revoke", opsID, mcReqID(t, r), "success"})
	latest(1)

	r = s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "beta", "api_token": betaToken}).Expect(t, 201)
	betaKey, betaReq := r.Body["key_id"].(string), mcReqID(t, r)
	push(mcEvent{"admin", "beta", "tenant.create", "beta", betaReq, "success"})
	push(mcEvent{"admin", "beta", "key.create", betaKey, betaReq, "success"})
	latest(2)

	r = s.Admin("DELETE", "/admin/tenants/acme", nil).Expect(t, 200)
	push(mcEvent{"admin", "acme", "tenant.delete", "acme", mcReqID(t, r), "success"})
	latest(1)

	only := func(pred func(mcEvent) bool) []mcEvent {
		var out []mcEvent
		for _, e := range want {
			if pred(e) {
				out = append(out, e)
			}
		}
		return out
	}
	acme := only(func(e mcEvent) bool { return e.Tenant == "acme" })
	check := func() {
		t.Helper()
		to := time.Now().Add(time.Second)
		all, raw := mcAudit(t, s, "/admin/audit", began, to)
		mcExpectEvents(t, "GET /admin/audit", all, want)
		mcNoLeak(t, "audit", raw.Raw, acmeToken, betaToken, opsToken, secretContent, "temporary note two", "a memory deleted by id")
		// The deleted tenant's audit stays, by either route.
		got, raw := mcAudit(t, s, "/admin/tenants/acme/audit", began, to)
		mcExpectEvents(t, "GET /admin/tenants/acme/audit", got, acme)
		mcNoLeak(t, "tenant audit", raw.Raw, acmeToken, opsToken, secretContent)
		got, _ = mcAudit(t, s, "/admin/audit?tenant_id=acme", began, to)
		mcExpectEvents(t, "?tenant_id=acme", got, acme)
		got, _ = mcAudit(t, s, "/admin/audit?tenant_id=beta", began, to)
		mcExpectEvents(t, "?tenant_id=beta", got, only(func(e mcEvent) bool { return e.Tenant == "beta" }))
		got, _ = mcAudit(t, s, "/admin/audit?action=key.create", began, to)
		mcExpectEvents(t, "?action=key.create", got, only(func(e mcEvent) bool { return e.Action == "key.create" }))
		got, _ = mcAudit(t, s, "/admin/audit?action=key.create&tenant_id=acme", began, to)
		mcExpectEvents(t, "?action=key.create&tenant_id=acme", got, only(func(e mcEvent) bool { return e.Action == "key.create" && e.Tenant == "acme" }))
		got, _ = mcAudit(t, s, "/admin/tenants/acme/audit?action=memory.delete", began, to)
		mcExpectEvents(t, "acme ?action=memory.delete", got, only(func(e mcEvent) bool { return e.Action == "memory.delete" }))
		got, _ = mcAudit(t, s, "/admin/audit?limit=3", began, to)
		mcExpectEvents(t, "?limit=3", got, want[:3])
		got, _ = mcAudit(t, s, "/admin/audit?tenant_id=nobody", began, to)
		mcExpectEvents(t, "?tenant_id=nobody", got, nil)
		// since: the event of sinceReq and everything after it.
		var sinceTime string
		for _, it := range s.Admin("GET", "/admin/audit?action=memory.delete", nil).Body["events"].([]any) {
			if e := it.(map[string]any); e["request_id"] == mcReqID(t, sinceReq) {
				sinceTime = e["time"].(string)
			}
		}
		if sinceTime == "" {
			t.Fatal("no event for the since request")
		}
		var fromSince []mcEvent
		for _, e := range want {
			fromSince = append(fromSince, e)
			if e.RequestID == mcReqID(t, sinceReq) {
				break
			}
		}
		got, _ = mcAudit(t, s, "/admin/audit"+Q("since", sinceTime), began, to)
		mcExpectEvents(t, "?since="+sinceTime, got, fromSince)
		got, _ = mcAudit(t, s, "/admin/audit"+Q("since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), began, to)
		mcExpectEvents(t, "?since=an hour ahead", got, nil)
	}
	check()
	s.Restart(true)
	check()

	// Bad parameters are 400s naming them; the audit is the operator's only.
	s.Admin("GET", "/admin/audit?since=yesterday", nil).ExpectError(t, 400, "'since'")
	s.Admin("GET", "/admin/audit?limit=0", nil).ExpectError(t, 400, "'limit'")
	s.Admin("GET", "/admin/audit?limit=many", nil).ExpectError(t, 400, "'limit'")
	s.Admin("GET", "/admin/tenants/Not_Valid/audit", nil).ExpectError(t, 400, "tenant_id")
	s.As(betaToken, "GET", "/admin/audit", nil).ExpectError(t, 401, "Admin authorization required")
	s.As(betaToken, "GET", "/admin/tenants/beta/audit", nil).ExpectError(t, 401, "Admin authorization required")
}

// TestAuditRefusedAdminActions: an admin action that is refused is still an
// admin action, and the audit's outcome field is there to say how it ended:
// a refused update, a refused key and a duplicate tenant are recorded with
// their error outcome. A delete of an unknown tenant (404) changed nothing
// and is not recorded.
func TestAuditRefusedAdminActions(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	began := time.Now().Add(-time.Second)
	mcTenant(t, s, "acme", "acme-audit-token-0123456789")

	r := s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "acme", "api_token": "another-token-0123456789"}).Expect(t, 409)
	dup := mcReqID(t, r)
	r = s.Admin("DELETE", "/admin/tenants/ghost", nil).Expect(t, 404)
	del := mcReqID(t, r)
	r = s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"status": "paused"}).Expect(t, 400)
	upd := mcReqID(t, r)
	r = s.Admin("POST", "/admin/tenants/acme/keys", map[string]any{"label": "x", "scopes": []string{"root"}}).Expect(t, 400)
	key := mcReqID(t, r)

	all, _ := mcAudit(t, s, "/admin/audit", began, time.Now().Add(time.Second))
	byReq := map[string]mcEvent{}
	for _, e := range all {
		byReq[e.RequestID] = e
	}
	if e, ok := byReq[del]; ok {
		t.Errorf("DELETE /admin/tenants/ghost (404) was audited: %v", e)
	}
	for _, c := range []struct {
		req, what, action, tenant, outcome string
	}{
		{dup, "POST /admin/tenants with an existing id (409)", "tenant.create", "acme", "error: 409"},
		{upd, "PATCH /admin/tenants/acme with a bad status (400)", "tenant.update", "acme", "error: 400"},
		{key, "POST /admin/tenants/acme/keys with a bad scope (400)", "key.create", "acme", "error: 400"},
	} {
		e, ok := byReq[c.req]
		if !ok {
			t.Errorf("%s: no audit event with its request id %s; events: %v", c.what, c.req, all)
			continue
		}
		if e.Action != c.action || e.Tenant != c.tenant || e.Actor != "admin" || e.Outcome != c.outcome {
			t.Errorf("%s: event %v, want action %s tenant %s actor admin outcome %q", c.what, e, c.action, c.tenant, c.outcome)
		}
	}
}

// mcUsage returns GET /admin/tenants/{id}/usage for one day range.
func mcUsage(t *testing.T, s *Server, id, from, to string) *Response {
	t.Helper()
	return s.Admin("GET", "/admin/tenants/"+id+"/usage"+Q("from", from, "to", to), nil).Expect(t, 200)
}

func mcDay(at time.Time) string { return at.UTC().Format("2006-01-02") }

// mcUsageTracker predicts a tenant's usage totals for today.
type mcUsageTracker struct {
	t        *testing.T
	s        *Server
	id       string
	want     map[string]int64
	from, to string
	deleted  bool // admin reads of a deleted tenant are not its usage
}

func (u *mcUsageTracker) add(kind string, n int64) { u.want[kind] += n }

// storedBytes reads the tenant's stored_bytes (an admin request: it counts).
func (u *mcUsageTracker) storedBytes() int64 {
	u.t.Helper()
	b := int64(mcStats(u.t, u.s, u.id)["stored_bytes"].(float64))
	u.add("admin", 1)
	return b
}

func (u *mcUsageTracker) wantJSON() map[string]any {
	w := map[string]any{}
	for k, v := range u.want {
		if v != 0 {
			w[k] = v
		}
	}
	return w
}

// check reads the tenant's usage and compares it with the prediction. The
// read is itself admin work on the tenant, counted before it answers, so
// it counts itself.
func (u *mcUsageTracker) check(what string) {
	u.t.Helper()
	if !u.deleted {
		u.add("admin", 1)
	}
	r := mcUsage(u.t, u.s, u.id, u.from, u.to)
	w := u.wantJSON()
	mcExpectJSON(u.t, what+": usage totals", r.Body["totals"], w)
	today := mcDay(time.Now())
	if mcDay(time.Now().Add(-time.Minute)) == today { // not across midnight
		mcExpectJSON(u.t, what+": usage days", r.Body["days"], map[string]any{today: w})
	}
	if r.Body["tenant_id"] != u.id || r.Body["from"] != u.from || r.Body["to"] != u.to {
		u.t.Fatalf("%s: usage answer: %s", what, r.Raw)
	}
}

// TestUsageForBilling: usage counts requests by kind, memories and bytes
// stored and embedding calls, per tenant and UTC day; the counts are
// visible as soon as the request has answered, survive a clean shutdown at
// once and a crash once a flush interval has passed, outlive the tenant,
// and read the same as JSON and CSV, per tenant and for all.
func TestUsageForBilling(t *testing.T) {
	t.Parallel()
	const flush = 100 * time.Millisecond
	s := Start(t, map[string]string{"MNEMO_USAGE_FLUSH_INTERVAL": flush.String()})
	now := time.Now()
	today, yesterday, tomorrow := mcDay(now), mcDay(now.Add(-24*time.Hour)), mcDay(now.Add(24*time.Hour))
	mcTenant(t, s, "acme", mcAcme)
	mcTenant(t, s, "beta", mcBeta)
	acme := &mcUsageTracker{t: t, s: s, id: "acme", want: map[string]int64{}, from: yesterday, to: tomorrow}
	acme.check("new tenant")

	// Stores: each counts a request, the memories, their bytes (as the
	// tenant's stored_bytes counts them) and one embedding call; a batch
	// is one request and one embedding call.
	m1 := s.Store(mcAcme, map[string]any{"content": "usage memory one", "tags": []string{"u"}})
	acme.add("store", 1)
	acme.add("memories_stored", 1)
	acme.add("embedding_calls", 1)
	acme.want["bytes_stored"] = acme.storedBytes()
	acme.check("after one store")
	m2 := s.Store(mcAcme, map[string]any{"content": "usage memory two", "metadata": map[string]any{"source": "test"}})
	acme.add("store", 1)
	acme.add("memories_stored", 1)
	acme.add("embedding_calls", 1)
	acme.want["bytes_stored"] = acme.storedBytes()
	acme.check("after two stores")
	r := s.As(mcAcme, "POST", "/memory/batch", map[string]any{"memories": []any{
		map[string]any{"content": "usage batch one"}, map[string]any{"content": "usage batch two", "tags": []string{"gone"}},
		map[string]any{"content": "usage batch three"}}}).Expect(t, 201)
	m3 := r.Body["memory_ids"].([]any)[0].(string)
	acme.add("store", 1)
	acme.add("memories_stored", 3)
	acme.add("embedding_calls", 1)
	acme.want["bytes_stored"] = acme.storedBytes()
	acme.check("after a batch")

	// Reads: recall (one embedding call for its query), get, by-tag, related.
	s.As(mcAcme, "GET", "/recall"+Q("query", "usage memory"), nil).Expect(t, 200)
	s.As(mcAcme, "GET", "/recall"+Q("query", "batch"), nil).Expect(t, 200)
	acme.add("recall", 2)
	acme.add("embedding_calls", 2)
	s.As(mcAcme, "GET", "/memory/"+m1, nil).Expect(t, 200)
	s.As(mcAcme, "GET", "/memory/by-tag"+Q("tags", "u"), nil).Expect(t, 200)
	acme.add("recall", 2)
	acme.check("after reads")

	// An update without new content, a delete, an associate, a delete by tag.
	s.As(mcAcme, "PATCH", "/memory/"+m1, map[string]any{"importance": 0.9}).Expect(t, 200)
	acme.add("update", 1)
	s.As(mcAcme, "DELETE", "/memory/"+m2, nil).Expect(t, 200)
	acme.add("delete", 1)
	beforeRelation := acme.storedBytes()
	s.As(mcAcme, "POST", "/associate", map[string]any{"memory1_id": m1, "memory2_id": m3, "type": "RELATES_TO"}).Expect(t, 201)
	acme.add("associate", 1)
	relationBytes := acme.storedBytes() - beforeRelation
	if relationBytes <= 0 {
		t.Fatalf("a relation stored %d bytes", relationBytes)
	}
	acme.add("bytes_stored", relationBytes) // a relation is stored data too
	s.As(mcAcme, "DELETE", "/memory/by-tag"+Q("tags", "gone"), nil).Expect(t, 200)
	acme.add("delete", 1)
	acme.check("after writes")
	// Admin work on the tenant counts as admin.
	s.Admin("GET", "/admin/tenants/acme", nil).Expect(t, 200)
	s.Admin("PATCH", "/admin/tenants/acme", map[string]any{"name": "Acme"}).Expect(t, 200)
	mcKeys(t, s, "acme")
	acme.add("admin", 3)
	acme.check("after admin work")
	// Requests refused before they reach the tenant are not the tenant's.
	s.As("not-a-token-0123456789", "POST", "/memory", map[string]any{"content": "x"}).Expect(t, 401)
	acme.check("after a 401")

	// Another tenant's usage is its own.
	s.Store(mcBeta, map[string]any{"content": "beta usage"})
	beta := &mcUsageTracker{t: t, s: s, id: "beta", want: map[string]int64{"store": 1, "memories_stored": 1, "embedding_calls": 1}, from: yesterday, to: tomorrow}
	beta.want["bytes_stored"] = beta.storedBytes()
	beta.check("beta")
	acme.check("acme after beta's store")

	// All tenants at once; /admin/usage is no tenant's admin work.
	all := s.Admin("GET", "/admin/usage"+Q("from", yesterday, "to", tomorrow), nil).Expect(t, 200)
	if mcDay(time.Now()) == today {
		mcExpectJSON(t, "GET /admin/usage tenants", all.Body["tenants"], map[string]any{
			"acme": map[string]any{"days": map[string]any{today: acme.wantJSON()}, "totals": acme.wantJSON(), "incarnation": 1.0},
			"beta": map[string]any{"days": map[string]any{today: beta.wantJSON()}, "totals": beta.wantJSON(), "incarnation": 1.0},
		})
	}
	// The default range is this month to today.
	acme.add("admin", 1)
	r = s.Admin("GET", "/admin/tenants/acme/usage", nil).Expect(t, 200)
	mcExpectJSON(t, "default range totals", r.Body["totals"], acme.wantJSON())
	// Days without usage have none.
	acme.add("admin", 1)
	r = mcUsage(t, s, "acme", tomorrow, tomorrow)
	mcExpectJSON(t, "tomorrow's usage", map[string]any{"days": r.Body["days"], "totals": r.Body["totals"]}, map[string]any{"days": map[string]any{}, "totals": map[string]any{}})

	// CSV: one row per tenant, day and kind, with the tenant's incarnation.
	csvWant := func(ids ...*mcUsageTracker) string {
		var b strings.Builder
		b.WriteString("tenant_id,day,kind,count,incarnation\n")
		for _, u := range ids {
			for _, k := range []string{"admin", "associate", "bytes_stored", "delete", "embedding_calls", "memories_stored", "recall", "store", "update"} {
				if n := u.want[k]; n != 0 {
					fmt.Fprintf(&b, "%s,%s,%s,%d,1\n", u.id, today, k, n)
				}
			}
		}
		return b.String()
	}
	if mcDay(time.Now()) == today {
		acme.add("admin", 1)
		r = s.Admin("GET", "/admin/tenants/acme/usage"+Q("from", today, "to", today, "format", "csv"), nil).Expect(t, 200)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("CSV Content-Type %q", ct)
		}
		if got, want := strings.ReplaceAll(string(r.Raw), "\r\n", "\n"), csvWant(acme); got != want {
			t.Fatalf("acme CSV:\n%s\nwant:\n%s", got, want)
		}
		r = s.Admin("GET", "/admin/usage"+Q("from", today, "to", today, "format", "csv"), nil).Expect(t, 200)
		if got, want := strings.ReplaceAll(string(r.Raw), "\r\n", "\n"), csvWant(acme, beta); got != want {
			t.Fatalf("all-tenant CSV:\n%s\nwant:\n%s", got, want)
		}
	}

	// Counts answered just before a clean shutdown survive it.
	before := acme.storedBytes()
	s.Store(mcAcme, map[string]any{"content": "stored just before the shutdown"})
	s.As(mcAcme, "GET", "/recall"+Q("query", "shutdown"), nil).Expect(t, 200)
	s.Restart(false)
	acme.add("store", 1)
	acme.add("memories_stored", 1)
	acme.add("embedding_calls", 2)
	acme.add("recall", 1)
	acme.add("bytes_stored", acme.storedBytes()-before)
	acme.check("after a clean shutdown")

	// A crash loses at most the last flush interval: counts answered well
	// before it survive. (Ten intervals, not one: on a loaded machine the
	// flusher's tick and its fsync can each run late.)
	before = acme.storedBytes()
	s.Store(mcAcme, map[string]any{"content": "stored well before the crash"})
	s.As(mcAcme, "GET", "/recall"+Q("query", "crash"), nil).Expect(t, 200)
	time.Sleep(10 * flush)
	s.Restart(true)
	acme.add("store", 1)
	acme.add("memories_stored", 1)
	acme.add("embedding_calls", 2)
	acme.add("recall", 1)
	acme.add("bytes_stored", acme.storedBytes()-before)
	acme.check("after a crash")

	// Usage outlives the tenant.
	s.Admin("DELETE", "/admin/tenants/beta", nil).Expect(t, 200)
	beta.add("admin", 1)
	beta.deleted = true
	beta.check("deleted beta")
	s.Restart(false)
	beta.check("deleted beta after a restart")
	acme.check("acme after a restart")
	all = s.Admin("GET", "/admin/usage"+Q("from", yesterday, "to", tomorrow), nil).Expect(t, 200)
	mcExpectJSON(t, "deleted tenant in /admin/usage", all.Body["tenants"].(map[string]any)["beta"].(map[string]any)["totals"], beta.wantJSON())
}

// TestUsageBadRange: a bad from or to is a 400 naming the field.
func TestUsageBadRange(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	for _, path := range []string{"/admin/tenants/acme/usage", "/admin/usage"} {
		s.Admin("GET", path+Q("from", "2025-02-30"), nil).ExpectError(t, 400, "'from'")
		s.Admin("GET", path+Q("from", "yesterday"), nil).ExpectError(t, 400, "'from'")
		s.Admin("GET", path+Q("to", "20250101"), nil).ExpectError(t, 400, "'to'")
		s.Admin("GET", path+Q("from", "2025-01-01", "to", "2025-1-31"), nil).ExpectError(t, 400, "'to'")
		r := s.Admin("GET", path+Q("from", "2025-03-01", "to", "2025-02-01"), nil)
		r.ExpectError(t, 400, "'from'")
		r.ExpectError(t, 400, "'to'")
		s.Admin("GET", path+Q("format", "xml"), nil).ExpectError(t, 400, "'format'")
		s.As(mcAcme, "GET", path, nil).ExpectError(t, 401, "Admin authorization required")
	}
	s.Admin("GET", "/admin/tenants/Bad.Id/usage", nil).ExpectError(t, 400, "tenant_id")
}

// TestUsageNoPhantomTenant: admin requests naming a tenant that does not
// exist bill no one: the tenant never shows up in the usage of all tenants.
func TestUsageNoPhantomTenant(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", mcAcme)
	s.Admin("GET", "/admin/tenants/ghost", nil).ExpectError(t, 404, "ghost")
	s.Admin("PATCH", "/admin/tenants/ghost", map[string]any{"name": "x"}).ExpectError(t, 404, "ghost")
	s.Admin("GET", "/admin/tenants/ghost/keys", nil).ExpectError(t, 404, "ghost")
	r := s.Admin("GET", "/admin/usage", nil).Expect(t, 200)
	tenants, _ := r.Body["tenants"].(map[string]any)
	if _, ok := tenants["ghost"]; ok {
		t.Fatalf("GET /admin/usage lists a tenant that never existed: %s", r.Raw)
	}
}
