package registrytest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// TestIdempotency is the contract of mnemo.IdempotencyStore: a key is
// reserved once, its answer replayed to the same request and refused to
// another, forgotten after its TTL (but never while its request runs,
// until abandoned), released on request, kept per tenant, pruned, and
// deleted with its tenant.
func TestIdempotency(t *testing.T, newReg New) {
	t.Run("ReserveCompleteReplay", func(t *testing.T) { testIdemReplay(t, newReg(t)) })
	t.Run("Release", func(t *testing.T) { testIdemRelease(t, newReg(t)) })
	t.Run("Expired", func(t *testing.T) { testIdemExpired(t, newReg(t)) })
	t.Run("Abandoned", func(t *testing.T) { testIdemAbandoned(t, newReg(t)) })
	t.Run("RunningOutlivesTTL", func(t *testing.T) { testIdemRunningOutlivesTTL(t, newReg(t)) })
	t.Run("TenantsApart", func(t *testing.T) { testIdemTenantsApart(t, newReg(t)) })
	t.Run("Prune", func(t *testing.T) { testIdemPrune(t, newReg(t)) })
	t.Run("DeleteTenant", func(t *testing.T) { testIdemDeleteTenant(t, newReg(t)) })
}

var idemBase = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	idemTTL     = 24 * time.Hour
	idemAbandon = time.Minute
)

// idemState is what a reservation found.
type idemState int

const (
	idemReserved idemState = iota // this request owns the key
	idemRunning                   // the earlier request has not answered
	idemAnswered                  // the earlier request's answer
	idemOther                     // EUNPROCESSABLE: another request's key
)

func (s idemState) String() string {
	return [...]string{"reserved", "running", "answered", "another request's"}[s]
}

// idemReserve reserves key for fingerprint at now (with idemTTL and
// idemAbandon) and says what it found, with the answer if any.
func idemReserve(t *testing.T, r Registry, tenant, key, fingerprint string, now time.Time) (idemState, *mnemo.IdempotentAnswer) {
	t.Helper()
	return idemReserveTTL(t, r, tenant, key, fingerprint, now, idemTTL)
}

func idemReserveTTL(t *testing.T, r Registry, tenant, key, fingerprint string, now time.Time, ttl time.Duration) (idemState, *mnemo.IdempotentAnswer) {
	t.Helper()
	ok, a, err := r.ReserveIdempotency(context.Background(), tenant, key, []byte(fingerprint), now, ttl, idemAbandon)
	switch {
	case mnemo.ErrorCode(err) == mnemo.EUNPROCESSABLE && !ok && a == nil:
		return idemOther, nil
	case err != nil:
		t.Fatalf("ReserveIdempotency(%s, %s): %v", tenant, key, err)
	case ok && a != nil:
		t.Fatalf("ReserveIdempotency(%s, %s): reserved, with an answer %+v", tenant, key, a)
	case ok:
		return idemReserved, nil
	case a == nil:
		return idemRunning, nil
	}
	return idemAnswered, a
}

func wantIdem(t *testing.T, what string, got idemState, want idemState) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}

func idemComplete(t *testing.T, r Registry, tenant, key string, status int, body []byte) {
	t.Helper()
	if err := r.CompleteIdempotency(context.Background(), tenant, key, mnemo.IdempotentAnswer{Status: status, Body: body}); err != nil {
		t.Fatalf("CompleteIdempotency(%s, %s): %v", tenant, key, err)
	}
}

// The first request owns the key; its retry waits, then gets its answer
// byte for byte; another request with the key is refused either way.
func testIdemReplay(t *testing.T, r Registry) {
	got, _ := idemReserve(t, r, "acme", "k", "fp", idemBase)
	wantIdem(t, "the first request", got, idemReserved)
	got, _ = idemReserve(t, r, "acme", "k", "fp", idemBase.Add(time.Second))
	wantIdem(t, "its retry while it runs", got, idemRunning)
	got, _ = idemReserve(t, r, "acme", "k", "fp2", idemBase.Add(time.Second))
	wantIdem(t, "another request while it runs", got, idemOther)
	body := []byte("{\"id\":1}\x00:1:0:\xff\n")
	idemComplete(t, r, "acme", "k", 201, body)
	got, a := idemReserve(t, r, "acme", "k", "fp", idemBase.Add(time.Hour))
	if wantIdem(t, "its retry after it answered", got, idemAnswered); a.Status != 201 || !bytes.Equal(a.Body, body) {
		t.Fatalf("the answer replayed: %d %q, want 201 %q", a.Status, a.Body, body)
	}
	got, _ = idemReserve(t, r, "acme", "k", "fp2", idemBase.Add(time.Hour))
	wantIdem(t, "another request after it answered", got, idemOther)
	// An answer without a body replays without one.
	idemReserve(t, r, "acme", "empty", "fp", idemBase)
	idemComplete(t, r, "acme", "empty", 204, nil)
	if got, a := idemReserve(t, r, "acme", "empty", "fp", idemBase); got != idemAnswered || a.Status != 204 || len(a.Body) != 0 {
		t.Fatalf("an answer without a body: %v %+v", got, a)
	}
}

