package http

import (
	"context"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/mcp"
)

// mcpHandler serves mnemo's MCP tools (package mcp) at /mcp over
// Streamable HTTP, on the same services as the HTTP routes. Every HTTP
// request carries a tenant key (or an OAuth access token) as a Bearer
// token and is authenticated on its own, so a revoked key stops working
// mid-session; the caller it resolves to reaches the tools in the token
// info. A session is bound to the tenant that opened it (the SDK refuses
// its id to another tenant's key).
func (s *Server) mcpHandler() http.Handler {
	server := mcp.NewServer(mcp.Services{Gate: s.svc.Gate, Memories: s.svc.Memories, Recall: s.svc.Recall, Health: s.svc.Health},
		mcp.Options{Version: s.cfg.Version, ErrorStatus: StatusCode, Logger: s.logger})
	streams := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server },
		&sdk.StreamableHTTPOptions{SessionTimeout: s.cfg.MCPSessionTimeout, Logger: s.logger})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			// The server-to-client stream lasts as long as its session:
			// end it when the server shuts down, or shutdown waits for it.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			defer context.AfterFunc(s.closing, cancel)()
			r = r.WithContext(ctx)
		}
		verify := func(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
			return s.verifyMCP(ctx, token, r)
		}
		opts := &auth.RequireBearerTokenOptions{ResourceMetadataURL: s.publicURL(r) + "/.well-known/oauth-protected-resource", AllowMissingExpiration: true}
		auth.RequireBearerToken(verify, opts)(streams).ServeHTTP(w, r)
	})
}

// verifyMCP authenticates the bearer token of a request to /mcp. A wrong
// token, or one from a throttled address, is the SDK's invalid_token.
func (s *Server) verifyMCP(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
	c, err := s.svc.Auth.Authenticate(ctx, token, s.clientAddr(r))
	switch mnemo.ErrorCode(err) {
	case mnemo.EUNAUTHORIZED, mnemo.ETOOMANY:
		return nil, auth.ErrInvalidToken
	}
	if err != nil {
		s.error(&discard{header: http.Header{}}, r, err) // logs the cause; the SDK answers
		return nil, err
	}
	logTenant(r, c.Tenant.ID)
	return mcp.TokenInfo(c), nil
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
