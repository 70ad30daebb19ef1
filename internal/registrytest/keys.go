package registrytest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// TestKeys is the contract of mnemo.KeyRegistry: keys added to a tenant
// (a taken token is ECONFLICT, a missing tenant ENOTFOUND), found by the
// hash of their token and by id, listed oldest first, revoked one by one,
// and touched.
func TestKeys(t *testing.T, newReg New) {
	t.Run("AddKey", func(t *testing.T) { testAddKey(t, newReg(t)) })
	t.Run("KeyByHash", func(t *testing.T) { testKeyByHash(t, newReg(t)) })
	t.Run("ExpiryToTheMicrosecond", func(t *testing.T) { testKeyExpiry(t, newReg(t)) })
	t.Run("KeyByID", func(t *testing.T) { testKeyByID(t, newReg(t)) })
	t.Run("Keys", func(t *testing.T) { testKeysList(t, newReg(t)) })
	t.Run("RevokeKey", func(t *testing.T) { testRevokeKey(t, newReg(t)) })
	t.Run("TouchKey", func(t *testing.T) { testTouchKey(t, newReg(t)) })
}

func mustAddKey(t *testing.T, r Registry, k *mnemo.Key, token string) {
	t.Helper()
	if err := r.AddKey(context.Background(), k, mnemo.HashToken(token)); err != nil {
		t.Fatalf("AddKey(%s): %v", k.ID, err)
	}
}

