package http

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/internal/mnemotest"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/service"
)

// Each tool call of a session is admitted within the HTTP request that
// carries it, not within the one that opened the session: with a cap of
// one request in flight every call goes through, and each counts once.
func TestMCPToolCallsAreAdmittedWithinTheirOwnRequest(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := embed.NewHash(64)
	b, _, _ := mnemotest.Embedded(t, e, logger)
	svc, err := service.New(b, e, service.Config{Recall: recall.DefaultConfig, TenantConcurrency: 1, Backend: "sqlite"}, logger)
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
	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	session, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: ts.URL + "/mcp",
		HTTPClient: &http.Client{Transport: withKey{token}}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	for i := range 4 {
		res, err := session.CallTool(ctx, &sdk.CallToolParams{Name: "store_memory", Arguments: map[string]any{"content": fmt.Sprintf("memory %d", i)}})
		if err != nil || res.IsError {
			t.Fatalf("tool call %d with a cap of one request in flight: %v %+v", i, err, res)
		}
	}
	usage, err := svc.Usage(ctx, "acme", "2000-01-01", "2100-01-01")
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
