// Package registrytest is the contract of mnemo's shared-state seams
// (registry.go at the root), written once and run against every backend:
// sqlite (one process) and falkordb (Redis structures shared by replicas).
// Each file holds the contract of one part; a backend's test calls them
// with a function that returns a new, empty registry for one test.
package registrytest

import (
	"testing"

	"github.com/mnemohq/mnemo"
)

// Registry is everything a backend's registry implements.
type Registry interface {
	mnemo.TenantRegistry
	mnemo.KeyRegistry
	mnemo.AuditLog
	mnemo.UsageLog
	mnemo.RecordPruner
	mnemo.IdempotencyStore
	mnemo.OAuthStore
}

// New returns a new, empty registry for t, closed at t's cleanup.
type New func(t *testing.T) Registry