// A key comes back as added; a token in use, whoever holds it, is
// ECONFLICT and a missing tenant ENOTFOUND, and neither changes anything.
func testAddKey(t *testing.T, r Registry) {
	ctx := context.Background()
	acme := newTenant("acme", regHours(1))
	mustCreateTenant(t, r, acme, "acme-token")
	mustCreateTenant(t, r, newTenant("other", regHours(2)), "other-token")
	exp := regHours(48).Add(654321 * time.Microsecond)
	k := newKey("added", "acme", "added-token", &exp)
	k.Scopes = []string{mnemo.ScopeRead}
	mustAddKey(t, r, k, "added-token")
	gk, gt, err := r.KeyByHash(ctx, mnemo.HashToken("added-token"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gk, k) || !reflect.DeepEqual(noStats(gt), acme) {
		t.Fatalf("KeyByHash(added) = %+v of %+v, want %+v of %+v", gk, gt, k, acme)
	}
	if gk.HasScope(mnemo.ScopeWrite) {
		t.Error("a read-only key has the write scope")
	}
	for _, tc := range []struct{ name, tenant, token, code string }{
		{"token of the same tenant", "acme", "acme-token", mnemo.ECONFLICT},
		{"token of another tenant", "acme", "other-token", mnemo.ECONFLICT},
		{"token just added", "other", "added-token", mnemo.ECONFLICT},
		{"missing tenant", "ghost", "ghost-token", mnemo.ENOTFOUND},
		{"missing tenant and a taken token", "ghost", "acme-token", mnemo.ECONFLICT},
	} {
		err := r.AddKey(ctx, newKey("k-fail", tc.tenant, tc.token, nil), mnemo.HashToken(tc.token))
		wantErrCode(t, "AddKey "+tc.name, err, tc.code)
	}
	_, _, err = r.KeyByID(ctx, "k-fail")
	wantErrCode(t, "KeyByID of a refused key", err, mnemo.ENOTFOUND)
	for tok, owner := range map[string]string{"acme-token": "acme", "other-token": "other", "added-token": "acme"} {
		if _, tn, err := r.KeyByHash(ctx, mnemo.HashToken(tok)); err != nil || tn.ID != owner {
			t.Errorf("KeyByHash(%s) = %+v, %v; want %s's", tok, tn, err, owner)
		}
	}
	_, _, err = r.KeyByHash(ctx, mnemo.HashToken("ghost-token"))
	wantErrCode(t, "the token refused for a missing tenant", err, mnemo.EUNAUTHORIZED)
}

// KeyByHash finds a key by the exact hash of its token, expired keys
// included (expiry is the caller's clock's), and nothing else: a failure
// is EUNAUTHORIZED with no key and no tenant.
func testKeyByHash(t *testing.T, r Registry) {
	ctx := context.Background()
	acme := newTenant("acme", regBase)
	mustCreateTenant(t, r, acme, "acme-token")
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	mustAddKey(t, r, newKey("expired", "acme", "expired-token", &past), "expired-token")
	mustAddKey(t, r, newKey("later", "acme", "later-token", &future), "later-token")
	for _, tc := range []struct {
		name    string
		hash    []byte
		wantKey string
	}{
		{"right token", mnemo.HashToken("acme-token"), "key_acme"},
		{"key with a future expiry", mnemo.HashToken("later-token"), "later"},
		{"expired key", mnemo.HashToken("expired-token"), "expired"},
		{"wrong token", mnemo.HashToken("acme-token2"), ""},
		{"empty hash", []byte{}, ""},
		{"nil hash", nil, ""},
		{"truncated hash", mnemo.HashToken("acme-token")[:16], ""},
		{"hash with a byte more", append(mnemo.HashToken("acme-token"), 0), ""},
		{"raw token instead of hash", []byte("acme-token"), ""},
	} {
		k, tn, err := r.KeyByHash(ctx, tc.hash)
		if tc.wantKey == "" {
			wantErrCode(t, "KeyByHash "+tc.name, err, mnemo.EUNAUTHORIZED)
			if k != nil || tn != nil {
				t.Errorf("KeyByHash %s: a failure returned %+v, %+v", tc.name, k, tn)
			}
			continue
		}
		if err != nil {
			t.Fatalf("KeyByHash %s: %v", tc.name, err)
		}
		if k.ID != tc.wantKey || k.TenantID != "acme" || !reflect.DeepEqual(noStats(tn), acme) {
			t.Errorf("KeyByHash %s = key %s of %s, tenant %+v; want key %s of acme", tc.name, k.ID, k.TenantID, tn, tc.wantKey)
		}
		if live := k.Live(time.Now()); live != (tc.wantKey != "expired") {
			t.Errorf("KeyByHash %s: key %s live = %v", tc.name, k.ID, live)
		}
	}
}

// An expiry comes back to the microsecond, so Key.Live turns at it.
func testKeyExpiry(t *testing.T, r Registry) {
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	soon := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	mustAddKey(t, r, newKey("soon", "acme", "soon-token", &soon), "soon-token")
	k, _, err := r.KeyByHash(context.Background(), mnemo.HashToken("soon-token"))
	if err != nil {
		t.Fatal(err)
	}
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(soon) {
		t.Fatalf("ExpiresAt = %v, want %v", k.ExpiresAt, soon)
	}
	if !k.Live(soon.Add(-time.Microsecond)) || k.Live(soon) {
		t.Fatalf("Live around the expiry: %v before, %v at it", k.Live(soon.Add(-time.Microsecond)), k.Live(soon))
	}
}

// KeyByID returns a key, revoked or not, with its tenant; ENOTFOUND for
// an unknown id.
func testKeyByID(t *testing.T, r Registry) {
	ctx := context.Background()
	acme := newTenant("acme", regBase)
	k := mustCreateTenant(t, r, acme, "acme-token")
	gk, gt, err := r.KeyByID(ctx, k.ID)
	if err != nil || !reflect.DeepEqual(gk, k) || !reflect.DeepEqual(noStats(gt), acme) {
		t.Fatalf("KeyByID = %+v, %+v, %v; want %+v, %+v", gk, gt, err, k, acme)
	}
	at := regHours(2).Add(time.Microsecond)
	if err := r.RevokeKey(ctx, "acme", k.ID, at); err != nil {
		t.Fatal(err)
	}
	gk, _, err = r.KeyByID(ctx, k.ID)
	if err != nil || gk.RevokedAt == nil || !gk.RevokedAt.Equal(at) {
		t.Fatalf("KeyByID of a revoked key = %+v, %v; want it, revoked at %v", gk, err, at)
	}
	_, _, err = r.KeyByID(ctx, "key_nobody")
	wantErrCode(t, "KeyByID(unknown)", err, mnemo.ENOTFOUND)
}

// Keys lists one tenant's keys, revoked ones included, by creation time
// then id; an unknown tenant has none.
func testKeysList(t *testing.T, r Registry) {
	ctx := context.Background()
	first := mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustCreateTenant(t, r, newTenant("other", regBase), "other-token")
	var want []*mnemo.Key
	for _, tc := range []struct {
		id string
		h  int
	}{{"k3", 3}, {"k1b", 1}, {"k1a", 1}, {"k2", 2}} {
		k := newKey(tc.id, "acme", "token-"+tc.id, nil)
		k.CreatedAt = regHours(tc.h)
		mustAddKey(t, r, k, "token-"+tc.id)
		want = append(want, k)
	}
	at := regHours(5)
	if err := r.RevokeKey(ctx, "acme", "k2", at); err != nil {
		t.Fatal(err)
	}
	want[3].RevokedAt = &at
	// first was created at regBase + 1s: before the others.
	want = []*mnemo.Key{first, want[2], want[1], want[3], want[0]}
	got, err := r.Keys(ctx, "acme")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Keys(acme) = %v, %v; want %v", keyIDs(got), err, keyIDs(want))
	}
	if got, err := r.Keys(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Fatalf("Keys(nobody) = %v, %v; want none", got, err)
	}
}

