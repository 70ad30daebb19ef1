package http

import (
	"net/http"
	"time"

	"github.com/mnemohq/mnemo"
)

// handleMetrics serves Prometheus metrics. TODO(metrics).
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	writeError(w, mnemo.Errorf(501, "metrics are not implemented yet"))
}

// observeRequest records one answered request. TODO(metrics).
func (s *Server) observeRequest(route string, status int, d time.Duration) {}

// countRefusal records a request refused by a limit: reason is
// "rate_limit", "quota", "concurrency" or "auth_throttle". TODO(metrics).
func (s *Server) countRefusal(reason string) {}
