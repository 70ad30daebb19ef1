package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/mnemohq/mnemo"
)

// readJSONObject reads the body as a JSON object whatever the Content-Type
// says: the seed's curl -d examples send JSON as form-urlencoded. An empty
// or non-object body yields a nil map and no error, so that the service
// can say what it needs in AutoMem's words; broken JSON is a 400 naming
// the problem, and so is text the decoder would silently change (invalid
// UTF-8, a lone surrogate escape), which only the raw body shows.
func (s *Server) readJSONObject(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	raw, err := s.readBody(w, r)
	if err != nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&v); err != nil {
		if named := mnemo.NumberOutOfRange(raw); named != nil {
			return nil, named
		}
		return nil, mnemo.Errorf(mnemo.EINVALID, "Request body is not valid JSON: %v", jsonProblem(err))
	}
	if dec.More() {
		return nil, mnemo.Errorf(mnemo.EINVALID, "Request body is not valid JSON: unexpected data after the JSON value")
	}
	if err := mnemo.CheckJSONText(raw); err != nil {
		return nil, err
	}
	obj, _ := v.(map[string]any)
	return obj, nil
}

// requireJSONObject is readJSONObject for routes whose body must be an
// object: a missing or non-object body is a 400 with the route's message.
func (s *Server) requireJSONObject(w http.ResponseWriter, r *http.Request, missing string) (map[string]any, error) {
	body, err := s.readJSONObject(w, r)
	if err == nil && body == nil {
		err = mnemo.Errorf(mnemo.EINVALID, "%s", missing)
	}
	return body, err
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return readBodyLimit(w, r, s.cfg.MaxBodyBytes)
}

// readBodyLimit reads a body of at most limit bytes; a longer one is
// ETOOLARGE.
func readBodyLimit(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, mnemo.Errorf(mnemo.ETOOLARGE, "Request body exceeds the limit of %d bytes", limit)
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

// pageParam reads a paging parameter; a malformed one is a 400 naming it.
func pageParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, mnemo.Errorf(mnemo.EINVALID, "'%s' must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

// boolParam reads an optional true/false query parameter.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(name))) {
	case "":
		return def, nil
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, mnemo.Errorf(mnemo.EINVALID, "'%s' must be true or false", name)
}