func keyIDs(keys []*mnemo.Key) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

// A revoked key is refused at once and stays listed with its revocation
// time; its token stays taken. Revoking it again, revoking another
// tenant's key or an unknown one is ENOTFOUND and changes nothing.
func testRevokeKey(t *testing.T, r Registry) {
	ctx := context.Background()
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustCreateTenant(t, r, newTenant("other", regBase), "other-token")
	mustAddKey(t, r, newKey("second", "acme", "acme-second", nil), "acme-second")
	at := regHours(3).Add(7 * time.Microsecond)
	if err := r.RevokeKey(ctx, "acme", "second", at); err != nil {
		t.Fatal(err)
	}
	_, _, err := r.KeyByHash(ctx, mnemo.HashToken("acme-second"))
	wantErrCode(t, "KeyByHash of a revoked key", err, mnemo.EUNAUTHORIZED)
	if _, _, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token")); err != nil {
		t.Fatalf("the tenant's other key after a revoke: %v", err)
	}
	wantErrCode(t, "RevokeKey twice", r.RevokeKey(ctx, "acme", "second", regHours(4)), mnemo.ENOTFOUND)
	wantErrCode(t, "RevokeKey of another tenant's key", r.RevokeKey(ctx, "acme", "key_other", regHours(4)), mnemo.ENOTFOUND)
	wantErrCode(t, "RevokeKey of an unknown key", r.RevokeKey(ctx, "acme", "key_nobody", regHours(4)), mnemo.ENOTFOUND)
	wantErrCode(t, "RevokeKey for an unknown tenant", r.RevokeKey(ctx, "ghost", "key_acme", regHours(4)), mnemo.ENOTFOUND)
	if _, tn, err := r.KeyByHash(ctx, mnemo.HashToken("other-token")); err != nil || tn.ID != "other" {
		t.Fatalf("another tenant's key after a refused revoke: %+v, %v", tn, err)
	}
	k, _, err := r.KeyByID(ctx, "second")
	if err != nil || k.RevokedAt == nil || !k.RevokedAt.Equal(at) {
		t.Fatalf("the revoked key = %+v, %v; want revoked at %v (the second revoke changed nothing)", k, err, at)
	}
	keys, err := r.Keys(ctx, "acme")
	if err != nil || len(keys) != 2 || keys[1].ID != "second" || keys[1].RevokedAt == nil || keys[0].RevokedAt != nil {
		t.Fatalf("Keys(acme) = %+v, %v; want key_acme live and second revoked", keys, err)
	}
	err = r.AddKey(ctx, newKey("reuse", "acme", "acme-second", nil), mnemo.HashToken("acme-second"))
	wantErrCode(t, "AddKey with a revoked key's token", err, mnemo.ECONFLICT)
}

// TouchKey records the last use, seen at once by the same registry; an
// older touch never moves it back, and touching an unknown key is no
// error and creates nothing.
func testTouchKey(t *testing.T, r Registry) {
	ctx := context.Background()
	k := mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	if gk, _, err := r.KeyByID(ctx, k.ID); err != nil || gk.LastUsedAt != nil {
		t.Fatalf("a new key's last use = %v, %v; want none", gk.LastUsedAt, err)
	}
	at := regHours(2).Add(3 * time.Microsecond)
	for _, touch := range []time.Time{at, at.Add(-time.Hour)} {
		if err := r.TouchKey(ctx, k.ID, touch); err != nil {
			t.Fatal(err)
		}
	}
	gk, _, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token"))
	if err != nil || gk.LastUsedAt == nil || !gk.LastUsedAt.Equal(at) {
		t.Fatalf("last use after two touches = %+v, %v; want %v", gk, err, at)
	}
	if err := r.TouchKey(ctx, "key_nobody", at); err != nil {
		t.Fatalf("TouchKey of an unknown key: %v", err)
	}
	_, _, err = r.KeyByID(ctx, "key_nobody")
	wantErrCode(t, "KeyByID of a touched unknown key", err, mnemo.ENOTFOUND)
}
