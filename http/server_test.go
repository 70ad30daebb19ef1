package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo"
)

// A panic inside a handler reaches the client as AutoMem's 500 envelope,
// never as a dropped connection, and is logged with its request id.
func TestPanicBecomesEnvelope(t *testing.T) {
	var logs bytes.Buffer
	s, _ := newTestServer(t, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
	h := s.logRequests(s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/recall?api_key=secret-token", nil))
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	var body map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	if body["status"] != "error" || body["code"] != float64(500) || body["message"] != "Internal server error" {
		t.Fatalf("body %s", rec.Body)
	}
	if !strings.Contains(logs.String(), `"panic":"boom"`) || strings.Contains(logs.String(), "secret-token") {
		t.Fatalf("logs %s", logs.String())
	}
}

func TestReadJSONObjectIgnoresContentType(t *testing.T) {
	s, _ := newTestServer(t, nil, nil)
	s.cfg.MaxBodyBytes = 64
	for _, tc := range []struct {
		body    string
		wantNil bool
		wantErr string
	}{
		{`{"content":"x"}`, false, ""},
		{``, true, ""},
		{`[1,2]`, true, ""},
		{`{"a":`, true, "Request body is not valid JSON: unexpected end of input"},
		{`{"a":1} {"b":2}`, true, "unexpected data after the JSON value"},
		{`{"content":"` + strings.Repeat("x", 100) + `"}`, true, "exceeds the limit of 64 bytes"},
	} {
		r := httptest.NewRequest("POST", "/memory", io.NopCloser(strings.NewReader(tc.body)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		obj, err := s.readJSONObject(httptest.NewRecorder(), r)
		if (obj == nil) != tc.wantNil {
			t.Errorf("%q: obj %v", tc.body, obj)
		}
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%q: err %v, want %q", tc.body, err, tc.wantErr)
		}
	}
}

// brokenMemories fails every store with an internal error.
type brokenMemories struct{ mnemo.MemoryService }

func (brokenMemories) StoreMemory(context.Context, map[string]any) (*mnemo.StoreResult, error) {
	return nil, errors.New("disk on fire")
}

// A 5xx from a tenant route, whose answer is buffered until its usage is
// recorded, is logged at ERROR with its cause and request id; the client
// learns nothing of the cause.
func TestInternalErrorsAreLoggedWithTheirCause(t *testing.T) {
	var logs bytes.Buffer
	s, svc := newTestServer(t, slog.New(slog.NewJSONHandler(&logs, nil)), func(svcs *Services) {
		svcs.Memories = brokenMemories{svcs.Memories}
	})
	if _, err := svc.CreateTenant(context.Background(), map[string]any{"tenant_id": "acme", "api_token": "token-of-acme"}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/memory", strings.NewReader(`{"content":"x"}`))
	req.Header.Set("Authorization", "Bearer token-of-acme")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "disk on fire") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	id := rec.Header().Get("X-Request-Id")
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var e map[string]any
		json.Unmarshal([]byte(line), &e)
		if e["level"] == "ERROR" && e["msg"] == "request failed" && e["request_id"] == id && e["err"] == "disk on fire" {
			found = true
		}
	}
	if id == "" || !found {
		t.Fatalf("no ERROR line with the cause and request id %q:\n%s", id, logs.String())
	}
}
