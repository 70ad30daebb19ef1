// Package mnemo holds the domain of a multi-tenant long-term memory server:
// memories, relations, tenants and their keys, and the interfaces that the
// storage, embedding and transport packages implement or consume.
//
// The tenant boundary is structural: a MemoryStore is bound to exactly one
// tenant when it is opened, and none of its methods takes a tenant id.
package mnemo

import (
	"errors"
	"fmt"
)

// Error codes, named after the HTTP status they map to; every transport
// turns an *Error into its own envelope.
const (
	EINVALID       = 400
	EUNAUTHORIZED  = 401
	EFORBIDDEN     = 403
	ENOTFOUND      = 404
	ECONFLICT      = 409
	ETOOLARGE      = 413
	EINTERNAL      = 500
	EUNAVAILABLE   = 503
	EMULTISTATUS   = 207
	ELOCKED        = 423
	ETOOMANY       = 429
	EUNPROCESSABLE = 422
)

// Error is an error meant for the client: Message is safe to show and names
// the field and the rule that was broken.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("mnemo error: code=%d message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) int {
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
