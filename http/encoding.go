package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mnemohq/mnemo"
)

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"status":"error","code":500,"message":"Internal server error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// writeError writes AutoMem's error envelope. Errors that are not a
// *mnemo.Error are internal: their text is logged, never sent.
func writeError(w http.ResponseWriter, err error) {
	code := mnemo.ErrorCode(err)
	writeJSON(w, code, map[string]any{"status": "error", "code": code, "message": mnemo.ErrorMessage(err)})
	if rec, ok := w.(*statusRecorder); ok && code >= 500 {
		rec.err = err
	}
}

// readJSONObject reads the body as a JSON object whatever the Content-Type
// says: the seed's curl -d examples send JSON as form-urlencoded. An empty
// or non-object body yields a nil map and no error, so each route can say
// what it needs in AutoMem's words; broken JSON is a 400 naming the problem.
func (s *Server) readJSONObject(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	raw, err := s.readBody(w, r)
	if err != nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&v); err != nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "Request body is not valid JSON: %v", jsonProblem(err))
	}
	if dec.More() {
		return nil, mnemo.Errorf(mnemo.EINVALID, "Request body is not valid JSON: unexpected data after the JSON value")
	}
	obj, _ := v.(map[string]any)
	return obj, nil
}

// requireJSONObject is readJSONObject for routes that need an object: a
// missing or non-object body is a 400 with the route's message.
func (s *Server) requireJSONObject(w http.ResponseWriter, r *http.Request, missing string) (map[string]any, error) {
	body, err := s.readJSONObject(w, r)
	if err == nil && body == nil {
		err = mnemo.Errorf(mnemo.EINVALID, "%s", missing)
	}
	return body, err
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, mnemo.Errorf(mnemo.ETOOLARGE, "Request body exceeds the limit of %d bytes", s.MaxBodyBytes)
	}
	if err != nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "Could not read the request body: %v", err)
	}
	return raw, nil
}

func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Sprintf("%v at byte %d", syntax, syntax.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return err.Error()
}
