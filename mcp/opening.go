package mcp

import (
	"bytes"
	"encoding/json"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mnemohq/mnemo"
)

// A session keeps its initialize parameters for as long as it lives, so
// the request that opens one is held small: its body to
// MaxInitializeBytes, the clientInfo it declares to MaxClientInfoBytes.
// Real clients send a few hundred bytes.
const (
	MaxInitializeBytes = 16 << 10
	MaxClientInfoBytes = 1 << 10
)

// CheckOpening validates the body of a request that opens a session (one
// without a session id): JSON-RPC, and a clientInfo of at most
// MaxClientInfoBytes in any initialize it holds. The size of the body is
// the transport's to bound.
func CheckOpening(body []byte) error {
	var msgs []json.RawMessage
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &msgs); err != nil {
			return mnemo.Errorf(mnemo.EINVALID, "The body is not a JSON-RPC batch: %v", err)
		}
	} else {
		msgs = []json.RawMessage{b}
	}
	for _, raw := range msgs {
		var m struct {
			Method string `json:"method"`
			Params struct {
				ClientInfo json.RawMessage `json:"clientInfo"`
			} `json:"params"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return mnemo.Errorf(mnemo.EINVALID, "The body is not a JSON-RPC message: %v", err)
		}
		if m.Method == "initialize" && len(m.Params.ClientInfo) > MaxClientInfoBytes {
			return mnemo.Errorf(mnemo.EINVALID, "'clientInfo' of initialize must be at most %d bytes of JSON (got %d)", MaxClientInfoBytes, len(m.Params.ClientInfo))
		}
	}
	return nil
}

// OnSessionEnd calls release once the session id of server has ended (at
// once when there is no such session: the request that would have opened
// it failed, and the SDK closed it).
func OnSessionEnd(server *sdk.Server, id string, release func()) {
	if id != "" {
		for ss := range server.Sessions() {
			if ss.ID() == id {
				go func() {
					ss.Wait()
					release()
				}()
				return
			}
		}
	}
	release()
}
