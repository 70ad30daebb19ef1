package http

import (
	"context"
	"fmt"
	"net/http"

	"github.com/mnemohq/mnemo"
)

const actorKey ctxKey = iota + 100

// withActor records who is acting: "admin", or the id of a tenant key.
func withActor(r *http.Request, actor string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), actorKey, actor))
}

func actorOf(ctx context.Context) string {
	a, _ := ctx.Value(actorKey).(string)
	return a
}

// audit appends an event for an action on tenantID. It is written before
// the answer is sent, so it is readable as soon as the request has
// answered. err is the action's outcome; an audit write that fails is
// logged, and the request still answers.
func (s *Server) audit(r *http.Request, action, tenantID, target string, err error) {
	outcome := "success"
	if err != nil {
		outcome = fmt.Sprintf("error: %d", mnemo.ErrorCode(err))
	}
	e := &mnemo.AuditEvent{At: s.Now(), Actor: actorOf(r.Context()), TenantID: tenantID, Action: action,
		Target: target, RequestID: requestID(r.Context()), Outcome: outcome}
	if werr := s.Registry.AppendAudit(context.WithoutCancel(r.Context()), e); werr != nil {
		s.Logger.Error("audit", "request_id", e.RequestID, "action", action, "tenant", tenantID, "err", werr)
	}
}

func auditJSON(e *mnemo.AuditEvent) map[string]any {
	return map[string]any{"id": e.ID, "time": mnemo.FormatTime(e.At), "actor": e.Actor, "tenant_id": e.TenantID,
		"action": e.Action, "target": e.Target, "request_id": e.RequestID, "outcome": e.Outcome}
}

// auditQuery answers GET /admin/audit?tenant_id=&action=&since=&limit=.
func (s *Server) auditQuery(w http.ResponseWriter, r *http.Request, tenantID string) {
	q := r.URL.Query()
	f := mnemo.AuditFilter{TenantID: tenantID, Action: q.Get("action")}
	if f.TenantID == "" {
		f.TenantID = q.Get("tenant_id")
	}
	var err error
	if f.Limit, err = pageParam(r, "limit", 100, 1, 1000); err != nil {
		writeError(w, err)
		return
	}
	if since := q.Get("since"); since != "" {
		if f.Since, err = mnemo.ParseTime(since); err != nil {
			writeError(w, mnemo.Errorf(mnemo.EINVALID, "'since' must be an ISO 8601 timestamp"))
			return
		}
	}
	events, err := s.Registry.Audit(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]map[string]any, len(events))
	for i, e := range events {
		out[i] = auditJSON(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "count": len(out), "events": out})
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) { s.auditQuery(w, r, "") }

// handleTenantAudit lists one tenant's events; a deleted tenant's stay.
func (s *Server) handleTenantAudit(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := mnemo.ValidateTenantID(id); err != nil {
		writeError(w, err)
		return
	}
	s.auditQuery(w, r, id)
}
