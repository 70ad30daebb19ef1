package http

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/mcp"
)

// Call makes one API request in process, as the holder of token: the MCP
// tools use it, so a tool call passes every check an HTTP call does.
func (s *Server) Call(ctx context.Context, token, method, path string, query url.Values, body any) (int, []byte, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, nil, err
		}
	}
	u := path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req := httptest.NewRequestWithContext(ctx, method, u, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if addr, ok := ctx.Value(clientAddrKey).(string); ok {
		req.RemoteAddr = addr
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), nil
}

const clientAddrKey ctxKey = iota + 200

// mcpHandler serves MCP over Streamable HTTP at /mcp. Every HTTP request
// carries the tenant key as a Bearer token and is authenticated on its own,
// so a revoked key stops working mid-session; a session is bound to the
// tenant that opened it (the SDK refuses its id to another tenant's key).
func (s *Server) mcpHandler() http.Handler {
	server := mcp.NewServer(s, func(req *sdk.CallToolRequest) (string, error) { return mcp.FromTokenInfo(req) }, s.Version)
	streams := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server },
		&sdk.StreamableHTTPOptions{SessionTimeout: 30 * time.Minute, Logger: s.Logger})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verify := func(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
			return s.verifyMCP(ctx, token, r)
		}
		opts := &auth.RequireBearerTokenOptions{ResourceMetadataURL: s.publicURL(r) + "/.well-known/oauth-protected-resource", AllowMissingExpiration: true}
		ctx := context.WithValue(r.Context(), clientAddrKey, r.RemoteAddr)
		auth.RequireBearerToken(verify, opts)(streams).ServeHTTP(w, r.WithContext(ctx))
	})
}

// verifyMCP checks a bearer token on /mcp: a tenant key. A wrong one counts
// against the address like any failed authentication.
func (s *Server) verifyMCP(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
	now, addr := s.Now(), s.clientAddr(r)
	if blocked, _ := s.limits.throttled(addr, s.AuthFailuresPerMinute, now); blocked {
		return nil, auth.ErrInvalidToken
	}
	key, t, err := s.authenticateToken(ctx, token)
	if err != nil {
		if mnemo.ErrorCode(err) == mnemo.EUNAUTHORIZED {
			s.limits.failed(addr, now)
			return nil, auth.ErrInvalidToken
		}
		return nil, err
	}
	if rec, ok := ctx.Value(recorderKey).(*statusRecorder); ok {
		rec.tenant = t.ID
	}
	info := &auth.TokenInfo{UserID: t.ID, Scopes: key.Scopes, Extra: map[string]any{"key": token}}
	if key.ExpiresAt != nil {
		info.Expiration = *key.ExpiresAt
	}
	return info, nil
}

// publicURL is the server's base URL as the client reached it.
func (s *Server) publicURL(r *http.Request) string {
	if s.PublicURL != "" {
		return s.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
