package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// badCase is one entry of the bad-input corpus (testdata/badinput/*.json):
// a request a client might send, and the field its 4xx must name. Paths,
// queries and bodies may hold {id}, {id2} (two memories of the tenant),
// {tenant} and {key_id}.
type badCase struct {
	Name   string `json:"name"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query"` // sent as it is, already percent-encoded
	Auth   string `json:"auth"`  // "tenant" (the default), "admin" or "none"
	// The body: Body as JSON; or Raw, sent byte for byte (so it can hold
	// escapes such as \ud800 that no JSON encoder writes); or RawGo, Raw in
	// which each \xHH is the byte HH, for bytes that are not UTF-8.
	Body  json.RawMessage `json:"body"`
	Raw   *string         `json:"raw"`
	RawGo *string         `json:"raw_go"`
	// An MCP tool call instead of a route: Tool with Arguments (as Raw, the
	// arguments' JSON text sent as it is).
	Tool      string  `json:"tool"`
	Arguments *string `json:"arguments"`

	Status int    `json:"status"` // 400 unless given
	Field  string `json:"field"`  // the message must contain it
}

// badCorpus reads every corpus file.
func badCorpus(t *testing.T) map[string][]badCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "badinput", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	out := map[string][]badCase{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []badCase
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range cases {
			if c.Field == "" || c.Name == "" {
				t.Fatalf("%s: case %q names no field", f, c.Name)
			}
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = cases
	}
	return out
}

// badState is everything a bad request could change: the tenant's whole
// export (every field of every memory and relation, last_accessed too: a
// refused read touches nothing), its keys, and the list of tenants. Only
// what every request moves is left out: the export's time and a key's
// last use.
func badState(t *testing.T, s *Server, tenant string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/admin/tenants/"+tenant+"/export", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("export: %d %s", resp.StatusCode, exp)
	}
	lines := strings.Split(strings.TrimSpace(string(exp)), "\n")
	var header map[string]any
	json.Unmarshal([]byte(lines[0]), &header)
	delete(header, "exported_at")
	h, _ := json.Marshal(header)
	lines[0] = string(h)

	keys := s.Admin("GET", "/admin/tenants/"+tenant+"/keys", nil).Expect(t, 200)
	for _, k := range keys.Body["keys"].([]any) {
		delete(k.(map[string]any), "last_used_at")
	}
	k, _ := json.Marshal(keys.Body["keys"])
	tenants := s.Admin("GET", "/admin/tenants?limit=1000", nil).Expect(t, 200)
	return strings.Join(lines, "\n") + "\n" + string(k) + "\n" + string(tenants.Raw)
}

// TestBadInputCorpus sends every request of the corpus to the real binary:
// each must answer its 4xx (400 unless the case says), in the route's error
// shape, with a message naming the field; and the tenant's data, its keys
// and the tenants must be exactly as before.
func TestBadInputCorpus(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "corpus")
	vec := make([]float64, 768)
	vec[3] = 1
	id := s.Store(tok, map[string]any{"content": "the corpus memory", "tags": []string{"keep", "project:x"}, "importance": 0.7,
		"metadata": map[string]any{"k": "v"}, "t_valid": "2024-01-01T00:00:00Z", "embedding": vec})
	id2 := s.Store(tok, map[string]any{"content": "the second corpus memory", "timestamp": "0001-01-01T00:00:00Z"})
	s.As(tok, "POST", "/associate", map[string]any{"memory1_id": id, "memory2_id": id2, "type": "LEADS_TO"}).Expect(t, 201)
	keyID := s.Admin("POST", "/admin/tenants/corpus/keys", map[string]any{"label": "corpus"}).Expect(t, 201).Body["key"].(map[string]any)["key_id"].(string)
	session := mcpInit(t, s, tok)
	fill := strings.NewReplacer("{id}", id, "{id2}", id2, "{tenant}", "corpus", "{key_id}", keyID)

	before := badState(t, s, "corpus")
	total := 0
	for file, cases := range badCorpus(t) {
		for _, c := range cases {
			total++
			t.Run(file+"/"+c.Name, func(t *testing.T) {
				status, msg, raw := badSend(t, s, tok, session, fill, c)
				want := c.Status
				if want == 0 {
					want = 400
				}
				if status != want {
					t.Fatalf("status %d, want %d: %s", status, want, raw)
				}
				if !strings.Contains(msg, c.Field) {
					t.Errorf("message %q does not name %q", msg, c.Field)
				}
				if after := badState(t, s, "corpus"); after != before {
					was := before
					before = after // one failure, not every case after it
					t.Fatalf("the request changed stored data:\nbefore %s\nafter  %s", was, after)
				}
			})
		}
	}
	if total < 150 {
		t.Errorf("the corpus holds %d cases; it is meant to cover every route", total)
	}
	s.ExpectUp(t)
	if logs := s.Logs(); strings.Contains(logs, "panic") || strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("bad input logged a panic or an error:\n%s", logs)
	}
}

