package local_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/mnemohq/mnemo/local"
)

// A full table refuses newcomers and forgets no count, so cycling through
// addresses cannot reset one; windows that ended make room again.
func TestRegistrationsFullTableKeepsCounts(t *testing.T) {
	var l local.Registrations
	now := time.Unix(1_800_000_000, 0)
	l.AllowRegistration(ctx, "victim", 2, now)
	l.AllowRegistration(ctx, "victim", 2, now)
	for i := range local.MaxRegistrationAddresses - 1 {
		if ok, _, _ := l.AllowRegistration(ctx, "a"+strconv.Itoa(i), 2, now); !ok {
			t.Fatalf("address %d refused before the table is full", i)
		}
	}
	if ok, wait, _ := l.AllowRegistration(ctx, "newcomer", 2, now.Add(time.Second)); ok || wait <= 0 {
		t.Fatalf("a newcomer to a full table: ok=%v wait=%v, want refused", ok, wait)
	}
	if ok, _, _ := l.AllowRegistration(ctx, "victim", 2, now.Add(time.Second)); ok {
		t.Fatal("the full table forgot an address's count")
	}
	if ok, _, _ := l.AllowRegistration(ctx, "newcomer", 2, now.Add(local.RegistrationWindow)); !ok {
		t.Fatal("windows that ended did not make room")
	}
}
