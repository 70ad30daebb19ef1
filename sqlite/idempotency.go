package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mnemohq/mnemo"
)

// ReserveIdempotency claims key for a request with the given fingerprint;
// see mnemo.IdempotencyStore. An expired answer counts as none; the pruner
// removes them (see Prune), so a reservation never deletes more than its own.
func (r *Registry) ReserveIdempotency(ctx context.Context, tenantID, key string, fingerprint []byte, now time.Time, ttl, abandon time.Duration) (reserved bool, answer *mnemo.IdempotentAnswer, err error) {
	err = r.db.write(ctx, func(tx *txn) error {
		reserved, answer = false, nil // fn may run again after a rollback
		var fp, body []byte
		var status int
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT fingerprint, status, body, created_at FROM idempotency WHERE tenant_id = ? AND key = ?`,
			tenantID, key).Scan(&fp, &status, &body, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			reserved = true
			_, err = tx.ExecContext(ctx, `INSERT INTO idempotency (tenant_id, key, fingerprint, status, created_at) VALUES (?, ?, ?, 0, ?)`,
				tenantID, key, fingerprint, micros(now))
			return err
		case err != nil:
			return err
		case status != 0 && fromMicros(created).Before(now.Add(-ttl)):
			// Expired: as if never kept, whether or not the pruner has
			// removed it yet. (A reservation still running is not: it is
			// taken over only when abandoned, below, so a retry never runs
			// a running request twice, however short the TTL.)
			reserved = true
			_, err = tx.ExecContext(ctx, `UPDATE idempotency SET fingerprint = ?, status = 0, body = NULL, created_at = ? WHERE tenant_id = ? AND key = ?`,
				fingerprint, micros(now), tenantID, key)
			return err
		case !bytes.Equal(fp, fingerprint):
			return mnemo.Errorf(mnemo.EUNPROCESSABLE, "Idempotency-Key '%s' was used with a different request", key)
		case status == 0 && now.Sub(fromMicros(created)) > abandon:
			// The first attempt never answered: this one takes over.
			reserved = true
			_, err = tx.ExecContext(ctx, `UPDATE idempotency SET created_at = ? WHERE tenant_id = ? AND key = ?`, micros(now), tenantID, key)
			return err
		case status != 0:
			answer = &mnemo.IdempotentAnswer{Status: status, Body: body}
		}
		return nil
	})
	return reserved, answer, err
}

// CompleteIdempotency stores the answer of a reserved key.
func (r *Registry) CompleteIdempotency(ctx context.Context, tenantID, key string, answer mnemo.IdempotentAnswer) error {
	return r.db.write(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE idempotency SET status = ?, body = ? WHERE tenant_id = ? AND key = ?`,
			answer.Status, answer.Body, tenantID, key)
		return err
	})
}

// ReleaseIdempotency forgets a reserved key, so a retry runs again (after a
// server error, which changed nothing).
func (r *Registry) ReleaseIdempotency(ctx context.Context, tenantID, key string) error {
	return r.db.write(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE tenant_id = ? AND key = ? AND status = 0`, tenantID, key)
		return err
	})
}
