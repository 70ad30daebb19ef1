// Package mcp serves mnemo's memory to AI assistants over the Model Context
// Protocol, with the six tools of AutoMem's MCP bridge. Every tool call is
// made as the AutoMem HTTP request the bridge would send, with the caller's
// own key: in process for the /mcp endpoint, over the network for the stdio
// bridge (mnemo mcp). So keys, scopes, tenant status, rate limits, quotas,
// usage and audit apply to tool calls exactly as to HTTP calls, and a
// refusal reaches the assistant as a tool error with the same message.
package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// API makes one AutoMem HTTP call as the holder of token.
type API interface {
	Call(ctx context.Context, token, method, path string, query url.Values, body any) (status int, payload []byte, err error)
}

// Remote is the API of a mnemo server reached over HTTP.
type Remote struct {
	BaseURL string
	Client  *http.Client
}

// NewRemote returns the API of the server at baseURL.
func NewRemote(baseURL string) *Remote {
	return &Remote{BaseURL: strings.TrimRight(baseURL, "/"), Client: &http.Client{Timeout: 30 * time.Second}}
}

// Call sends the request with the token as Bearer.
func (r *Remote) Call(ctx context.Context, token, method, path string, query url.Values, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	u := r.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.Client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("mnemo at %s: %w", r.BaseURL, err)
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, payload, err
}