// A released reservation runs again; a kept answer is not released; an
// unknown key releases without error.
func testIdemRelease(t *testing.T, r Registry) {
	ctx := context.Background()
	idemReserve(t, r, "acme", "k", "fp", idemBase)
	if err := r.ReleaseIdempotency(ctx, "acme", "k"); err != nil {
		t.Fatal(err)
	}
	got, _ := idemReserve(t, r, "acme", "k", "fp2", idemBase.Add(time.Second))
	wantIdem(t, "a request after a release", got, idemReserved)
	idemComplete(t, r, "acme", "k", 200, []byte("ok"))
	if err := r.ReleaseIdempotency(ctx, "acme", "k"); err != nil {
		t.Fatal(err)
	}
	got, a := idemReserve(t, r, "acme", "k", "fp2", idemBase.Add(2*time.Second))
	if wantIdem(t, "a kept answer after a release", got, idemAnswered); a.Status != 200 || string(a.Body) != "ok" {
		t.Fatalf("the answer: %+v", a)
	}
	if err := r.ReleaseIdempotency(ctx, "acme", "unknown"); err != nil {
		t.Fatalf("releasing an unknown key: %v", err)
	}
}

// An expired answer is as good as none before the pruner runs: the key
// reserves afresh, even for another request, and nothing of the old answer
// is replayed. It lasts its TTL exactly.
func testIdemExpired(t *testing.T, r Registry) {
	idemReserve(t, r, "acme", "k", "first", idemBase)
	idemComplete(t, r, "acme", "k", 201, []byte(`{"old":true}`))
	got, a := idemReserve(t, r, "acme", "k", "first", idemBase.Add(idemTTL))
	if wantIdem(t, "at the TTL", got, idemAnswered); a.Status != 201 {
		t.Fatalf("the answer at the TTL: %+v", a)
	}
	got, _ = idemReserve(t, r, "acme", "k", "second", idemBase.Add(idemTTL))
	wantIdem(t, "another request at the TTL", got, idemOther)
	later := idemBase.Add(idemTTL + time.Microsecond)
	got, _ = idemReserve(t, r, "acme", "k", "second", later)
	wantIdem(t, "another request past the TTL", got, idemReserved)
	got, _ = idemReserve(t, r, "acme", "k", "second", later)
	wantIdem(t, "the new request's retry", got, idemRunning)
	got, _ = idemReserve(t, r, "acme", "k", "first", later)
	wantIdem(t, "the first request's retry, past its TTL", got, idemOther)
}

// A reservation whose request never answered is taken over once older than
// abandon, not before, and by the same request only.
func testIdemAbandoned(t *testing.T, r Registry) {
	idemReserve(t, r, "acme", "k", "fp", idemBase)
	got, _ := idemReserve(t, r, "acme", "k", "fp", idemBase.Add(idemAbandon))
	wantIdem(t, "a retry at the abandon time", got, idemRunning)
	got, _ = idemReserve(t, r, "acme", "k", "other", idemBase.Add(time.Hour))
	wantIdem(t, "another request, the first abandoned", got, idemOther)
	takeover := idemBase.Add(idemAbandon + time.Microsecond)
	got, _ = idemReserve(t, r, "acme", "k", "fp", takeover)
	wantIdem(t, "a retry past the abandon time", got, idemReserved)
	got, _ = idemReserve(t, r, "acme", "k", "fp", takeover.Add(idemAbandon))
	wantIdem(t, "a retry of the request that took over, within abandon", got, idemRunning)
}

// However short the TTL, a request still running is never run again by a
// retry, nor pruned until an hour past the retention.
func testIdemRunningOutlivesTTL(t *testing.T, r Registry) {
	ctx := context.Background()
	const ttl = time.Second
	idemReserveTTL(t, r, "acme", "k", "fp", idemBase, ttl)
	at := idemBase.Add(10 * time.Second)
	got, _ := idemReserveTTL(t, r, "acme", "k", "fp", at, ttl)
	wantIdem(t, "a retry past the TTL while the request runs", got, idemRunning)
	if removed, err := r.Prune(ctx, mnemo.PruneCutoffs{Idempotency: at.Add(-ttl)}, 10); err != nil || removed["idempotency"] != 0 {
		t.Fatalf("pruning a running request's reservation: %v, %v; want kept", removed, err)
	}
	if removed, err := r.Prune(ctx, mnemo.PruneCutoffs{Idempotency: idemBase.Add(time.Hour)}, 10); err != nil || removed["idempotency"] != 0 {
		t.Fatalf("pruning a reservation an hour old at the retention: %v, %v; want kept", removed, err)
	}
	if removed, err := r.Prune(ctx, mnemo.PruneCutoffs{Idempotency: idemBase.Add(time.Hour + time.Microsecond)}, 10); err != nil || removed["idempotency"] != 1 {
		t.Fatalf("pruning a reservation abandoned an hour past the retention: %v, %v; want removed", removed, err)
	}
}

