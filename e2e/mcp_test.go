package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// mcpStep returns step i, failing when it threw instead of answering.
func mcpStep(t *testing.T, out []map[string]any, i int) map[string]any {
	t.Helper()
	if i >= len(out) {
		t.Fatalf("step %d missing: %v", i, out)
	}
	if e, ok := out[i]["error"]; ok {
		t.Fatalf("step %d threw: %v", i, e)
	}
	return out[i]
}

func mcpOK(t *testing.T, out []map[string]any, i int) map[string]any {
	t.Helper()
	st := mcpStep(t, out, i)
	if st["isError"] == true {
		t.Fatalf("step %d is a tool error: %v", i, st["text"])
	}
	s, _ := st["structured"].(map[string]any)
	return s
}

func mcpToolError(t *testing.T, out []map[string]any, i int, want string) {
	t.Helper()
	st := mcpStep(t, out, i)
	if st["isError"] != true || !strings.Contains(fmt.Sprint(st["text"]), want) {
		t.Fatalf("step %d: want a tool error containing %q, got isError=%v text=%v", i, want, st["isError"], st["text"])
	}
}

func recallIDs(structured map[string]any) []string {
	var ids []string
	rows, _ := structured["results"].([]any)
	for _, r := range rows {
		ids = append(ids, r.(map[string]any)["id"].(string))
	}
	return ids
}

