package http

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/mnemohq/mnemo"
)

// statusRecorder remembers what a handler answered, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	tenant string
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type recorderKey struct{}

// logTenant names the request's tenant in its access log line.
func logTenant(r *http.Request, tenantID string) {
	if rec, ok := r.Context().Value(recorderKey{}).(*statusRecorder); ok {
		rec.tenant = tenantID
	}
}

// logRequests gives each request an id (X-Request-Id) and logs one JSON
// line per request: id, tenant, route pattern, status and latency, at
// ERROR for a 5xx (whose cause is logged where it is written). It logs the
// path without the query string, which can carry ?api_key=, and never a
// header.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		ctx := mnemo.NewContextWithRequestID(r.Context(), id)
		r = r.WithContext(context.WithValue(ctx, recorderKey{}, rec))
		next.ServeHTTP(rec, r)
		s.metrics.observeRequest(r.Pattern, rec.status, time.Since(began))
		attrs := []any{"request_id", id, "method", r.Method, "route", r.Pattern, "path", r.URL.Path,
			"status", rec.status, "latency_ms", float64(time.Since(began).Microseconds()) / 1000}
		if rec.tenant != "" {
			attrs = append(attrs, "tenant", rec.tenant)
		}
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		s.logger.Log(r.Context(), level, "request", attrs...)
	})
}