// The same key in two tenants is two keys.
func testIdemTenantsApart(t *testing.T, r Registry) {
	got, _ := idemReserve(t, r, "acme", "k", "fp-acme", idemBase)
	wantIdem(t, "acme's request", got, idemReserved)
	got, _ = idemReserve(t, r, "beta", "k", "fp-beta", idemBase)
	wantIdem(t, "beta's request with acme's key", got, idemReserved)
	idemComplete(t, r, "acme", "k", 201, []byte("acme"))
	got, _ = idemReserve(t, r, "beta", "k", "fp-beta", idemBase)
	wantIdem(t, "beta's retry after acme answered", got, idemRunning)
	if err := r.ReleaseIdempotency(context.Background(), "beta", "k"); err != nil {
		t.Fatal(err)
	}
	got, a := idemReserve(t, r, "acme", "k", "fp-acme", idemBase)
	if wantIdem(t, "acme's retry after beta's release", got, idemAnswered); string(a.Body) != "acme" {
		t.Fatalf("acme's answer: %q", a.Body)
	}
}

// Prune removes the answers kept before the cutoff and the reservations
// made an hour before it, in batches smaller than what there is, and
// keeps the rest.
func testIdemPrune(t *testing.T, r Registry) {
	// A pass that never gets past what it keeps fails here rather than hang.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := idemBase.Add(400 * 24 * time.Hour)
	cutoff := now.Add(-24 * time.Hour)
	for _, rec := range []struct {
		tenant, key string
		at          time.Time
		answered    bool
	}{
		{"acme", "answered-old", now.Add(-48 * time.Hour), true},         // removed
		{"beta", "answered-old", cutoff.Add(-time.Microsecond), true},    // removed
		{"acme", "running-recent", cutoff.Add(-30 * time.Minute), false}, // kept: within the extra hour
		{"acme", "running-abandoned", now.Add(-26 * time.Hour), false},   // removed
		{"acme", "answered-at-cutoff", cutoff, true},                     // kept
		{"acme", "answered-new", now.Add(-time.Hour), true},              // kept
		{"beta", "running-recent", cutoff.Add(-59 * time.Minute), false}, // kept
	} {
		idemReserve(t, r, rec.tenant, rec.key, "fp", rec.at)
		if rec.answered {
			idemComplete(t, r, rec.tenant, rec.key, 201, []byte(rec.key))
		}
	}
	removed, err := r.Prune(ctx, mnemo.PruneCutoffs{Idempotency: cutoff}, 1)
	if err != nil || removed["idempotency"] != 3 {
		t.Fatalf("Prune: %v, %v; want 3 idempotency records removed", removed, err)
	}
	// Whether a record is kept, read with a TTL that expires nothing: a
	// kept one refuses another request.
	for _, rec := range []struct {
		tenant, key string
		kept        bool
	}{
		{"acme", "answered-old", false}, {"beta", "answered-old", false}, {"acme", "running-recent", true},
		{"acme", "running-abandoned", false}, {"acme", "answered-at-cutoff", true}, {"acme", "answered-new", true},
		{"beta", "running-recent", true},
	} {
		got, _ := idemReserveTTL(t, r, rec.tenant, rec.key, "probe", now, 1000*24*time.Hour)
		if kept := got == idemOther; kept != rec.kept {
			t.Errorf("%s/%s after pruning: %v; want kept %v", rec.tenant, rec.key, got, rec.kept)
		}
	}
	// The probes reserved the removed keys afresh, at now: nothing is
	// left before the cutoff.
	if removed, err := r.Prune(ctx, mnemo.PruneCutoffs{Idempotency: cutoff}, 1); err != nil || removed["idempotency"] != 0 {
		t.Fatalf("second pass: %v, %v; want nothing", removed, err)
	}
	if removed, err := r.Prune(ctx, mnemo.PruneCutoffs{}, 1); err != nil || removed["idempotency"] != 0 {
		t.Fatalf("zero cutoff: %v, %v; want nothing", removed, err)
	}
}

// A deleted tenant's kept answers go with it: the id created again starts
// with none. Another tenant's stay.
func testIdemDeleteTenant(t *testing.T, r Registry) {
	ctx := context.Background()
	oauthKey(t, r, "acme")
	idemReserve(t, r, "acme", "k", "fp", idemBase)
	idemComplete(t, r, "acme", "k", 201, []byte("acme's data"))
	idemReserve(t, r, "beta", "k", "fp", idemBase)
	idemComplete(t, r, "beta", "k", 201, []byte("beta's data"))
	if err := r.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	oauthKey(t, r, "acme")
	got, _ := idemReserve(t, r, "acme", "k", "fp", idemBase.Add(time.Minute))
	wantIdem(t, "the old key in the tenant created again", got, idemReserved)
	got, a := idemReserve(t, r, "beta", "k", "fp", idemBase.Add(time.Minute))
	if wantIdem(t, "another tenant's answer", got, idemAnswered); string(a.Body) != "beta's data" {
		t.Fatalf("beta's answer: %q", a.Body)
	}
}
