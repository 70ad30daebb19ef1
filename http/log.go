package http

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// statusRecorder remembers what a handler answered, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	tenant string
	err    error
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

// logRequests logs one JSON line per request: id, tenant, route pattern,
// status and latency. It logs the path without the query string, which can
// carry ?api_key=, and never a header.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(context.WithValue(ctx, recorderKey, rec))
		next.ServeHTTP(rec, r)
		s.observeRequest(r.Pattern, rec.status, time.Since(began))
		attrs := []any{"request_id", id, "method", r.Method, "route", r.Pattern, "path", r.URL.Path,
			"status", rec.status, "latency_ms", float64(time.Since(began).Microseconds()) / 1000}
		if rec.tenant != "" {
			attrs = append(attrs, "tenant", rec.tenant)
		}
		level := slog.LevelInfo
		if rec.err != nil {
			attrs = append(attrs, "err", rec.err.Error())
			level = slog.LevelError
		}
		s.Logger.Log(r.Context(), level, "request", attrs...)
	})
}
