package http

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mnemohq/mnemo"
)

// panicky panics when a memory is stored, as a bug below the transport would.
type panicky struct{ mnemo.MemoryService }

func (panicky) StoreMemory(context.Context, map[string]any) (*mnemo.StoreResult, error) {
	panic("boom")
}

// lockedBuffer is a log the server writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withKey adds a tenant key to every request of an MCP client.
type withKey struct{ token string }

func (b withKey) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// A panic in a tenant request, over HTTP or in an MCP tool call, is a 500
// that is logged with its stack; it gives back the tenant's concurrency
// slot, counts the request's usage, frees its Idempotency-Key for a retry,
// and leaves the process serving.
func TestPanicIsAnInternalErrorThatFreesTheRequest(t *testing.T) {
	logs := &lockedBuffer{}
	s, svc := newTestServer(t, slog.New(slog.NewJSONHandler(logs, nil)), func(svcs *Services) {
		svcs.Memories = panicky{svcs.Memories}
	})
	ctx := context.Background()
	if _, err := svc.CreateTenant(ctx, map[string]any{"tenant_id": "acme", "api_token": "token-of-acme"}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	// The client carries the key, as the MCP client below does.
	keyed := &http.Client{Transport: withKey{"token-of-acme"}}
	status := func(method, path string, header map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(`{"content":"x"}`))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := keyed.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// More panics than the tenant's concurrency cap (16): a leaked slot
	// would refuse the read after them with a 429.
	for i := range 20 {
		if got := status("POST", "/memory", map[string]string{"Idempotency-Key": "same-key"}); got != 500 {
			t.Fatalf("store %d: %d, want 500 (a held Idempotency-Key would be a 409)", i, got)
		}
	}
	if got := status("GET", "/startup-recall", nil); got != 200 {
		t.Fatalf("a read after 20 panics: %d", got)
	}

	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	session, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: ts.URL + "/mcp",
		HTTPClient: keyed, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	for i := range 20 {
		res, err := session.CallTool(ctx, &sdk.CallToolParams{Name: "store_memory", Arguments: map[string]any{"content": "x"}})
		if err != nil {
			t.Fatalf("tool call %d: %v", i, err)
		}
		if !res.IsError || len(res.Content) != 1 || res.Content[0].(*sdk.TextContent).Text != "500: Internal server error" {
			t.Fatalf("tool call %d: %+v", i, res)
		}
	}
	res, err := session.CallTool(ctx, &sdk.CallToolParams{Name: "recall_memory", Arguments: map[string]any{"query": "x"}})
	if err != nil || res.IsError {
		t.Fatalf("a recall after 20 panicking tool calls: %v %+v", err, res)
	}

	usage, err := svc.Usage(ctx, "acme", 0, "2000-01-01", "2100-01-01")
	if err != nil {
		t.Fatal(err)
	}
	got := int64(0)
	for _, u := range usage {
		if u.Kind == mnemo.KindStore {
			got += u.Count
		}
	}
	if got != 40 {
		t.Errorf("usage counted %d stores, want the 40 that panicked", got)
	}
	if n := strings.Count(logs.String(), `"panic":"boom"`) + strings.Count(logs.String(), `panic: boom`); n != 40 {
		t.Errorf("%d panics logged, want 40", n)
	}
	if !strings.Contains(logs.String(), "runtime/debug.Stack") {
		t.Error("the panics were logged without their stack")
	}
}

// Shutdown ends MCP's server-to-client streams, which never end on their
// own, instead of waiting out its timeout for them.
func TestShutdownEndsMCPStreams(t *testing.T) {
	s, svc := newTestServer(t, nil, nil)
	if _, err := svc.CreateTenant(context.Background(), map[string]any{"tenant_id": "acme", "api_token": "token-of-acme"}); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- s.ListenAndServe(ctx, "127.0.0.1:0", func(a net.Addr) { addr <- a.String() }) }()
	base := "http://" + <-addr + "/mcp"

	send := func(method, sid, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, base, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer token-of-acme")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := send("POST", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	send("POST", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`).Body.Close()
	stream := send("GET", sid, "")
	defer stream.Body.Close()
	if stream.StatusCode != 200 || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("the stream did not open: %d %s", stream.StatusCode, stream.Header.Get("Content-Type"))
	}

	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown still waits for the MCP stream after 10 s")
	}
}
