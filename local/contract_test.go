package local_test

import (
	"testing"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/internal/limitertest"
	"github.com/mnemohq/mnemo/local"
)

// The in-process limiters and leases are held to the contract the shared
// ones (falkordb) are held to.

func TestRateLimiterContract(t *testing.T) {
	limitertest.TestRateLimiter(t, func(*testing.T) mnemo.RateLimiter { return &local.Limits{} })
}

func TestConcurrencyLimiterContract(t *testing.T) {
	limitertest.TestConcurrencyLimiter(t, func(*testing.T) mnemo.ConcurrencyLimiter { return &local.Limits{} })
}

func TestAuthThrottleContract(t *testing.T) {
	limitertest.TestAuthThrottle(t, func(*testing.T) mnemo.AuthThrottle { return &local.Limits{} })
}

func TestRegistrationLimiterContract(t *testing.T) {
	limitertest.TestRegistrationLimiter(t, func(*testing.T) mnemo.RegistrationLimiter { return &local.Registrations{} })
}

func TestLeasesContract(t *testing.T) {
	limitertest.TestLeases(t, func(*testing.T) mnemo.Leases { return &local.Leases{} })
}

// The contract's window is the one local counts in.
func TestWindowsAreTheContracts(t *testing.T) {
	if local.AuthWindow != limitertest.Window || local.RegistrationWindow != limitertest.Window {
		t.Fatalf("windows %v and %v, the contract's %v", local.AuthWindow, local.RegistrationWindow, limitertest.Window)
	}
}
