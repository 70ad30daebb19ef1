package service

import (
	"context"
	"strings"

	"github.com/mnemohq/mnemo"
)

// CreateKey adds a key to a tenant: {"label", "scopes", "expires_at"?}.
// The token is generated and returned once. A refused request is audited
// too, with its error.
func (s *Service) CreateKey(ctx context.Context, tenantID string, fields map[string]any) (*mnemo.CreatedKey, error) {
	s.adminWork(ctx, tenantID)
	k, err := s.newKey(ctx, tenantID, fields)
	if err != nil {
		s.audit(ctx, admin, "key.create", tenantID, "", err)
		return nil, err
	}
	token := mnemo.GenerateToken()
	k.Prefix = mnemo.DisplayPrefix(token, true)
	if err := s.b.Keys.AddKey(ctx, k, mnemo.HashToken(token)); err != nil {
		s.audit(ctx, admin, "key.create", tenantID, "", err)
		return nil, err
	}
	s.audit(ctx, admin, "key.create", tenantID, k.ID, nil)
	return &mnemo.CreatedKey{Key: k, Token: token}, nil
}

// newKey validates a key's fields.
func (s *Service) newKey(ctx context.Context, tenantID string, fields map[string]any) (*mnemo.Key, error) {
	t, err := s.tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "JSON body with 'label' and 'scopes' is required")
	}
	now := s.now()
	k := &mnemo.Key{ID: mnemo.NewKeyID(), TenantID: t.ID, Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: now}
	if v, ok := fields["label"]; ok && v != nil {
		label, isString := v.(string)
		if !isString || len(label) > 100 {
			return nil, mnemo.Errorf(mnemo.EINVALID, "'label' must be a string of at most 100 characters")
		}
		k.Label = strings.TrimSpace(label)
	}
	if v, ok := fields["scopes"]; ok && v != nil {
		list, isList := v.([]any)
		if !isList || len(list) == 0 {
			return nil, mnemo.Errorf(mnemo.EINVALID, "'scopes' must be a non-empty list of \"read\" and \"write\"")
		}
		k.Scopes = nil
		seen := map[string]bool{}
		for _, it := range list {
			sc, _ := it.(string)
			if sc != mnemo.ScopeRead && sc != mnemo.ScopeWrite {
				return nil, mnemo.Errorf(mnemo.EINVALID, "'scopes' must be a non-empty list of \"read\" and \"write\"; got %v", it)
			}
			if !seen[sc] {
				seen[sc] = true
				k.Scopes = append(k.Scopes, sc)
			}
		}
	}
	if v, ok := fields["expires_at"]; ok && v != nil {
		str, _ := v.(string)
		at, err := mnemo.ParseTime(str)
		if err != nil {
			return nil, mnemo.Errorf(mnemo.EINVALID, "'expires_at' must be an ISO 8601 timestamp")
		}
		if !at.After(now) {
			return nil, mnemo.Errorf(mnemo.EINVALID, "'expires_at' must be in the future")
		}
		k.ExpiresAt = &at
	}
	return k, nil
}

// Keys lists a tenant's keys, revoked ones included.
func (s *Service) Keys(ctx context.Context, tenantID string) ([]*mnemo.Key, error) {
	s.adminWork(ctx, tenantID)
	t, err := s.tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return s.b.Keys.Keys(ctx, t.ID)
}

// RevokeKey revokes a key; the next request with it is EUNAUTHORIZED.
func (s *Service) RevokeKey(ctx context.Context, tenantID, keyID string) error {
	s.adminWork(ctx, tenantID)
	t, err := s.tenant(ctx, tenantID)
	if err == nil {
		err = s.b.Keys.RevokeKey(ctx, t.ID, keyID, s.now())
	}
	s.audit(ctx, admin, "key.revoke", tenantID, keyID, err)
	return err
}
