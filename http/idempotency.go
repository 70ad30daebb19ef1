package http

import "net/http"

// idempotent runs h. TODO(idempotency): replay answers for a repeated
// Idempotency-Key.
func (s *Server) idempotent(w *bufferedWriter, r *http.Request, tr *tenantRequest, h func(http.ResponseWriter, *http.Request, *tenantRequest)) {
	h(w, r, tr)
}
