package local_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/mnemohq/mnemo/local"
)

func TestRegistrationsPerAddressAndWindow(t *testing.T) {
	var l local.Registrations
	now := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		if ok, _, _ := l.AllowRegistration(ctx, "10.0.0.1", 3, now.Add(time.Duration(i)*time.Second)); !ok {
			t.Fatalf("registration %d of 3 refused", i+1)
		}
	}
	ok, wait, _ := l.AllowRegistration(ctx, "10.0.0.1", 3, now.Add(20*time.Second))
	if ok || wait != 40*time.Second {
		t.Fatalf("fourth in the window: ok=%v wait=%v, want refused for the 40s left", ok, wait)
	}
	if ok, _, _ := l.AllowRegistration(ctx, "10.0.0.2", 3, now.Add(20*time.Second)); !ok {
		t.Fatal("another address was refused because the first one spent its count")
	}
	if ok, _, _ := l.AllowRegistration(ctx, "10.0.0.1", 3, now.Add(local.RegistrationWindow)); !ok {
		t.Fatal("a new window refused the first address")
	}
}

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