// badSend sends one case and returns the status and the error's message:
// AutoMem's envelope, OAuth's error_description, or an MCP tool error's
// text (a tool error answers 200 at the HTTP level; its text starts with
// the status an HTTP client would see, which becomes the status here).
func badSend(t *testing.T, s *Server, tok, session string, fill *strings.Replacer, c badCase) (int, string, []byte) {
	t.Helper()
	if c.Tool != "" {
		args := "{}"
		if c.Arguments != nil {
			args = fill.Replace(*c.Arguments)
		}
		msg := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":` + strconv.Quote(c.Tool) + `,"arguments":` + args + `}}`
		req := mcpRequest(t, s, tok, session, []byte(msg))
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if code := resp.StatusCode; code != 200 {
			return code, string(raw), raw
		}
		out := mcpData(raw)
		if e, ok := out["error"].(map[string]any); ok { // refused by the tool's input schema
			return 400, fmt.Sprint(e["message"], " ", e["data"]), raw
		}
		res, _ := out["result"].(map[string]any)
		if res == nil || res["isError"] != true {
			return 200, "", raw
		}
		text := ""
		for _, it := range res["content"].([]any) {
			text += fmt.Sprint(it.(map[string]any)["text"])
		}
		status, _ := strconv.Atoi(strings.SplitN(text, ":", 2)[0])
		if status == 0 {
			status = 400 // the SDK's own argument errors carry no status
		}
		return status, text, raw
	}
	var body any
	switch {
	case c.Raw != nil:
		body = []byte(fill.Replace(*c.Raw))
	case c.RawGo != nil:
		body = []byte(fill.Replace(hexEscape.ReplaceAllStringFunc(*c.RawGo, func(e string) string {
			b, _ := strconv.ParseUint(e[2:], 16, 8)
			return string([]byte{byte(b)})
		})))
	case c.Body != nil:
		body = []byte(fill.Replace(string(c.Body)))
	}
	path := fill.Replace(c.Path)
	if c.Query != "" {
		path += "?" + fill.Replace(c.Query)
	}
	var r *Response
	switch c.Auth {
	case "admin":
		r = s.Admin(c.Method, path, body)
	case "none":
		r = s.Do(c.Method, path, body)
	default:
		r = s.As(tok, c.Method, path, body)
	}
	if r.Body == nil {
		return r.Status, string(r.Raw), r.Raw
	}
	if r.Status < 400 || r.Status >= 500 {
		return r.Status, "", r.Raw
	}
	if d, ok := r.Body["error_description"].(string); ok {
		return r.Status, d, r.Raw
	}
	if r.Body["status"] != "error" || r.Body["code"] != float64(r.Status) {
		t.Fatalf("not an error envelope: %s", r.Raw)
	}
	msg, _ := r.Body["message"].(string)
	return r.Status, msg, r.Raw
}

var hexEscape = regexp.MustCompile(`\\x[0-9a-fA-F]{2}`)

// mcpData reads an MCP answer sent as JSON or as one server-sent event.
func mcpData(raw []byte) map[string]any {
	var out map[string]any
	if json.Unmarshal(raw, &out) == nil {
		return out
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "data: ") {
			json.Unmarshal([]byte(line[6:]), &out)
			return out
		}
	}
	return nil
}
