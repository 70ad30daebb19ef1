package archive

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mnemohq/mnemo"
)

// The lines of registry.ndjson: one object per record, "kind" first and
// the record's fields in snake_case; times are RFC 3339 with as many
// fractional digits as the backend kept, hashes are hex.

type incarnationLine struct {
	Kind        string     `json:"kind"`
	TenantID    string     `json:"tenant_id"`
	Incarnation int64      `json:"incarnation"`
	CreatedAt   time.Time  `json:"created_at"`
	DeletedAt   *time.Time `json:"deleted_at"`
}

type rateLimitLine struct {
	RequestsPerSecond float64 `json:"requests_per_second"`
	Burst             int     `json:"burst"`
}

type tenantLine struct {
	Kind         string         `json:"kind"`
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Status       string         `json:"status"`
	StatusReason string         `json:"status_reason"`
	RateLimit    *rateLimitLine `json:"rate_limit"`
	MaxMemories  *int64         `json:"max_memories"`
	MaxStorageMB *float64       `json:"max_storage_mb"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Incarnation  int64          `json:"incarnation"`
}

type keyLine struct {
	Kind        string     `json:"kind"`
	ID          string     `json:"id"`
	TenantID    string     `json:"tenant_id"`
	TokenSHA256 string     `json:"token_sha256"`
	Prefix      string     `json:"prefix"`
	Label       string     `json:"label"`
	Scopes      []string   `json:"scopes"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
}

type oauthClientLine struct {
	Kind         string     `json:"kind"`
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	RedirectURIs []string   `json:"redirect_uris"`
	CreatedAt    time.Time  `json:"created_at"`
	UsedAt       *time.Time `json:"used_at"`
	ActiveAt     *time.Time `json:"active_at"`
}

type oauthGrantLine struct {
	Kind          string    `json:"kind"`
	SHA256        string    `json:"sha256"`
	GrantKind     string    `json:"grant_kind"`
	ClientID      string    `json:"client_id"`
	KeyID         string    `json:"key_id"`
	Scopes        []string  `json:"scopes"`
	RedirectURI   string    `json:"redirect_uri"`
	CodeChallenge string    `json:"code_challenge"`
	ExpiresAt     time.Time `json:"expires_at"`
	Used          bool      `json:"used"`
	Family        string    `json:"family"`
}

type auditLine struct {
	Kind        string    `json:"kind"`
	ID          int64     `json:"id"`
	At          time.Time `json:"at"`
	Actor       string    `json:"actor"`
	TenantID    string    `json:"tenant_id"`
	Incarnation int64     `json:"incarnation"`
	Action      string    `json:"action"`
	Target      string    `json:"target"`
	RequestID   string    `json:"request_id"`
	Outcome     string    `json:"outcome"`
}

type usageLine struct {
	Kind        string `json:"kind"`
	TenantID    string `json:"tenant_id"`
	Incarnation int64  `json:"incarnation"`
	Day         string `json:"day"`
	UsageKind   string `json:"usage_kind"`
	Count       int64  `json:"count"`
}

// encodeRecord returns the line of a record.
func encodeRecord(r mnemo.RegistryRecord) (any, error) {
	switch kind := r.Kind(); kind {
	case "incarnation":
		in := r.Incarnation
		return incarnationLine{kind, in.TenantID, in.Incarnation, in.CreatedAt, in.DeletedAt}, nil
	case "tenant":
		t := r.Tenant
		l := tenantLine{Kind: kind, ID: t.ID, Name: t.Name, Status: t.Status, StatusReason: t.StatusReason,
			MaxMemories: t.Quotas.MaxMemories, MaxStorageMB: t.Quotas.MaxStorageMB, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Incarnation: t.Incarnation}
		if rl := t.RateLimit; rl != nil {
			l.RateLimit = &rateLimitLine{rl.RequestsPerSecond, rl.Burst}
		}
		return l, nil
	case "key":
		k := r.Key.Key
		return keyLine{kind, k.ID, k.TenantID, hex.EncodeToString(r.Key.Hash), k.Prefix, k.Label, k.Scopes, k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.RevokedAt}, nil
	case "oauth_client":
		c := r.OAuthClient.Client
		return oauthClientLine{kind, c.ID, c.Name, c.RedirectURIs, c.CreatedAt, c.UsedAt, r.OAuthClient.ActiveAt}, nil
	case "oauth_grant":
		g := r.OAuthGrant.Grant
		return oauthGrantLine{kind, hex.EncodeToString(g.Hash), g.Kind, g.ClientID, g.KeyID, g.Scopes, g.RedirectURI, g.CodeChallenge, g.ExpiresAt,
			r.OAuthGrant.Used, g.Family}, nil
	case "audit":
		e := r.Audit
		return auditLine{kind, e.ID, e.At, e.Actor, e.TenantID, e.Incarnation, e.Action, e.Target, e.RequestID, e.Outcome}, nil
	case "usage":
		u := r.Usage
		return usageLine{kind, u.TenantID, u.Incarnation, u.Day, u.Kind, u.Count}, nil
	}
	return nil, fmt.Errorf("a registry record holds none or several of %v", mnemo.RegistryRecordKinds)
}

