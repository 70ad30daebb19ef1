package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Helpers shared by keys_test.go, limits_test.go and audit_usage_test.go
// (the managed-service controls). Their names start with mc.

// mcTenant creates a tenant with a client-supplied token and returns the id
// of its first key.
func mcTenant(t *testing.T, s *Server, id, token string) string {
	t.Helper()
	r := s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": id, "api_token": token}).Expect(t, 201)
	keyID, _ := r.Body["key_id"].(string)
	if keyID == "" {
		t.Fatalf("create tenant %s: no key_id: %s", id, r.Raw)
	}
	return keyID
}

// mcKey creates a key and returns its id and token.
func mcKey(t *testing.T, s *Server, tenant string, body map[string]any) (keyID, token string) {
	t.Helper()
	r := s.Admin("POST", "/admin/tenants/"+tenant+"/keys", body).Expect(t, 201)
	key, _ := r.Body["key"].(map[string]any)
	keyID, _ = key["key_id"].(string)
	token, _ = r.Body["api_token"].(string)
	if keyID == "" || token == "" {
		t.Fatalf("create key: %s", r.Raw)
	}
	return keyID, token
}

// mcStats returns the stats of a tenant (GET /admin/tenants/{id}/stats).
func mcStats(t *testing.T, s *Server, id string) map[string]any {
	t.Helper()
	return s.Admin("GET", "/admin/tenants/"+id+"/stats", nil).Expect(t, 200).Body
}

// mcCount returns a tenant's memory_count.
func mcCount(t *testing.T, s *Server, id string) int {
	t.Helper()
	return int(mcStats(t, s, id)["memory_count"].(float64))
}

func mcExpectCount(t *testing.T, s *Server, id string, want int) {
	t.Helper()
	if got := mcCount(t, s, id); got != want {
		t.Fatalf("tenant %s memory_count = %d, want %d", id, got, want)
	}
}

// mcTenantJSON returns GET /admin/tenants/{id} -> tenant.
func mcTenantJSON(t *testing.T, s *Server, id string) map[string]any {
	t.Helper()
	return s.Admin("GET", "/admin/tenants/"+id, nil).Expect(t, 200).Body["tenant"].(map[string]any)
}

// mcJSON renders v canonically (sorted keys) for exact comparisons.
func mcJSON(v any) string {
	raw, _ := json.Marshal(v)
	var back any
	json.Unmarshal(raw, &back)
	out, _ := json.Marshal(back)
	return string(out)
}

func mcExpectJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := mcJSON(got), mcJSON(want); g != w {
		t.Fatalf("%s:\n got  %s\n want %s", what, g, w)
	}
}

// mcNoLeak fails when raw contains any of the secrets.
func mcNoLeak(t *testing.T, what string, raw []byte, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && bytes.Contains(raw, []byte(sec)) {
			t.Fatalf("%s contains %q: %s", what, sec, raw)
		}
	}
}

// mcResult is one raw answer, for requests sent from several goroutines
// (the Server helpers call t.Fatal, which only the test goroutine may).
type mcResult struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error
}

