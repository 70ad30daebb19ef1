package http

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mnemohq/mnemo"
)

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) >= 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

// tenantToken reads a tenant credential as AutoMem does, first match wins:
// Bearer, then X-API-Key, then ?api_key= (read from the URL, never with
// ParseForm, which would consume a POST body). It takes api_key out of the
// request's query, allowed or not, so that nothing downstream (recall
// parameters, logs, idempotency fingerprints) ever holds it.
func (s *Server) tenantToken(r *http.Request) string {
	var query string
	if r.URL.RawQuery != "" {
		if q := r.URL.Query(); q.Has("api_key") {
			query = q.Get("api_key")
			q.Del("api_key")
			r.URL.RawQuery = q.Encode()
		}
	}
	if t, ok := bearer(r); ok {
		return t
	}
	if t := strings.TrimSpace(r.Header.Get("X-API-Key")); t != "" {
		return t
	}
	if s.cfg.AllowQueryToken {
		return strings.TrimSpace(query)
	}
	return ""
}

// adminToken reads the operator's token: X-Admin-Token, AutoMem's
// X-Admin-Api-Key, or Bearer.
func adminToken(r *http.Request) string {
	if t := strings.TrimSpace(r.Header.Get("X-Admin-Token")); t != "" {
		return t
	}
	if t := strings.TrimSpace(r.Header.Get("X-Admin-Api-Key")); t != "" {
		return t
	}
	t, _ := bearer(r)
	return t
}

// clientAddr is the address failed logins are counted against: the peer,
// or, when the peer is a trusted proxy, the last address in X-Forwarded-For
// that is not one.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(a) {
			return a.String()
		}
	}
	return host
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// tenant serves a tenant route whose request is of kind: the credential is
// authenticated, the request admitted, and h runs with a context that
// carries it. The answer is held until the request's usage is recorded,
// so usage is readable as soon as the client has its answer. A POST with
// an Idempotency-Key runs at most once.
func (s *Server) tenant(kind string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		caller, err := s.svc.Auth.Authenticate(r.Context(), s.tenantToken(r), s.clientAddr(r))
		if err != nil {
			s.error(w, r, err)
			return
		}
		logTenant(r, caller.Tenant.ID)
		ctx, adm, err := s.svc.Gate.Admit(r.Context(), caller, kind)
		if adm != nil && adm.Rate != nil {
			rateHeaders(w, adm.Rate)
		}
		if err != nil {
			s.error(w, r, err)
			return
		}
		defer adm.End() // also when h panics: the concurrency slot, the store and the usage
		r = r.WithContext(ctx)
		buf := &bufferedWriter{header: http.Header{}}
		if key := r.Header.Get("Idempotency-Key"); key != "" && r.Method == http.MethodPost {
			s.once(buf, r, key, h)
		} else {
			h(buf, r)
		}
		adm.End()
		buf.send(w)
	}
}

// once runs h under the request's Idempotency-Key: the fingerprint is the
// method, path, query and body, and a replay is marked
// Idempotent-Replayed: true.
func (s *Server) once(w *bufferedWriter, r *http.Request, key string, h http.HandlerFunc) {
	raw, err := s.readBody(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	sum := sha256.New()
	io.WriteString(sum, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+"\n")
	sum.Write(raw)
	answer, replayed, err := s.svc.Gate.Once(r.Context(), key, sum.Sum(nil), func() mnemo.IdempotentAnswer {
		h(w, r)
		return mnemo.IdempotentAnswer{Status: w.statusCode(), Body: w.body.Bytes()}
	})
	switch {
	case err != nil:
		s.error(w, r, err)
	case replayed:
		w.header.Set("Content-Type", "application/json")
		w.header.Set("Idempotent-Replayed", "true")
		w.WriteHeader(answer.Status)
		w.Write(answer.Body)
	}
}

// rateHeaders describe the tenant's bucket: its capacity, the tokens left,
// and the seconds until a token is back.
func rateHeaders(w http.ResponseWriter, rs *mnemo.RateStatus) {
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(rs.Limit))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(rs.Remaining))
	w.Header().Set("X-RateLimit-Reset", strconv.Itoa(int(rs.Reset.Seconds())))
}

// bufferedWriter holds a handler's answer until the request's usage is
// recorded.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedWriter) statusCode() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

// send copies the buffered answer to w.
func (b *bufferedWriter) send(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.statusCode())
	w.Write(b.body.Bytes())
}

// admin serves an operator route: the admin token is checked (403 when no
// admin token is configured, 401 for a wrong one, 429 for an address that
// keeps failing).
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.svc.Auth.AuthenticateAdmin(r.Context(), adminToken(r), s.clientAddr(r)); err != nil {
			s.error(w, r, err)
			return
		}
		h(w, r)
	}
}
