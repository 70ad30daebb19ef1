package http

import (
	"net/http"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

func keyJSON(k *mnemo.Key) map[string]any {
	return map[string]any{"key_id": k.ID, "label": k.Label, "scopes": k.Scopes, "prefix": k.Prefix,
		"created_at": mnemo.FormatTime(k.CreatedAt), "expires_at": fmtTimePtr(k.ExpiresAt),
		"last_used_at": fmtTimePtr(k.LastUsedAt), "revoked_at": fmtTimePtr(k.RevokedAt)}
}

func fmtTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return mnemo.FormatTime(*t)
}

// handleCreateKey adds a key to a tenant: {"label", "scopes", "expires_at"?}.
// The token is generated and shown in this response only.
func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request) {
	// A refused request is audited too, with its error.
	writeError := func(w http.ResponseWriter, err error) {
		s.audit(r, "key.create", r.PathValue("id"), "", err)
		writeError(w, err)
	}
	t, err := s.pathTenant(r)
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := s.requireJSONObject(w, r, "JSON body with 'label' and 'scopes' is required")
	if err != nil {
		writeError(w, err)
		return
	}
	now := s.Now()
	k := &mnemo.Key{ID: mnemo.NewKeyID(), TenantID: t.ID, Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: now}
	if v, ok := body["label"]; ok && v != nil {
		label, isString := v.(string)
		if !isString || len(label) > 100 {
			writeError(w, mnemo.Errorf(mnemo.EINVALID, "'label' must be a string of at most 100 characters"))
			return
		}
		k.Label = strings.TrimSpace(label)
	}
	if v, ok := body["scopes"]; ok && v != nil {
		list, isList := v.([]any)
		if !isList || len(list) == 0 {
			writeError(w, mnemo.Errorf(mnemo.EINVALID, "'scopes' must be a non-empty list of \"read\" and \"write\""))
			return
		}
		k.Scopes = nil
		seen := map[string]bool{}
		for _, it := range list {
			sc, _ := it.(string)
			if sc != mnemo.ScopeRead && sc != mnemo.ScopeWrite {
				writeError(w, mnemo.Errorf(mnemo.EINVALID, "'scopes' must be a non-empty list of \"read\" and \"write\"; got %v", it))
				return
			}
			if !seen[sc] {
				seen[sc] = true
				k.Scopes = append(k.Scopes, sc)
			}
		}
	}
	if v, ok := body["expires_at"]; ok && v != nil {
		str, _ := v.(string)
		at, err := mnemo.ParseTime(str)
		if err != nil {
			writeError(w, mnemo.Errorf(mnemo.EINVALID, "'expires_at' must be an ISO 8601 timestamp"))
			return
		}
		if !at.After(now) {
			writeError(w, mnemo.Errorf(mnemo.EINVALID, "'expires_at' must be in the future"))
			return
		}
		k.ExpiresAt = &at
	}
	token := mnemo.GenerateToken()
	k.Prefix = mnemo.DisplayPrefix(token, true)
	if err = s.Registry.AddKey(r.Context(), k, mnemo.HashToken(token)); err != nil {
		writeError(w, err)
		return
	}
	s.audit(r, "key.create", t.ID, k.ID, nil)
	writeJSON(w, http.StatusCreated, map[string]any{"status": "success", "key": keyJSON(k), "api_token": token,
		"message": "Store the api_token now: it is shown only in this response."})
}

func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) {
	t, err := s.pathTenant(r)
	if err != nil {
		writeError(w, err)
		return
	}
	keys, err := s.Registry.Keys(r.Context(), t.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]map[string]any, len(keys))
	for i, k := range keys {
		out[i] = keyJSON(k)
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "tenant_id": t.ID, "keys": out})
}

// handleRevokeKey revokes a key; the next request with it answers 401.
func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request) {
	t, err := s.pathTenant(r)
	if err != nil {
		s.audit(r, "key.revoke", r.PathValue("id"), r.PathValue("key_id"), err)
		writeError(w, err)
		return
	}
	keyID := r.PathValue("key_id")
	err = s.Registry.RevokeKey(r.Context(), t.ID, keyID, s.Now())
	s.audit(r, "key.revoke", t.ID, keyID, err)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "tenant_id": t.ID, "key_id": keyID, "revoked": true})
}