func mcSend(base, method, path string, body any, headers ...string) mcResult {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return mcResult{Err: err}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return mcResult{Err: err}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return mcResult{Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return mcResult{Status: resp.StatusCode, Header: resp.Header, Body: raw, Err: err}
}

// mcISO is how the server renders a whole-second UTC time.
func mcISO(at time.Time) string { return at.UTC().Format("2006-01-02T15:04:05+00:00") }

var (
	mcKeyIDPattern     = regexp.MustCompile(`^key_[A-Za-z0-9_-]+$`)
	mcGeneratedPattern = regexp.MustCompile(`^mnemo_[A-Za-z0-9_-]{43}$`)
)

// mcKeys lists a tenant's keys by id.
func mcKeys(t *testing.T, s *Server, tenant string) (list []map[string]any, byID map[string]map[string]any, raw []byte) {
	t.Helper()
	r := s.Admin("GET", "/admin/tenants/"+tenant+"/keys", nil).Expect(t, 200)
	items, ok := r.Body["keys"].([]any)
	if !ok {
		t.Fatalf("no keys list: %s", r.Raw)
	}
	byID = map[string]map[string]any{}
	for _, it := range items {
		k := it.(map[string]any)
		list = append(list, k)
		byID[k["key_id"].(string)] = k
	}
	return list, byID, r.Raw
}

// TestKeysCreateListAndScopes: a key is created with a label, scopes and an
// optional expiry, its token is shown once, the list never shows a secret and
// starts with the key the tenant was created with; a read-only key recalls
// and is refused every write.
func TestKeysCreateListAndScopes(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	const initialToken = "acme-initial-token-0123"
	before := time.Now().Add(-time.Second)
	initialID := mcTenant(t, s, "acme", initialToken)
	if !mcKeyIDPattern.MatchString(initialID) {
		t.Fatalf("initial key id %q", initialID)
	}

	// A read-only key.
	r := s.Admin("POST", "/admin/tenants/acme/keys", map[string]any{"label": "dashboard", "scopes": []string{"read"}}).Expect(t, 201)
	readToken, _ := r.Body["api_token"].(string)
	if !mcGeneratedPattern.MatchString(readToken) {
		t.Fatalf("api_token %q is not a generated token", readToken)
	}
	readKey := r.Body["key"].(map[string]any)
	readID, _ := readKey["key_id"].(string)
	if !mcKeyIDPattern.MatchString(readID) || readID == initialID {
		t.Fatalf("key_id %q", readID)
	}
	mcExpectJSON(t, "read key", map[string]any{"label": readKey["label"], "scopes": readKey["scopes"], "prefix": readKey["prefix"], "expires_at": readKey["expires_at"]},
		map[string]any{"label": "dashboard", "scopes": []string{"read"}, "prefix": readToken[:8], "expires_at": nil})
	created, err := time.Parse(time.RFC3339Nano, readKey["created_at"].(string))
	if err != nil || created.Before(before) || created.After(time.Now().Add(time.Second)) {
		t.Fatalf("created_at %v (%v)", readKey["created_at"], err)
	}
	mcNoLeak(t, "key object", mcRawJSON(readKey), readToken)

	// A read-write key, and one that expires.
	rwID, rwToken := mcKey(t, s, "acme", map[string]any{"label": "ingest", "scopes": []string{"read", "write"}})
	expires := time.Now().Add(4 * time.Second).Truncate(time.Second).Add(time.Second)
	r = s.Admin("POST", "/admin/tenants/acme/keys", map[string]any{"label": "temp", "scopes": []string{"read", "write"},
		"expires_at": expires.UTC().Format(time.RFC3339)}).Expect(t, 201)
	expKey := r.Body["key"].(map[string]any)
	expID, expToken := expKey["key_id"].(string), r.Body["api_token"].(string)
	if expKey["expires_at"] != mcISO(expires) {
		t.Fatalf("expires_at %v, want %s", expKey["expires_at"], mcISO(expires))
	}
	// The expiring key works until it expires. Checked at once: the steps
	// below can take seconds on a loaded machine (the tests run in
	// parallel), which would leave this check racing the expiry. That it
	// answers 401 once expired is checked further down.
	s.As(expToken, "GET", "/recall"+Q("query", "deploy"), nil).Expect(t, 200)

	// An expiry with an offset is the same instant, shown in UTC.
	offsetAt := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	r = s.Admin("POST", "/admin/tenants/acme/keys", map[string]any{"label": "offset", "scopes": []string{"read"},
		"expires_at": offsetAt.In(time.FixedZone("", 2*3600)).Format(time.RFC3339)}).Expect(t, 201)
	if got := r.Body["key"].(map[string]any)["expires_at"]; got != mcISO(offsetAt) {
		t.Fatalf("expires_at %v, want %s", got, mcISO(offsetAt))
	}
	offsetID := r.Body["key"].(map[string]any)["key_id"].(string)
	s.Admin("DELETE", "/admin/tenants/acme/keys/"+offsetID, nil).Expect(t, 200)

	// The list: four keys, the creation token first, never a secret.
	list, byID, raw := mcKeys(t, s, "acme")
	if byID[offsetID] != nil { // a revoked key may be listed, as revoked
		if byID[offsetID]["revoked_at"] == nil {
			t.Fatalf("revoked key listed without revoked_at: %s", raw)
		}
		list = slices.DeleteFunc(list, func(k map[string]any) bool { return k["key_id"] == offsetID })
	}
	if len(list) != 4 {
		t.Fatalf("%d keys, want 4: %s", len(list), raw)
	}
	if list[0]["key_id"] != initialID {
		t.Fatalf("first key is %v, want the creation key %s: %s", list[0]["key_id"], initialID, raw)
	}
	mcExpectJSON(t, "initial key", map[string]any{"label": list[0]["label"], "scopes": list[0]["scopes"], "prefix": list[0]["prefix"], "expires_at": list[0]["expires_at"]},
		map[string]any{"label": "initial", "scopes": []string{"read", "write"}, "prefix": "acme", "expires_at": nil})
	for _, id := range []string{initialID, readID, rwID, expID} {
		k := byID[id]
		if k == nil {
			t.Fatalf("key %s missing from the list: %s", id, raw)
		}
		for _, field := range []string{"key_id", "label", "scopes", "prefix", "created_at", "expires_at"} {
			if _, ok := k[field]; !ok {
				t.Fatalf("key %s has no %q: %s", id, field, raw)
			}
		}
		for field := range k {
			if strings.Contains(field, "token") || strings.Contains(field, "hash") || field == "secret" {
				t.Fatalf("key %s shows %q: %s", id, field, raw)
			}
		}
	}
	mcExpectJSON(t, "read key in list", byID[readID]["scopes"], []string{"read"})
	if byID[expID]["expires_at"] != mcISO(expires) {
		t.Fatalf("listed expires_at %v", byID[expID]["expires_at"])
	}
	mcNoLeak(t, "GET keys", raw, initialToken, readToken, rwToken, expToken)

	// The read-only key reads everything and writes nothing.
	id := s.Store(initialToken, map[string]any{"content": "the read key may see this deploy note", "tags": []string{"deploy"}})
	other := s.Store(rwToken, map[string]any{"content": "a second memory to associate with", "tags": []string{"misc"}})
	r = s.As(readToken, "GET", "/recall"+Q("query", "deploy note"), nil).Expect(t, 200)
	if got := ids(r); !slices.Contains(got, id) {
		t.Fatalf("read key recall %v does not contain %s", got, id)
	}
	s.As(readToken, "GET", "/memory/"+id, nil).Expect(t, 200)
	if n := s.As(readToken, "GET", "/memory/by-tag"+Q("tags", "deploy"), nil).Expect(t, 200).Body["count"]; n != float64(1) {
		t.Fatalf("by-tag count %v", n)
	}
	s.As(readToken, "GET", "/memories/"+id+"/related", nil).Expect(t, 200)
	s.As(readToken, "GET", "/startup-recall", nil).Expect(t, 200)
	s.As(readToken, "GET", "/analyze", nil).Expect(t, 200)
	writes := []struct {
		method, path string
		body         any
	}{
		{"POST", "/memory", map[string]any{"content": "must not be stored"}},
		{"POST", "/memory/batch", map[string]any{"memories": []any{map[string]any{"content": "must not be stored"}}}},
		{"PATCH", "/memory/" + id, map[string]any{"content": "must not change"}},
		{"DELETE", "/memory/" + id, nil},
		{"DELETE", "/memory/by-tag" + Q("tags", "deploy"), nil},
		{"POST", "/associate", map[string]any{"memory1_id": id, "memory2_id": other, "type": "RELATES_TO"}},
	}
	for _, w := range writes {
		s.As(readToken, w.method, w.path, w.body).ExpectError(t, 403, "'write' scope")
	}
	mcExpectCount(t, s, "acme", 2)
	if st := mcStats(t, s, "acme"); st["graph_relationships"] != float64(0) {
		t.Fatalf("a refused associate stored a relation: %v", st)
	}
	got := s.As(initialToken, "GET", "/memory/"+id, nil).Expect(t, 200).Body["memory"].(map[string]any)
	if got["content"] != "the read key may see this deploy note" {
		t.Fatalf("content changed: %v", got["content"])
	}

	// A write-only key is refused reads.
	_, writeOnly := mcKey(t, s, "acme", map[string]any{"label": "writer", "scopes": []string{"write"}})
	s.As(writeOnly, "GET", "/recall"+Q("query", "deploy"), nil).ExpectError(t, 403, "'read' scope")
	s.Store(writeOnly, map[string]any{"content": "stored by the write-only key"})
	mcExpectCount(t, s, "acme", 3)

	// The expiring key, which worked before it expired, answers 401 after.
	time.Sleep(time.Until(expires) + 200*time.Millisecond)
	s.As(expToken, "GET", "/recall"+Q("query", "deploy"), nil).ExpectError(t, 401, "Unauthorized")
	s.Do("POST", "/memory", map[string]any{"content": "expired"}, "X-API-Key", expToken).ExpectError(t, 401, "Unauthorized")
	s.As(readToken, "GET", "/recall"+Q("query", "deploy"), nil).Expect(t, 200)

	// A tenant key cannot manage keys.
	s.As(initialToken, "POST", "/admin/tenants/acme/keys", map[string]any{"label": "x", "scopes": []string{"read"}}).ExpectError(t, 401, "Admin authorization required")
	s.As(initialToken, "GET", "/admin/tenants/acme/keys", nil).ExpectError(t, 401, "Admin authorization required")
}

func mcRawJSON(v any) []byte {
	raw, _ := json.Marshal(v)
	return raw
}

// TestKeysBadInput: a key request that breaks a rule is a 400 naming the
// field, creates nothing; keys of an unknown tenant are a 404.
func TestKeysBadInput(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	mcTenant(t, s, "acme", "acme-initial-token-0123")
	cases := []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"label": "x", "scopes": []string{"admin"}}, "'scopes'"},
		{map[string]any{"label": "x", "scopes": []string{}}, "'scopes'"},
		{map[string]any{"label": "x", "scopes": "read"}, "'scopes'"},
		{map[string]any{"label": 42, "scopes": []string{"read"}}, "'label'"},
		{map[string]any{"label": "x", "scopes": []string{"read"}, "expires_at": "next tuesday"}, "'expires_at'"},
		{map[string]any{"label": "x", "scopes": []string{"read"}, "expires_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, "'expires_at'"},
	}
	for _, c := range cases {
		s.Admin("POST", "/admin/tenants/acme/keys", c.body).ExpectError(t, 400, c.want)
	}
	if list, _, raw := mcKeys(t, s, "acme"); len(list) != 1 {
		t.Fatalf("refused requests created keys: %s", raw)
	}
	s.Admin("POST", "/admin/tenants/nobody/keys", map[string]any{"label": "x", "scopes": []string{"read"}}).ExpectError(t, 404, "nobody")
	s.Admin("GET", "/admin/tenants/nobody/keys", nil).ExpectError(t, 404, "nobody")
	s.Admin("DELETE", "/admin/tenants/nobody/keys/key_abc", nil).ExpectError(t, 404, "nobody")
}

