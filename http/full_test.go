package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mnemohq/mnemo"
)

// fullMemories refuses every store as a full disk does.
type fullMemories struct{ mnemo.MemoryService }

func (fullMemories) StoreMemory(context.Context, map[string]any) (*mnemo.StoreResult, error) {
	return nil, fmt.Errorf("write: %w", mnemo.Errorf(mnemo.EFULL, "The server's disk is full"))
}

// A full disk is a 507 with its message over HTTP and MCP, and, like every
// 5xx, an ERROR line with its cause and request id.
func TestFullDiskIsLoggedWithItsCause(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	s, svc := newTestServer(t, logger, func(svcs *Services) { svcs.Memories = fullMemories{svcs.Memories} })
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx := context.Background()
	const token = "full-disk-token-0123456789"
	if _, err := svc.CreateTenant(ctx, map[string]any{"tenant_id": "acme", "api_token": token}); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: withKey{token}}
	resp, err := client.Post(ts.URL+"/memory", "application/json", strings.NewReader(`{"content":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Fatalf("store on a full disk: %d", resp.StatusCode)
	}
	session, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: ts.URL + "/mcp", HTTPClient: client, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &sdk.CallToolParams{Name: "store_memory", Arguments: map[string]any{"content": "x"}})
	if err != nil || !res.IsError || fmt.Sprint(res.Content[0].(*sdk.TextContent).Text) != "507: The server's disk is full" {
		t.Fatalf("store_memory on a full disk: %v %+v", err, res)
	}
	session.Close()
	ts.Close() // waits for the handlers, which log after they answer
	var route, tool bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var e map[string]any
		json.Unmarshal([]byte(line), &e)
		if e["level"] != "ERROR" || e["request_id"] == nil || e["request_id"] == "" || !strings.Contains(fmt.Sprint(e["err"]), "disk is full") {
			continue
		}
		route = route || e["msg"] == "request failed" && e["status"] == float64(507)
		tool = tool || e["msg"] == "tool call failed" && e["code"] == mnemo.EFULL
	}
	if !route || !tool {
		t.Fatalf("the 507s are not logged at ERROR with their cause (route %v, tool %v):\n%s", route, tool, logs.String())
	}
}
