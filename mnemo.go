// Package mnemo holds the domain of a multi-tenant long-term memory server:
// memories, relations, tenants and their keys; the services the
// application offers to its transports (service.go); and the seams that
// storage and embedding backends implement (store.go, registry.go).
//
// The tenant boundary is structural: a MemoryStore is bound to exactly one
// tenant when it is opened, and none of its methods takes a tenant id.
package mnemo

import "context"

type ctxKey int

const requestIDKey ctxKey = iota

// NewContextWithRequestID returns ctx carrying the id of the request being
// served, so that audit events and error logs name it.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFromContext returns the request id in ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}
