package http

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/mnemohq/mnemo"
)

// codes maps each error code to its HTTP status: the one place that does.
var codes = map[string]int{
	mnemo.ECONFLICT:       http.StatusConflict,
	mnemo.EFORBIDDEN:      http.StatusForbidden,
	mnemo.EFULL:           http.StatusInsufficientStorage,
	mnemo.EINTERNAL:       http.StatusInternalServerError,
	mnemo.EINVALID:        http.StatusBadRequest,
	mnemo.ELOCKED:         http.StatusLocked,
	mnemo.ENOTFOUND:       http.StatusNotFound,
	mnemo.ENOTIMPLEMENTED: http.StatusNotImplemented,
	mnemo.ETOOLARGE:       http.StatusRequestEntityTooLarge,
	mnemo.ETOOMANY:        http.StatusTooManyRequests,
	mnemo.EUNAUTHORIZED:   http.StatusUnauthorized,
	mnemo.EUNAVAILABLE:    http.StatusServiceUnavailable,
	mnemo.EUNPROCESSABLE:  http.StatusUnprocessableEntity,
	mnemo.ETIMEOUT:        http.StatusServiceUnavailable,
}

// StatusCode returns the HTTP status of an error code; an unknown code is
// a 500. The MCP tools use it too, so that their error texts carry the
// status an HTTP client would see.
func StatusCode(code string) int {
	if s, ok := codes[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// outcome renders an audit outcome for the API: "error: <code>" as
// "error: <status>"; other outcomes (and those written by versions that
// stored the status) as they are.
func outcome(o string) string {
	if code, ok := strings.CutPrefix(o, "error: "); ok {
		if s, known := codes[code]; known {
			return "error: " + strconv.Itoa(s)
		}
	}
	return o
}

// error writes AutoMem's error envelope for err, with Retry-After when the
// client should wait. A 5xx is logged at ERROR with its cause and request
// id; its message tells the client nothing.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	err = mnemo.Budget(r.Context(), err)
	status := StatusCode(mnemo.ErrorCode(err))
	if status >= 500 {
		s.logger.Error("request failed", "request_id", mnemo.RequestIDFromContext(r.Context()), "method", r.Method,
			"path", r.URL.Path, "status", status, "err", err.Error())
	}
	if wait := mnemo.RetryAfter(err); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	}
	writeEnvelope(w, status, mnemo.ErrorMessage(err))
}

// writeEnvelope writes {"status":"error","code":N,"message":...}.
func writeEnvelope(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]any{"status": "error", "code": status, "message": message})
}

// reply writes v as JSON with status code. A value that cannot be encoded
// is a 500, logged with its cause.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, code int, v any) {
	if err := writeJSON(w, code, v); err != nil {
		s.logger.Error("request failed", "request_id", mnemo.RequestIDFromContext(r.Context()), "method", r.Method,
			"path", r.URL.Path, "status", http.StatusInternalServerError, "err", "encode the answer: "+err.Error())
	}
}

// writeJSON writes v with status code, or the 500 envelope when v cannot
// be encoded, and returns why.
func writeJSON(w http.ResponseWriter, code int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	if err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"status":"error","code":500,"message":"Internal server error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
	return err
}
