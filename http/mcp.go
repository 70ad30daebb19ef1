package http

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/mcp"
)

// mcpHandler serves mnemo's MCP tools (package mcp) at /mcp over
// Streamable HTTP, on the same services as the HTTP routes. Every HTTP
// request to /mcp, whatever it carries, is authenticated (so a revoked key
// stops a live session) and admitted as mnemo.KindMCP (so a suspended or
// rate-limited tenant gets its 423 or 429 in AutoMem's envelope, never a
// session) before the SDK sees it; the tool calls it carries are admitted
// within it (see mnemo.Gate). A request that opens a session is held
// small and within the caps on sessions. A session is bound to the tenant
// that opened it (the SDK refuses its id to another tenant's key).
func (s *Server) mcpHandler() http.Handler {
	server := mcp.NewServer(mcp.Services{Gate: s.svc.Gate, Memories: s.svc.Memories, Recall: s.svc.Recall, Health: s.svc.Health},
		mcp.Options{Version: s.cfg.Version, ErrorStatus: StatusCode, Logger: s.logger})
	streams := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server },
		&sdk.StreamableHTTPOptions{SessionTimeout: s.cfg.MCPSessionTimeout, Logger: s.logger, MaxRequestBodyBytes: s.cfg.MCPMaxBodyBytes})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := bearer(r)
		caller, err := s.svc.Auth.Authenticate(r.Context(), token, s.clientAddr(r))
		if err != nil {
			if mnemo.ErrorCode(err) == mnemo.EUNAUTHORIZED {
				// Where to get a token (RFC 9728). A throttled client gets
				// its 429: a 401 would make it discard a good token.
				w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+s.issuer(w, r)+`/.well-known/oauth-protected-resource"`)
			}
			s.error(w, r, err)
			return
		}
		logTenant(r, caller.Tenant.ID)
		ctx, adm, err := s.svc.Gate.Admit(r.Context(), caller, mnemo.KindMCP)
		if adm != nil && adm.Rate != nil {
			rateHeaders(w, adm.Rate)
		}
		if err != nil {
			s.error(w, r, err)
			return
		}
		defer adm.End()
		opening := r.Method == http.MethodPost && r.Header.Get("Mcp-Session-Id") == ""
		switch r.Method {
		case http.MethodPost:
			limit := s.cfg.MCPMaxBodyBytes
			if opening {
				limit = min(limit, mcp.MaxInitializeBytes)
			}
			raw, err := readBodyLimit(w, r, limit)
			if err == nil && opening {
				err = mcp.CheckOpening(raw)
			}
			if err == nil {
				// The SDK would decode invalid UTF-8 and lone surrogates in
				// a tool's arguments to U+FFFD: only the raw text shows them.
				err = mnemo.CheckJSONText(raw)
			}
			if err != nil {
				s.error(w, r, err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(raw))
		case http.MethodGet:
			// The server-to-client stream lasts as long as its session: it
			// holds no concurrency slot, and ends when the server shuts
			// down, or shutdown waits for it.
			adm.End()
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			defer context.AfterFunc(s.closing, cancel)()
		}
		var release func()
		if opening {
			if release, err = s.svc.Gate.OpenSession(ctx, caller); err != nil {
				s.error(w, r, err)
				return
			}
		}
		// The SDK reads the token info from the context through its own
		// middleware; the credential was checked above and is not handed
		// on.
		info := mcp.TokenInfo(caller, ctx)
		r = r.WithContext(ctx)
		r.Header = r.Header.Clone()
		r.Header.Set("Authorization", "Bearer checked")
		verified := func(context.Context, string, *http.Request) (*auth.TokenInfo, error) { return info, nil }
		auth.RequireBearerToken(verified, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(streams).ServeHTTP(w, r)
		if opening {
			mcp.OnSessionEnd(server, w.Header().Get("Mcp-Session-Id"), release)
		}
	})
}
