package sqlite_test

import (
	"testing"

	"github.com/mnemohq/mnemo/internal/registrytest"
)

// The embedded registry is held to the contracts of the OAuth and
// idempotency seams that every backend shares.
func oauthContractRegistry(t *testing.T) registrytest.Registry { return openRegistry(t, t.TempDir()) }

func TestOAuthContract(t *testing.T) { registrytest.TestOAuth(t, oauthContractRegistry) }

func TestIdempotencyContract(t *testing.T) { registrytest.TestIdempotency(t, oauthContractRegistry) }
