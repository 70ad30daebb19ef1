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
	return r.db.write(ctx, func(tx *txn) error {
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
	return r.db.write(ctx, func(tx *txn) error {
		// Inserted only while its key exists: a grant never outlives it.
		res, err := tx.ExecContext(ctx, `INSERT INTO oauth_grants (hash, kind, client_id, key_id, scopes, redirect_uri, code_challenge, expires_at)
			SELECT ?, ?, ?, id, ?, ?, ?, ? FROM keys WHERE id = ?`,
			g.Hash, g.Kind, g.ClientID, string(scopes), g.RedirectURI, g.CodeChallenge, micros(g.ExpiresAt), g.KeyID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mnemo.Errorf(mnemo.ENOTFOUND, "the key this grant was made with no longer exists")
		}
		return nil
	})
}

// ConsumeOAuthGrant returns an unexpired grant of the given kind and marks
// it used, in one transaction: a code or a refresh token works once.
func (r *Registry) ConsumeOAuthGrant(ctx context.Context, kind string, hash []byte, now time.Time) (*mnemo.OAuthGrant, error) {
	var g mnemo.OAuthGrant
	err := r.db.write(ctx, func(tx *txn) error {
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

// AccessGrant returns the access token with hash, expired or not.
func (r *Registry) AccessGrant(ctx context.Context, hash []byte, _ time.Time) (*mnemo.OAuthGrant, error) {
	g := mnemo.OAuthGrant{Hash: hash}
	var scopes string
	var expires int64
	err := r.db.reader.QueryRowContext(ctx, `SELECT kind, client_id, key_id, scopes, expires_at FROM oauth_grants
		WHERE hash = ? AND kind = 'access'`, hash).Scan(&g.Kind, &g.ClientID, &g.KeyID, &scopes, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	if err != nil {
		return nil, err
	}
	g.ExpiresAt = fromMicros(expires)
	return &g, json.Unmarshal([]byte(scopes), &g.Scopes)
}
