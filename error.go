package mnemo

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Error codes say what went wrong in the application's terms. Each
// transport maps them to its own form in one place (http/ to HTTP statuses).
const (
	// ECONFLICT: the thing exists already, or another request holds it.
	ECONFLICT = "conflict"
	// EFULL: the disk is full. Reads and deletes still work; writes resume
	// by themselves when space returns.
	EFULL = "storage_full"
	// EFORBIDDEN: the caller may not do this: a key without the scope, a
	// full quota, admin routes without a configured admin token.
	EFORBIDDEN = "forbidden"
	// EINTERNAL: a fault of the service. Its message tells the client
	// nothing; the cause is logged.
	EINTERNAL = "internal"
	// EINVALID: bad input. The message names the field and the rule.
	EINVALID = "invalid"
	// ELOCKED: the tenant is suspended, or read-only and this is a write.
	ELOCKED = "locked"
	// ENOTFOUND: no such tenant, key, memory or route.
	ENOTFOUND = "not_found"
	// ENOTIMPLEMENTED: the request names something this server lacks.
	ENOTIMPLEMENTED = "not_implemented"
	// ETOOLARGE: a body over its size limit.
	ETOOLARGE = "too_large"
	// ETOOMANY: refused by a rate limit, a concurrency cap or the failed-
	// authentication throttle; Error.RetryAfter says when to try again.
	ETOOMANY = "too_many_requests"
	// EUNAUTHORIZED: no credential, or one that is unknown, revoked or
	// expired.
	EUNAUTHORIZED = "unauthorized"
	// EUNAVAILABLE: a dependency is down; the request may be retried.
	EUNAVAILABLE = "unavailable"
	// EUNPROCESSABLE: well formed but unusable, such as an Idempotency-Key
	// reused for another request.
	EUNPROCESSABLE = "unprocessable"
	// ETIMEOUT: the request used up its time budget and was stopped.
	ETIMEOUT = "timeout"
)

// Budget returns err as ETIMEOUT when ctx's deadline, the request's time
// budget, has passed: whatever failed then failed because time ran out
// (a store's query is interrupted with an error of its own).
func Budget(ctx context.Context, err error) error {
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return Errorf(ETIMEOUT, "The request ran out of time and was stopped; ask for less (a shorter query, a smaller limit, a shallower depth) or retry later")
	}
	return err
}

// Error is an error meant for the client: Message is safe to show and names
// the field and the rule that was broken.
type Error struct {
	Code    string
	Message string
	// RetryAfter is how long a refused client should wait before retrying
	// (ETOOMANY, EUNAVAILABLE).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("mnemo error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of an *Error in err's chain,
// or a generic text that leaks nothing about internals.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal server error"
}

// RetryAfter returns how long the client should wait before retrying, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