// decodeRecord reads one line of registry.ndjson. Every field of its kind
// must be known: version 1 has no others.
func decodeRecord(line []byte) (mnemo.RegistryRecord, error) {
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return mnemo.RegistryRecord{}, fmt.Errorf("not a JSON object: %v", err)
	}
	strict := func(v any) error {
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("a %q record: %v", head.Kind, err)
		}
		if dec.More() {
			return fmt.Errorf("unexpected data after the JSON object (one object per line)")
		}
		return nil
	}
	var r mnemo.RegistryRecord
	switch head.Kind {
	case "incarnation":
		var l incarnationLine
		if err := strict(&l); err != nil {
			return r, err
		}
		r.Incarnation = &mnemo.IncarnationRecord{TenantID: l.TenantID, Incarnation: l.Incarnation, CreatedAt: l.CreatedAt, DeletedAt: l.DeletedAt}
	case "tenant":
		var l tenantLine
		if err := strict(&l); err != nil {
			return r, err
		}
		t := &mnemo.Tenant{ID: l.ID, Name: l.Name, Status: l.Status, StatusReason: l.StatusReason, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt,
			Incarnation: l.Incarnation, Quotas: mnemo.Quotas{MaxMemories: l.MaxMemories, MaxStorageMB: l.MaxStorageMB}}
		if l.RateLimit != nil {
			t.RateLimit = &mnemo.RateLimit{RequestsPerSecond: l.RateLimit.RequestsPerSecond, Burst: l.RateLimit.Burst}
		}
		r.Tenant = t
	case "key":
		var l keyLine
		if err := strict(&l); err != nil {
			return r, err
		}
		hash, err := hex.DecodeString(l.TokenSHA256)
		if err != nil {
			return r, fmt.Errorf("key %q: 'token_sha256' is not hex", l.ID)
		}
		r.Key = &mnemo.KeyRecord{Hash: hash, Key: mnemo.Key{ID: l.ID, TenantID: l.TenantID, Label: l.Label, Prefix: l.Prefix, Scopes: l.Scopes,
			CreatedAt: l.CreatedAt, ExpiresAt: l.ExpiresAt, LastUsedAt: l.LastUsedAt, RevokedAt: l.RevokedAt}}
	case "oauth_client":
		var l oauthClientLine
		if err := strict(&l); err != nil {
			return r, err
		}
		r.OAuthClient = &mnemo.OAuthClientRecord{ActiveAt: l.ActiveAt,
			Client: mnemo.OAuthClient{ID: l.ID, Name: l.Name, RedirectURIs: l.RedirectURIs, CreatedAt: l.CreatedAt, UsedAt: l.UsedAt}}
	case "oauth_grant":
		var l oauthGrantLine
		if err := strict(&l); err != nil {
			return r, err
		}
		hash, err := hex.DecodeString(l.SHA256)
		if err != nil {
			return r, fmt.Errorf("oauth_grant: 'sha256' is not hex")
		}
		r.OAuthGrant = &mnemo.OAuthGrantRecord{Used: l.Used, Grant: mnemo.OAuthGrant{Hash: hash, Kind: l.GrantKind, ClientID: l.ClientID, KeyID: l.KeyID,
			Scopes: l.Scopes, RedirectURI: l.RedirectURI, CodeChallenge: l.CodeChallenge, ExpiresAt: l.ExpiresAt, Family: l.Family}}
	case "audit":
		var l auditLine
		if err := strict(&l); err != nil {
			return r, err
		}
		r.Audit = &mnemo.AuditEvent{ID: l.ID, At: l.At, Actor: l.Actor, TenantID: l.TenantID, Incarnation: l.Incarnation, Action: l.Action,
			Target: l.Target, RequestID: l.RequestID, Outcome: l.Outcome}
	case "usage":
		var l usageLine
		if err := strict(&l); err != nil {
			return r, err
		}
		r.Usage = &mnemo.Usage{TenantID: l.TenantID, Incarnation: l.Incarnation, Day: l.Day, Kind: l.UsageKind, Count: l.Count}
	default:
		return r, fmt.Errorf("'kind' %q is not one of %v", head.Kind, mnemo.RegistryRecordKinds)
	}
	return r, nil
}
