package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/internal/mnemotest"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/service"
)

// lastRate counts the requests a client sends and keeps the
// X-RateLimit-Remaining of the last answer.
type lastRate struct {
	withKey
	requests  int
	remaining string
}

func (l *lastRate) RoundTrip(r *http.Request) (*http.Response, error) {
	l.requests++
	resp, err := l.withKey.RoundTrip(r)
	if err == nil {
		l.remaining = resp.Header.Get("X-RateLimit-Remaining")
	}
	return resp, err
}

// Each tool call of a session is admitted within the HTTP request that
// carries it, not within the one that opened the session: each HTTP
// request takes one rate-limit token, the tool call in it none more, and
// each call counts once in usage.
func TestMCPToolCallsAreAdmittedWithinTheirOwnRequest(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := embed.NewHash(64)
	b, _, _ := mnemotest.Embedded(t, e, logger)
	svc, err := service.New(b, e, service.Config{Recall: recall.DefaultConfig, TenantConcurrency: 16, Backend: "sqlite"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Services{Auth: svc, Gate: svc, Memories: svc, Recall: svc, Health: svc, Tenants: svc, Keys: svc,
		Reports: svc, Portability: svc, OAuth: svc}, Config{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	ctx := context.Background()
	const token = "mcp-admission-token-0123456789"
	if _, err := svc.CreateTenant(ctx, map[string]any{"tenant_id": "acme", "api_token": token}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateTenant(ctx, "acme", map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.001, "burst": 100.0}}); err != nil {
		t.Fatal(err)
	}
	rt := &lastRate{withKey: withKey{token}}
	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	session, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: ts.URL + "/mcp",
		HTTPClient: &http.Client{Transport: rt}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	for i := range 4 {
		res, err := session.CallTool(ctx, &sdk.CallToolParams{Name: "store_memory", Arguments: map[string]any{"content": fmt.Sprintf("memory %d", i)}})
		if err != nil || res.IsError {
			t.Fatalf("tool call %d: %v %+v", i, err, res)
		}
	}
	// One token per HTTP request the client sent (the SDK's opening ones
	// and the four calls), counted when the last was let in.
	if want := strconv.Itoa(100 - rt.requests); rt.remaining != want {
		t.Fatalf("X-RateLimit-Remaining %s after %d requests of a burst of 100, want %s", rt.remaining, rt.requests, want)
	}
	usage, err := svc.Usage(ctx, "acme", 0, "2000-01-01", "2100-01-01")
	if err != nil {
		t.Fatal(err)
	}
	stores := int64(0)
	for _, u := range usage {
		if u.Kind == mnemo.KindStore {
			stores += u.Count
		}
	}
	if stores != 4 {
		t.Fatalf("usage counted %d stores for 4 tool calls", stores)
	}
}

// unavailableMemories refuses every store as a dependency fault would.
type unavailableMemories struct{ mnemo.MemoryService }

func (unavailableMemories) StoreMemory(context.Context, map[string]any) (*mnemo.StoreResult, error) {
	return nil, fmt.Errorf("open tenant store: %w", mnemo.Errorf(mnemo.EUNAVAILABLE, "The tenant's store is unavailable"))
}

// A tool call that fails as a 5xx would is logged at ERROR with its cause
// and the request id of the HTTP request that carried it, like a route's.
func TestMCPToolFaultsAreLogged(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	s, svc := newTestServer(t, logger, func(svcs *Services) { svcs.Memories = unavailableMemories{svcs.Memories} })
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx := context.Background()
	const token = "mcp-fault-token-0123456789"
	if _, err := svc.CreateTenant(ctx, map[string]any{"tenant_id": "acme", "api_token": token}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	session, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: ts.URL + "/mcp",
		HTTPClient: &http.Client{Transport: &requestIDs{withKey: withKey{token}, ids: &ids}}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &sdk.CallToolParams{Name: "store_memory", Arguments: map[string]any{"content": "x"}})
	if err != nil || !res.IsError {
		t.Fatalf("want a tool error: %v %+v", err, res)
	}
	id := ids[len(ids)-1]
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var e map[string]any
		json.Unmarshal([]byte(line), &e)
		if e["level"] == "ERROR" && e["msg"] == "tool call failed" && e["request_id"] == id && e["code"] == mnemo.EUNAVAILABLE &&
			strings.Contains(fmt.Sprint(e["err"]), "open tenant store") {
			found = true
		}
	}
	if id == "" || !found {
		t.Fatalf("no ERROR line with the cause and request id %q:\n%s", id, logs.String())
	}
}

// requestIDs keeps the X-Request-Id of every answer.
type requestIDs struct {
	withKey
	ids *[]string
}

func (r *requestIDs) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.withKey.RoundTrip(req)
	if err == nil {
		*r.ids = append(*r.ids, resp.Header.Get("X-Request-Id"))
	}
	return resp, err
}
