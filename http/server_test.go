package http

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