// TestKeysRevocation: a revoked key answers 401 on the very next request,
// whatever credential form carries it; other keys keep working; revoking is
// per tenant; revocations, scopes and keys survive a restart and a crash.
func TestKeysRevocation(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	const initialToken = "acme-initial-token-0123"
	const betaToken = "beta-initial-token-0123"
	initialID := mcTenant(t, s, "acme", initialToken)
	betaID := mcTenant(t, s, "beta", betaToken)
	rwID, rwToken := mcKey(t, s, "acme", map[string]any{"label": "ingest", "scopes": []string{"read", "write"}})
	readID, readToken := mcKey(t, s, "acme", map[string]any{"label": "dashboard", "scopes": []string{"read"}})
	spareID, spareToken := mcKey(t, s, "acme", map[string]any{"label": "spare", "scopes": []string{"read", "write"}})
	memID := s.Store(rwToken, map[string]any{"content": "written before the revocation"})

	// Revoke, then use at once.
	r := s.Admin("DELETE", "/admin/tenants/acme/keys/"+rwID, nil).Expect(t, 200)
	if r.Body["revoked"] != true || r.Body["key_id"] != rwID {
		t.Fatalf("revoke answer: %s", r.Raw)
	}
	s.As(rwToken, "GET", "/memory/"+memID, nil).ExpectError(t, 401, "Unauthorized")
	s.Do("POST", "/memory", map[string]any{"content": "x"}, "X-API-Key", rwToken).ExpectError(t, 401, "Unauthorized")
	s.Do("GET", "/recall"+Q("query", "revocation", "api_key", rwToken), nil).ExpectError(t, 401, "Unauthorized")
	// The data it wrote stays; the other keys work.
	s.As(initialToken, "GET", "/memory/"+memID, nil).Expect(t, 200)
	s.As(readToken, "GET", "/memory/"+memID, nil).Expect(t, 200)
	s.As(spareToken, "GET", "/memory/"+memID, nil).Expect(t, 200)
	mcExpectCount(t, s, "acme", 1)

	// The list still shows no secret and marks the key revoked if it shows it.
	_, byID, raw := mcKeys(t, s, "acme")
	if k := byID[rwID]; k != nil && k["revoked_at"] == nil {
		t.Fatalf("revoked key listed without revoked_at: %s", raw)
	}
	for _, id := range []string{initialID, readID, spareID} {
		if byID[id] == nil || byID[id]["revoked_at"] != nil {
			t.Fatalf("key %s should be listed and active: %s", id, raw)
		}
	}
	mcNoLeak(t, "GET keys", raw, initialToken, rwToken, readToken, spareToken)

	// Revoking twice, an unknown key, or another tenant's key is a 404 and
	// changes nothing.
	s.Admin("DELETE", "/admin/tenants/acme/keys/"+rwID, nil).Expect(t, 404)
	s.Admin("DELETE", "/admin/tenants/acme/keys/key_doesnotexist", nil).Expect(t, 404)
	s.Admin("DELETE", "/admin/tenants/acme/keys/"+betaID, nil).Expect(t, 404)
	s.Admin("DELETE", "/admin/tenants/beta/keys/"+readID, nil).Expect(t, 404)
	s.As(betaToken, "GET", "/recall"+Q("query", "x"), nil).Expect(t, 200)
	s.As(readToken, "GET", "/recall"+Q("query", "x"), nil).Expect(t, 200)

	// Revoking the creation key locks out the token the tenant was created with.
	s.Admin("DELETE", "/admin/tenants/acme/keys/"+initialID, nil).Expect(t, 200)
	s.As(initialToken, "GET", "/recall"+Q("query", "x"), nil).ExpectError(t, 401, "Unauthorized")

	// A graceful restart: keys, scopes, revocations as they were.
	listBefore, _, _ := mcKeys(t, s, "acme")
	s.Restart(false)
	listAfter, _, _ := mcKeys(t, s, "acme")
	mcExpectJSON(t, "keys after restart", mcWithoutLastUsed(listAfter), mcWithoutLastUsed(listBefore))
	s.As(rwToken, "GET", "/recall"+Q("query", "x"), nil).ExpectError(t, 401, "Unauthorized")
	s.As(initialToken, "GET", "/recall"+Q("query", "x"), nil).ExpectError(t, 401, "Unauthorized")
	s.As(readToken, "GET", "/memory/"+memID, nil).Expect(t, 200)
	s.As(readToken, "POST", "/memory", map[string]any{"content": "still read-only"}).ExpectError(t, 403, "'write' scope")
	s.Store(spareToken, map[string]any{"content": "the spare key still writes"})
	s.As(betaToken, "GET", "/recall"+Q("query", "x"), nil).Expect(t, 200)

	// A revocation answered just before a crash holds after it; a key
	// created just before it works after it.
	s.Admin("DELETE", "/admin/tenants/acme/keys/"+spareID, nil).Expect(t, 200)
	_, lateToken := mcKey(t, s, "acme", map[string]any{"label": "late", "scopes": []string{"read"}})
	s.Restart(true)
	s.As(spareToken, "GET", "/recall"+Q("query", "x"), nil).ExpectError(t, 401, "Unauthorized")
	s.As(lateToken, "GET", "/memory/"+memID, nil).Expect(t, 200)
	s.As(lateToken, "DELETE", "/memory/"+memID, nil).ExpectError(t, 403, "'write' scope")
	mcExpectCount(t, s, "acme", 2)

	// Deleting the tenant ends all its keys.
	s.Admin("DELETE", "/admin/tenants/acme", nil).Expect(t, 200)
	for _, tok := range []string{readToken, lateToken} {
		s.As(tok, "GET", "/recall"+Q("query", "x"), nil).ExpectError(t, 401, "Unauthorized")
	}
}

// mcWithoutLastUsed drops last_used_at, which key use updates in the
// background, and sorts by key id.
func mcWithoutLastUsed(list []map[string]any) []map[string]any {
	out := make([]map[string]any, 0, len(list))
	for _, k := range list {
		c := map[string]any{}
		for f, v := range k {
			if f != "last_used_at" {
				c[f] = v
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]["key_id"]) < fmt.Sprint(out[j]["key_id"]) })
	return out
}
