package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/mnemohq/mnemo"
)

// RegisterOAuthClient stores a new public client, first removing the
// clients never used that were registered before unusedBefore, then, at
// max, the oldest never-used ones; see mnemo.OAuthStore.
func (r *Registry) RegisterOAuthClient(ctx context.Context, c *mnemo.OAuthClient, unusedBefore time.Time, maxClients int) error {
	if err := r.db.disk.Load().refuse(); err != nil { // anyone may register: it must not spend the reserve
		return err
	}
	uris, _ := json.Marshal(c.RedirectURIs)
	return r.db.write(ctx, func(tx *txn) error {
		if err := deleteClients(ctx, tx, `SELECT id FROM oauth_clients WHERE used_at IS NULL AND created_at < ?`, micros(unusedBefore)); err != nil {
			return err
		}
		if maxClients > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM oauth_clients`).Scan(&n); err != nil {
				return err
			}
			if over := n - maxClients + 1; over > 0 {
				var unused int
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM oauth_clients WHERE used_at IS NULL`).Scan(&unused); err != nil {
					return err
				}
				if unused < over {
					return mnemo.Errorf(mnemo.ETOOMANY, "Client registration is full: %d clients are registered and in use", n)
				}
				if err := deleteClients(ctx, tx, `SELECT id FROM oauth_clients WHERE used_at IS NULL ORDER BY created_at, id LIMIT ?`, over); err != nil {
					return err
				}
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_clients (id, name, redirect_uris, created_at) VALUES (?, ?, ?, ?)`,
			c.ID, c.Name, string(uris), micros(c.CreatedAt))
		return err
	})
}

// deleteClients removes the clients that query selects, with their grants
// (a client never used has codes at most).
func deleteClients(ctx context.Context, tx *txn, query string, arg any) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_grants WHERE client_id IN (`+query+`)`, arg); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM oauth_clients WHERE id IN (`+query+`)`, arg)
	return err
}

// OAuthClient returns a registered client, or ENOTFOUND.
func (r *Registry) OAuthClient(ctx context.Context, id string) (*mnemo.OAuthClient, error) {
	var c mnemo.OAuthClient
	var uris string
	var created int64
	var used sql.NullInt64
	err := r.db.reader.QueryRowContext(ctx, `SELECT id, name, redirect_uris, created_at, used_at FROM oauth_clients WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &uris, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mnemo.Errorf(mnemo.ENOTFOUND, "unknown client_id")
	}
	if err != nil {
		return nil, err
	}
	c.CreatedAt, c.UsedAt = fromMicros(created), fromNullMicros(used)
	return &c, json.Unmarshal([]byte(uris), &c.RedirectURIs)
}

// insertGrant stores g while its key exists: a grant never outlives it.
func insertGrant(ctx context.Context, tx *txn, g *mnemo.OAuthGrant) error {
	if g.Family == "" {
		return errors.New("sqlite: an OAuth grant needs a family") // or its reuse could not revoke it alone
	}
	scopes, _ := json.Marshal(g.Scopes)
	res, err := tx.ExecContext(ctx, `INSERT INTO oauth_grants (hash, kind, client_id, key_id, scopes, redirect_uri, code_challenge, expires_at, family)
		SELECT ?, ?, ?, id, ?, ?, ?, ?, ? FROM keys WHERE id = ?`,
		g.Hash, g.Kind, g.ClientID, string(scopes), g.RedirectURI, g.CodeChallenge, micros(g.ExpiresAt), g.Family, g.KeyID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mnemo.Errorf(mnemo.ENOTFOUND, "the key this grant was made with no longer exists")
	}
	return nil
}

// SaveOAuthGrant stores a code by its hash.
func (r *Registry) SaveOAuthGrant(ctx context.Context, g *mnemo.OAuthGrant) error {
	return r.db.write(ctx, func(tx *txn) error { return insertGrant(ctx, tx, g) })
}

const grantColumns = `kind, client_id, key_id, scopes, redirect_uri, code_challenge, expires_at, family`

// scanGrant reads the grantColumns of row, then extra, into a grant with
// hash.
func scanGrant(row *sql.Row, hash []byte, extra ...any) (*mnemo.OAuthGrant, error) {
	g := &mnemo.OAuthGrant{Hash: hash}
	var scopes string
	var expires int64
	err := row.Scan(append([]any{&g.Kind, &g.ClientID, &g.KeyID, &scopes, &g.RedirectURI, &g.CodeChallenge, &expires, &g.Family}, extra...)...)
	if err != nil {
		return nil, err
	}
	g.ExpiresAt = fromMicros(expires)
	return g, json.Unmarshal([]byte(scopes), &g.Scopes)
}