// TestMCPToolsWithARealClient drives every tool through the official
// TypeScript SDK, over Streamable HTTP and through `mnemo mcp` on stdio.
func TestMCPToolsWithARealClient(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"http", "stdio"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel() // each mode has its own server
			s := Start(t, nil)
			s.CreateTenant("alpha", "alpha-mcp-token")
			out := runMCPClient(t, mode, s, "alpha-mcp-token", []map[string]any{
				{"op": "list_tools"},
				{"op": "call", "tool": "store_memory", "args": map[string]any{"content": "We chose PostgreSQL over MongoDB for billing", "tags": []string{"project:billing"}, "importance": 0.8}},
				{"op": "call", "tool": "store_memory", "args": map[string]any{"memories": []map[string]any{
					{"content": "Billing runs nightly at 02:00 UTC", "tags": []string{"project:billing"}},
					{"content": "The team prefers tabs over spaces"}}}},
				{"op": "call", "tool": "recall_memory", "args": map[string]any{"query": "which database for billing", "limit": 5}},
				{"op": "call", "tool": "associate_memories", "args": map[string]any{"memory1_id": "$1.memory_id", "memory2_id": "$2.memory_ids.0", "type": "RELATES_TO", "strength": 0.7}},
				{"op": "call", "tool": "update_memory", "args": map[string]any{"memory_id": "$2.memory_ids.1", "content": "The team prefers spaces now"}},
				{"op": "call", "tool": "recall_memory", "args": map[string]any{"memory_id": "$2.memory_ids.1"}},
				{"op": "call", "tool": "recall_memory", "args": map[string]any{"tags": []string{"project:billing"}, "exhaustive": true}},
				{"op": "call", "tool": "delete_memory", "args": map[string]any{"memory_id": "$2.memory_ids.1"}},
				{"op": "call", "tool": "recall_memory", "args": map[string]any{"memory_id": "$2.memory_ids.1"}},
				{"op": "call", "tool": "check_database_health", "args": map[string]any{}},
				{"op": "call", "tool": "store_memory", "args": map[string]any{"content": "Billing now uses CockroachDB", "supersedes_memory_id": "$1.memory_id", "supersede_reason": "migration"}},
				{"op": "call", "tool": "recall_memory", "args": map[string]any{"query": "billing database", "limit": 5}},
			})
			tools := mcpStep(t, out, 0)["tools"].([]any)
			var names []string
			for _, n := range tools {
				names = append(names, n.(string))
			}
			if got := strings.Join(names, ","); got != "associate_memories,check_database_health,delete_memory,recall_memory,store_memory,update_memory" {
				t.Fatalf("tools: %s", got)
			}
			stored := mcpOK(t, out, 1)
			first, _ := stored["memory_id"].(string)
			if len(first) != 36 || !strings.Contains(fmt.Sprint(mcpStep(t, out, 1)["text"]), first) {
				t.Fatalf("store: %v", out[1])
			}
			batch := mcpOK(t, out, 2)
			if batch["stored"] != float64(2) {
				t.Fatalf("batch: %v", batch)
			}
			// The billing memory has a word of the query, and more importance,
			// than the one about tabs, which has none: it ranks above it.
			// Against the nightly billing memory (a shorter text, less
			// important) the order is the weights' business, which the
			// evalset judges.
			ids := recallIDs(mcpOK(t, out, 3))
			tabs, _ := batch["memory_ids"].([]any)[1].(string)
			if at, tabsAt := slices.Index(ids, first), slices.Index(ids, tabs); at < 0 || (tabsAt >= 0 && tabsAt < at) {
				t.Fatalf("recall: want %s, above %s, got %v", first, tabs, ids)
			}
			if !strings.Contains(fmt.Sprint(mcpStep(t, out, 3)["text"]), "PostgreSQL") {
				t.Fatalf("recall text lacks the memory: %v", out[3]["text"])
			}
			if a := mcpOK(t, out, 4); a["relation_type"] != "RELATES_TO" || a["strength"] != 0.7 {
				t.Fatalf("associate: %v", a)
			}
			mcpOK(t, out, 5)
			if m := mcpOK(t, out, 6)["memory"].(map[string]any); m["content"] != "The team prefers spaces now" {
				t.Fatalf("update not visible: %v", m)
			}
			if ex := mcpOK(t, out, 7); ex["count"] != float64(2) {
				t.Fatalf("exhaustive by tag: %v", ex)
			}
			mcpOK(t, out, 8)
			if gone := mcpOK(t, out, 9); gone["count"] != float64(0) || !strings.Contains(fmt.Sprint(out[9]["text"]), "No memory") {
				t.Fatalf("deleted memory still recalled: %v", out[9])
			}
			if h := mcpOK(t, out, 10); h["memory_count"] != float64(2) || h["tenant_id"] != "alpha" {
				t.Fatalf("health: %v", h)
			}
			sup := mcpOK(t, out, 11)
			newID := sup["memory_id"].(string)
			ids = recallIDs(mcpOK(t, out, 12))
			for _, id := range ids {
				if id == first {
					t.Fatalf("the superseded memory is still current: %v", ids)
				}
			}
			if !slices.Contains(ids, newID) {
				t.Fatalf("recall after supersede: want %s, got %v", newID, ids)
			}
			// The tools really wrote through the API: the HTTP view agrees.
			r := s.As("alpha-mcp-token", "GET", "/memory/"+first, nil).Expect(t, 200)
			m := r.Body["memory"].(map[string]any)
			if m["t_invalid"] == nil || m["metadata"].(map[string]any)["superseded_by"] != newID {
				t.Fatalf("old memory not marked superseded: %s", r.Raw)
			}
		})
	}
}

