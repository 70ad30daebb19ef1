package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/mnemohq/mnemo"
)

// RegisterOAuthClient stores a new public client.
func (r *Registry) RegisterOAuthClient(ctx context.Context, c *mnemo.OAuthClient) error {
	uris, _ := json.Marshal(c.RedirectURIs)
	return r.db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_clients (id, name, redirect_uris, created_at) VALUES (?, ?, ?, ?)`,
			c.ID, c.Name, string(uris), micros(c.CreatedAt))
		return err
	})
}

// OAuthClient returns a registered client, or ENOTFOUND.
func (r *Registry) OAuthClient(ctx context.Context, id string) (*mnemo.OAuthClient, error) {
	var c mnemo.OAuthClient
	var uris string
	var created int64
	err := r.db.reader.QueryRowContext(ctx, `SELECT id, name, redirect_uris, created_at FROM oauth_clients WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &uris, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mnemo.Errorf(mnemo.ENOTFOUND, "unknown client_id")
	}
	if err != nil {
		return nil, err
	}
	c.CreatedAt = fromMicros(created)
	return &c, json.Unmarshal([]byte(uris), &c.RedirectURIs)
}

// SaveOAuthGrant stores a code, access token or refresh token by its hash.
func (r *Registry) SaveOAuthGrant(ctx context.Context, g *mnemo.OAuthGrant) error {
	scopes, _ := json.Marshal(g.Scopes)
	return r.db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_grants (hash, kind, client_id, key_id, scopes, redirect_uri, code_challenge, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, g.Hash, g.Kind, g.ClientID, g.KeyID, string(scopes), g.RedirectURI, g.CodeChallenge, micros(g.ExpiresAt))
		return err
	})
}

// ConsumeOAuthGrant returns an unexpired grant of the given kind and marks
// it used, in one transaction: a code or a refresh token works once.
func (r *Registry) ConsumeOAuthGrant(ctx context.Context, kind string, hash []byte, now time.Time) (*mnemo.OAuthGrant, error) {
	var g mnemo.OAuthGrant
	err := r.db.write(ctx, func(tx *sql.Tx) error {
		var scopes string
		var expires int64
		var used bool
		err := tx.QueryRowContext(ctx, `SELECT kind, client_id, key_id, scopes, redirect_uri, code_challenge, expires_at, used
			FROM oauth_grants WHERE hash = ? AND kind = ?`, hash, kind).
			Scan(&g.Kind, &g.ClientID, &g.KeyID, &scopes, &g.RedirectURI, &g.CodeChallenge, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (used || !now.Before(fromMicros(expires)))) {
			return mnemo.Errorf(mnemo.EINVALID, "invalid_grant")
		}
		if err != nil {
			return err
		}
		g.Hash, g.ExpiresAt = hash, fromMicros(expires)
		if err := json.Unmarshal([]byte(scopes), &g.Scopes); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE oauth_grants SET used = 1 WHERE hash = ?`, hash)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// AuthenticateOAuth resolves an access token to its key and tenant. The
// token dies with its key: a revoked or expired key, or a deleted tenant,
// ends it. Its scopes are those granted, within the key's.
func (r *Registry) AuthenticateOAuth(ctx context.Context, hash []byte, now time.Time) (*mnemo.Key, *mnemo.Tenant, error) {
	var keyHash []byte
	var scopes string
	err := r.db.reader.QueryRowContext(ctx, `SELECT k.hash, g.scopes FROM oauth_grants g JOIN keys k ON k.id = g.key_id
		WHERE g.hash = ? AND g.kind = 'access' AND g.expires_at > ?`, hash, micros(now)).Scan(&keyHash, &scopes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	if err != nil {
		return nil, nil, err
	}
	key, t, err := r.Authenticate(ctx, keyHash)
	if err != nil {
		return nil, nil, err
	}
	var granted []string
	if err := json.Unmarshal([]byte(scopes), &granted); err != nil {
		return nil, nil, err
	}
	var both []string
	for _, s := range granted {
		if key.HasScope(s) {
			both = append(both, s)
		}
	}
	key.Scopes = both
	return key, t, nil
}

// LiveKey reports whether a key still works: not revoked, not expired.
func (r *Registry) LiveKey(ctx context.Context, keyID string, now time.Time) bool {
	var n int
	r.db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM keys WHERE id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
		keyID, micros(now)).Scan(&n)
	return n > 0
}
