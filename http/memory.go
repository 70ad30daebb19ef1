package http

import (
	"math"
	"net/http"

	"github.com/mnemohq/mnemo"
)

func (s *Server) handleStore(w http.ResponseWriter, r *http.Request) {
	body, err := s.readJSONObject(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	res, err := s.svc.Memories.StoreMemory(r.Context(), body)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusCreated, res)
}

func (s *Server) handleStoreBatch(w http.ResponseWriter, r *http.Request) {
	body, err := s.requireJSONObject(w, r, "JSON body with 'memories' array required")
	if err != nil {
		s.error(w, r, err)
		return
	}
	items, _ := body["memories"].([]any)
	res, err := s.svc.Memories.StoreMemories(r.Context(), items)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusCreated, res)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	res, err := s.svc.Memories.Memory(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, res)
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	body, err := s.readJSONObject(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	res, err := s.svc.Memories.UpdateMemory(r.Context(), r.PathValue("id"), body)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, res)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	res, err := s.svc.Memories.DeleteMemory(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, res)
}

// handleByTag reads the repeated ?tags= parameter; a value is not
// comma-split.
func (s *Server) handleByTag(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := mnemo.IntParam("limit", q.Get("limit"), 20, 1, 200)
	if err != nil {
		s.error(w, r, err)
		return
	}
	offset, err := mnemo.IntParam("offset", q.Get("offset"), 0, 0, math.MaxInt32)
	if err != nil {
		s.error(w, r, err)
		return
	}
	res, err := s.svc.Memories.MemoriesByTag(r.Context(), q["tags"], limit, offset)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, res)
}

func (s *Server) handleDeleteByTag(w http.ResponseWriter, r *http.Request) {
	res, err := s.svc.Memories.DeleteByTag(r.Context(), r.URL.Query()["tags"])
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, res)
}

// handleAssociate is one association, or a batch in "associations" (207
// when some of it failed).
func (s *Server) handleAssociate(w http.ResponseWriter, r *http.Request) {
	body, err := s.requireJSONObject(w, r, "JSON body is required")
	if err != nil {
		s.error(w, r, err)
		return
	}
	if list, isBatch := body["associations"].([]any); isBatch {
		res, err := s.svc.Memories.AssociateMany(r.Context(), list)
		if err != nil {
			s.error(w, r, err)
			return
		}
		status := http.StatusCreated
		if res.Partial {
			status = http.StatusMultiStatus
		}
		s.reply(w, r, status, res)
		return
	}
	res, err := s.svc.Memories.Associate(r.Context(), body)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusCreated, res)
}

func (s *Server) handleRecall(w http.ResponseWriter, r *http.Request) {
	res, err := s.svc.Recall.Recall(r.Context(), r.URL.Query())
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, res)
}

func (s *Server) handleRelated(w http.ResponseWriter, r *http.Request) {
	res, err := s.svc.Recall.Related(r.Context(), r.PathValue("id"), r.URL.Query())
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, res)
}

func (s *Server) handleStartupRecall(w http.ResponseWriter, r *http.Request) {
	res, err := s.svc.Recall.StartupRecall(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, res)
}

func (s *Server) handleAnalyze(w http.ResponseWriter, r *http.Request) {
	res, err := s.svc.Recall.Analyze(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, res)
}

// handleHealth is AutoMem's /health: 200, no auth. An admin token sent in
// X-Admin-Token is checked as on an admin route, and gets the operator's
// view, which names damaged tenants. With a valid
// tenant key it adds that tenant's counts; without one it tells nothing
// about any tenant. A key on /health is checked like anywhere else: a
// wrong key counts as a failed authentication, and a key short enough to
// guess confirms nothing from a throttled address, so /health is no better
// than any route for testing keys.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	// With X-Admin-Token, the operator's view, which names damaged tenants.
	if r.Header.Get("X-Admin-Token") != "" || r.Header.Get("X-Admin-Api-Key") != "" {
		if err := s.svc.Auth.AuthenticateAdmin(r.Context(), adminToken(r), s.clientAddr(r)); err != nil {
			s.error(w, r, err)
			return
		}
		s.reply(w, r, http.StatusOK, s.svc.Health.AdminHealth(r.Context()))
		return
	}
	var caller *mnemo.Caller
	if token := s.tenantToken(r); token != "" {
		if c, err := s.svc.Auth.Authenticate(r.Context(), token, s.clientAddr(r)); err == nil {
			caller = c
			logTenant(r, c.Tenant.ID)
		}
	}
	s.reply(w, r, http.StatusOK, s.svc.Health.Health(r.Context(), caller))
}