// TestMCPIsolation: a second tenant's client never sees the first tenant's
// memories, by any tool.
func TestMCPIsolation(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-mcp-token")
	s.CreateTenant("bravo", "bravo-mcp-token")
	secret := s.Store("alpha-mcp-token", map[string]any{"content": "alpha secret launch codes", "tags": []string{"shared"}})
	s.Store("bravo-mcp-token", map[string]any{"content": "bravo grocery list", "tags": []string{"shared"}})
	for _, mode := range []string{"http", "stdio"} {
		out := runMCPClient(t, mode, s, "bravo-mcp-token", []map[string]any{
			{"op": "call", "tool": "recall_memory", "args": map[string]any{"query": "alpha secret launch codes", "limit": 20}},
			{"op": "call", "tool": "recall_memory", "args": map[string]any{"memory_id": secret}},
			{"op": "call", "tool": "recall_memory", "args": map[string]any{"tags": []string{"shared"}, "exhaustive": true}},
			{"op": "call", "tool": "update_memory", "args": map[string]any{"memory_id": secret, "content": "overwritten"}},
			{"op": "call", "tool": "delete_memory", "args": map[string]any{"memory_id": secret}},
			{"op": "call", "tool": "delete_memory", "args": map[string]any{"tags": []string{"shared"}}},
			{"op": "call", "tool": "check_database_health", "args": map[string]any{}},
		})
		for i := range out {
			if st, ok := out[i]["structured"].(map[string]any); ok {
				delete(st, "query") // the request's own words, echoed
				delete(st, "keywords")
			}
			raw, _ := json.Marshal(out[i])
			if strings.Contains(string(raw), secret) && i != 1 && i != 3 && i != 4 || strings.Contains(string(raw), "launch codes") {
				t.Fatalf("%s step %d shows alpha's memory: %s", mode, i, raw)
			}
		}
		if ids := recallIDs(mcpOK(t, out, 0)); len(ids) != 1 {
			t.Fatalf("%s: bravo recalled %v", mode, ids)
		}
		if got := mcpOK(t, out, 1); got["count"] != float64(0) {
			t.Fatalf("%s: bravo fetched alpha's memory by id: %v", mode, got)
		}
		mcpToolError(t, out, 3, "404: Memory not found")
		mcpToolError(t, out, 4, "404: Memory not found")
		if h := mcpOK(t, out, 6); h["tenant_id"] != "bravo" || h["memory_count"] != float64(0) {
			t.Fatalf("%s: health %v", mode, h)
		}
		s.Store("bravo-mcp-token", map[string]any{"content": "bravo grocery list", "tags": []string{"shared"}})
	}
	r := s.As("alpha-mcp-token", "GET", "/memory/"+secret, nil).Expect(t, 200)
	if r.Body["memory"].(map[string]any)["content"] != "alpha secret launch codes" {
		t.Fatalf("alpha's memory changed: %s", r.Raw)
	}
}

// TestMCPRefusalsAreToolErrors: scopes and quotas reach the assistant as
// tool errors with the HTTP API's message; a rate-limited or suspended
// tenant is refused every HTTP request to /mcp, so it cannot connect (see
// abuse_mcp_auth_test.go for the statuses).
func TestMCPRefusalsAreToolErrors(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-mcp-token")
	r := s.Admin("POST", "/admin/tenants/alpha/keys", map[string]any{"label": "reader", "scopes": []string{"read"}}).Expect(t, 201)
	reader := r.Body["api_token"].(string)
	out := runMCPClient(t, "http", s, reader, []map[string]any{
		{"op": "call", "tool": "recall_memory", "args": map[string]any{"query": "anything"}},
		{"op": "call", "tool": "store_memory", "args": map[string]any{"content": "not allowed"}},
		{"op": "call", "tool": "associate_memories", "args": map[string]any{"memory1_id": "00000000-0000-4000-8000-000000000001", "memory2_id": "00000000-0000-4000-8000-000000000002"}},
		{"op": "call", "tool": "delete_memory", "args": map[string]any{"tags": []string{"x"}}},
	})
	mcpOK(t, out, 0)
	for i := 1; i <= 3; i++ {
		mcpToolError(t, out, i, "403: This key lacks the 'write' scope")
	}

	s.Admin("PATCH", "/admin/tenants/alpha", map[string]any{"quotas": map[string]any{"max_memories": 1}}).Expect(t, 200)
	out = runMCPClient(t, "http", s, "alpha-mcp-token", []map[string]any{
		{"op": "call", "tool": "store_memory", "args": map[string]any{"content": "the one that fits"}},
		{"op": "call", "tool": "store_memory", "args": map[string]any{"content": "one too many"}},
	})
	mcpOK(t, out, 0)
	mcpToolError(t, out, 1, "403: Quota exceeded: max_memories is 1; the tenant holds 1 and this request adds 1")

	s.Admin("PATCH", "/admin/tenants/alpha", map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.001, "burst": 1}}).Expect(t, 200)
	_, stderr, err := tryMCPClient(t, "http", s, "alpha-mcp-token", []map[string]any{{"op": "ping"}})
	if err == nil || !strings.Contains(stderr, "Rate limit exceeded") {
		t.Fatalf("a rate-limited tenant connected: err %v, stderr %q", err, stderr)
	}

	s.Admin("PATCH", "/admin/tenants/alpha", map[string]any{"rate_limit": nil, "status": "suspended", "status_reason": "unpaid"}).Expect(t, 200)
	_, stderr, err = tryMCPClient(t, "http", s, "alpha-mcp-token", []map[string]any{{"op": "ping"}})
	if err == nil || !strings.Contains(stderr, "Tenant 'alpha' is suspended: unpaid") {
		t.Fatalf("a suspended tenant connected: err %v, stderr %q", err, stderr)
	}

	// Tool calls count as usage like HTTP calls.
	u := s.Admin("GET", "/admin/tenants/alpha/usage", nil).Expect(t, 200)
	totals := u.Body["totals"].(map[string]any)
	if totals["store"] != float64(2) || totals["memories_stored"] != float64(1) {
		t.Fatalf("usage of MCP calls: %v", totals)
	}
}

