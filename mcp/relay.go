package mcp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Relay connects an MCP client on in and out (stdio) to the /mcp endpoint
// of the mnemo server at baseURL, sending token as its Bearer: the job of
// AutoMem's npm bridge, for clients that only speak stdio (Claude
// Desktop). It passes messages through unchanged, so the tools, their
// texts and their refusals are the server's. It returns when either side
// closes.
func Relay(ctx context.Context, baseURL, token string, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	local, err := (&sdk.IOTransport{Reader: io.NopCloser(in), Writer: nopWriteCloser{out}}).Connect(ctx)
	if err != nil {
		return err
	}
	defer local.Close()
	client := &http.Client{Transport: bearerTransport{token: token, next: http.DefaultTransport}}
	remote, err := (&sdk.StreamableClientTransport{Endpoint: strings.TrimRight(baseURL, "/") + "/mcp", HTTPClient: client,
		DisableStandaloneSSE: true}).Connect(ctx)
	if err != nil {
		return err
	}
	defer remote.Close()
	errc := make(chan error, 2)
	pump := func(from, to sdk.Connection) {
		for {
			msg, err := from.Read(ctx)
			if err == nil {
				err = to.Write(ctx, msg)
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}
	go pump(local, remote)
	go pump(remote, local)
	err = <-errc
	if errors.Is(err, io.EOF) || errors.Is(err, sdk.ErrConnectionClosed) || ctx.Err() != nil {
		return nil // the client went away
	}
	return err
}

// bearerTransport sends the tenant key with every request.
type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (t bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(r)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