// revokeFamily removes every grant of a family.
func revokeFamily(ctx context.Context, tx *txn, family string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM oauth_grants WHERE family = ?`, family)
	return err
}

// ConsumeOAuthGrant returns an unexpired grant of the given kind and marks
// it used, in one transaction: a code or a refresh token works once. One
// presented again revokes its family in the same transaction.
func (r *Registry) ConsumeOAuthGrant(ctx context.Context, kind string, hash []byte, now time.Time) (*mnemo.OAuthGrant, error) {
	// An unknown or expired code costs a read, not a write: the token
	// endpoint needs no key, and a write that fails rolls back its whole
	// commit group, making the other writes of the registry run again alone.
	var expires int64
	err := r.db.reader.QueryRowContext(ctx, `SELECT expires_at FROM oauth_grants WHERE hash = ? AND kind = ?`, hash, kind).Scan(&expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !now.Before(fromMicros(expires))) {
		return nil, mnemo.Errorf(mnemo.EINVALID, "invalid_grant")
	}
	if err != nil {
		return nil, err
	}
	var g *mnemo.OAuthGrant
	var reused bool
	err = r.db.write(ctx, func(tx *txn) error {
		reused = false // fn may run again after a rollback
		var used bool
		var err error
		g, err = scanGrant(tx.QueryRowContext(ctx, `SELECT `+grantColumns+`, used FROM oauth_grants WHERE hash = ? AND kind = ?`, hash, kind), hash, &used)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !now.Before(g.ExpiresAt)) {
			return mnemo.Errorf(mnemo.EINVALID, "invalid_grant")
		}
		if err != nil {
			return err
		}
		if used {
			// Committed, not rolled back: the revocation must stand.
			reused = true
			return revokeFamily(ctx, tx, g.Family)
		}
		_, err = tx.ExecContext(ctx, `UPDATE oauth_grants SET used = 1 WHERE hash = ?`, hash)
		return err
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return nil, &mnemo.GrantReusedError{Err: mnemo.Errorf(mnemo.EINVALID, "invalid_grant: used before; its family is revoked"), Grant: g}
	}
	return g, nil
}

// IssueOAuthTokens stores the tokens of a rotation in one transaction; see
// mnemo.OAuthStore.
func (r *Registry) IssueOAuthTokens(ctx context.Context, access, refresh *mnemo.OAuthGrant, now time.Time) error {
	return r.db.write(ctx, func(tx *txn) error {
		// The code or refresh token just consumed is the family's proof of
		// life: a revocation since then removed it.
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM oauth_grants WHERE family = ? LIMIT 1`, access.Family).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return mnemo.Errorf(mnemo.EINVALID, "invalid_grant: the authorization was revoked")
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_grants WHERE family = ? AND kind = 'access'`, access.Family); err != nil {
			return err
		}
		for _, g := range []*mnemo.OAuthGrant{access, refresh} {
			if err := insertGrant(ctx, tx, g); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE oauth_clients SET used_at = coalesce(used_at, ?), active_at = ? WHERE id = ?`, micros(now), micros(now), access.ClientID)
		return err
	})
}

// AccessGrant returns the access token with hash, expired or not: expiry is
// the caller's to check (an expired token is not a guess).
func (r *Registry) AccessGrant(ctx context.Context, hash []byte, _ time.Time) (*mnemo.OAuthGrant, error) {
	g, err := scanGrant(r.db.reader.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM oauth_grants
		WHERE hash = ? AND kind = 'access'`, hash), hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	return g, err
}

// OAuthToken returns the access or refresh token with hash, in any state.
func (r *Registry) OAuthToken(ctx context.Context, hash []byte) (*mnemo.OAuthGrant, error) {
	g, err := scanGrant(r.db.reader.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM oauth_grants
		WHERE hash = ? AND kind IN ('access', 'refresh')`, hash), hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mnemo.Errorf(mnemo.ENOTFOUND, "unknown token")
	}
	return g, err
}

// RevokeOAuthFamily removes every grant of a family.
func (r *Registry) RevokeOAuthFamily(ctx context.Context, family string) error {
	return r.db.write(ctx, func(tx *txn) error { return revokeFamily(ctx, tx, family) })
}