// mcpPost sends one JSON-RPC message to /mcp as a client would, returning
// the status, the session id header and the first JSON-RPC message.
func mcpPost(t *testing.T, s *Server, token, session string, msg map[string]any) (int, http.Header, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(msg)
	req := mcpRequest(t, s, token, session, raw)
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") {
				json.Unmarshal([]byte(line[6:]), &out)
				break
			}
		}
	} else {
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &out)
	}
	return resp.StatusCode, resp.Header, out
}

func mcpInit(t *testing.T, s *Server, token string) string {
	t.Helper()
	code, h, _ := mcpPost(t, s, token, "", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize",
		"params": map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "test", "version": "0"}}})
	if code != 200 || h.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: %d %v", code, h)
	}
	session := h.Get("Mcp-Session-Id")
	if code, _, _ := mcpPost(t, s, token, session, map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"}); code != 202 {
		t.Fatalf("initialized: %d", code)
	}
	return session
}

func mcpHealthCall(t *testing.T, s *Server, token, session string) (int, map[string]any) {
	t.Helper()
	code, _, out := mcpPost(t, s, token, session, map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call",
		"params": map[string]any{"name": "check_database_health", "arguments": map[string]any{}}})
	return code, out
}

// TestMCPAuthentication: no key or a wrong key is a 401 with the pointer to
// the OAuth metadata before any MCP message is handled; the key is checked
// on every message, so revoking it ends a live session; a session belongs
// to the tenant that opened it.
func TestMCPAuthentication(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-mcp-token")
	s.CreateTenant("bravo", "bravo-mcp-token")
	for _, token := range []string{"", "not-a-key-at-all"} {
		code, h, _ := mcpPost(t, s, token, "", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{}})
		if code != 401 || h.Get("Www-Authenticate") != `Bearer resource_metadata="`+s.URL+`/.well-known/oauth-protected-resource"` {
			t.Fatalf("token %q: %d %q", token, code, h.Get("Www-Authenticate"))
		}
	}

	r := s.Admin("POST", "/admin/tenants/alpha/keys", map[string]any{"label": "session"}).Expect(t, 201)
	key, keyID := r.Body["api_token"].(string), r.Body["key"].(map[string]any)["key_id"].(string)
	session := mcpInit(t, s, key)
	if code, out := mcpHealthCall(t, s, key, session); code != 200 || out["result"].(map[string]any)["structuredContent"].(map[string]any)["tenant_id"] != "alpha" {
		t.Fatalf("tool call in session: %d %v", code, out)
	}

	// Another tenant's key cannot use alpha's session.
	if code, out := mcpHealthCall(t, s, "bravo-mcp-token", session); code < 400 {
		t.Fatalf("bravo used alpha's session: %d %v", code, out)
	}

	// Revoking the key ends the session at the next message.
	s.Admin("DELETE", "/admin/tenants/alpha/keys/"+keyID, nil).Expect(t, 200)
	if code, _ := mcpHealthCall(t, s, key, session); code != 401 {
		t.Fatalf("revoked key still served: %d", code)
	}
}
