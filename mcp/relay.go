package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Relay connects an MCP client on in and out (stdio) to the /mcp endpoint
// of the mnemo server at baseURL, sending token as its Bearer: the job of
// AutoMem's npm bridge, for clients that only speak stdio (Claude
// Desktop). It passes messages through unchanged, so the tools, their
// texts and their refusals are the server's. Every keepalive (0: never)
// it pings the server, so that the session of a client that is still
// running is not closed as idle; the answers are the relay's own. It
// returns when either side closes.
func Relay(ctx context.Context, baseURL, token string, keepalive time.Duration, in io.Reader, out io.Writer) error {
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
	errc := make(chan error, 3)
	var session atomic.Bool // the server has answered: a session exists
	pump := func(from, to sdk.Connection, fromServer bool) {
		for {
			msg, err := from.Read(ctx)
			if r, ok := msg.(*jsonrpc.Response); ok && fromServer {
				session.Store(true)
				if isKeepalive(r.ID) {
					continue
				}
			}
			if err == nil {
				err = to.Write(ctx, msg)
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}
	go pump(local, remote, false)
	go pump(remote, local, true)
	if keepalive > 0 {
		go func() {
			tick := time.NewTicker(keepalive)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if !session.Load() {
					continue // a ping now would open a session of its own
				}
				// A refused ping (429) changes nothing; a session that is
				// gone fails the client's next message.
				id, _ := jsonrpc.MakeID(fmt.Sprintf("%s%d", keepalivePrefix, n))
				_ = remote.Write(ctx, &jsonrpc.Request{ID: id, Method: "ping"})
			}
		}()
	}
	err = <-errc
	if errors.Is(err, io.EOF) || errors.Is(err, sdk.ErrConnectionClosed) || ctx.Err() != nil {
		return nil // the client went away
	}
	return err
}

// keepalivePrefix marks the ids of the relay's own pings.
const keepalivePrefix = "mnemo-relay-keepalive-"

func isKeepalive(id jsonrpc.ID) bool {
	s, ok := id.Raw().(string)
	return ok && strings.HasPrefix(s, keepalivePrefix)
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
