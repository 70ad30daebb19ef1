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
