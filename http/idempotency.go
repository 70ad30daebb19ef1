package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"

	"github.com/mnemohq/mnemo"
)

// idempotent runs h, honouring an Idempotency-Key on POST writes: the
// first request with a key runs and its answer is kept for 24 hours; a
// retry with the same key and the same request gets that answer again
// (Idempotent-Replayed: true) and stores and counts nothing. The same key
// with another request is a 422; a retry while the first still runs is a
// 409. A 5xx answer is not kept: the write failed, so a retry runs again.
func (s *Server) idempotent(w *bufferedWriter, r *http.Request, tr *tenantRequest, h func(http.ResponseWriter, *http.Request, *tenantRequest)) {
	key := r.Header.Get("Idempotency-Key")
	if r.Method != http.MethodPost || key == "" {
		h(w, r, tr)
		return
	}
	if len(key) > 255 {
		writeError(w, mnemo.Errorf(mnemo.EINVALID, "'Idempotency-Key' must be at most 255 characters"))
		return
	}
	raw, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	sum := sha256.New()
	io.WriteString(sum, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+"\n")
	sum.Write(raw)
	fingerprint := sum.Sum(nil)

	reserved, status, body, err := s.Registry.ReserveIdempotency(r.Context(), tr.Tenant.ID, key, fingerprint, s.Now())
	switch {
	case err != nil:
		writeError(w, err)
		tr.replayed = true // nothing ran: nothing to count
		return
	case !reserved && status == 0:
		writeError(w, mnemo.Errorf(mnemo.ECONFLICT, "A request with Idempotency-Key '%s' is still in progress; retry later", key))
		tr.replayed = true
		return
	case !reserved:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(status)
		w.Write(body)
		tr.replayed = true
		return
	}
	h(w, r, tr)
	ctx := context.WithoutCancel(r.Context())
	if w.status >= 500 {
		err = s.Registry.ReleaseIdempotency(ctx, tr.Tenant.ID, key)
	} else {
		err = s.Registry.CompleteIdempotency(ctx, tr.Tenant.ID, key, w.status, w.body.Bytes())
	}
	if err != nil {
		s.Logger.Error("keep idempotent answer", "request_id", requestID(r.Context()), "tenant", tr.Tenant.ID, "err", err)
	}
}
