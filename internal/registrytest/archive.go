package registrytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// Archiver is a registry that a logical backup can dump and load.
type Archiver interface {
	Registry
	mnemo.RegistryArchiver
}

// TestArchive is the contract of mnemo.RegistryArchiver: a registry filled
// through its seams, dumped and loaded into a new one, answers every seam
// as the original does; a load refuses a registry that is not empty and
// records that break the dump's rules. newReg's registries must implement
// mnemo.RegistryArchiver.
func TestArchive(t *testing.T, newReg New) {
	open := func(t *testing.T) Archiver {
		r := newReg(t)
		a, ok := r.(Archiver)
		if !ok {
			t.Fatalf("%T does not implement mnemo.RegistryArchiver", r)
		}
		return a
	}
	t.Run("RoundTrip", func(t *testing.T) {
		src := open(t)
		f := fill(t, src)
		records := dump(t, src)
		if got := kinds(records); !reflect.DeepEqual(got, map[string]int{"incarnation": 4, "tenant": 2, "key": 5,
			"oauth_client": 1, "oauth_grant": 4, "audit": 4, "usage": 5}) {
			t.Fatalf("dump holds %v", got)
		}
		for _, r := range records {
			if r.Tenant != nil && r.Tenant.Stats != (mnemo.TenantStats{}) {
				t.Fatalf("dumped tenant %s carries stats %+v: they are the stores' counters", r.Tenant.ID, r.Tenant.Stats)
			}
		}
		dst := open(t)
		if err := dst.LoadRegistry(context.Background(), Seq(records)); err != nil {
			t.Fatalf("LoadRegistry: %v", err)
		}
		if again := dump(t, dst); !reflect.DeepEqual(again, records) {
			t.Fatalf("the loaded registry dumps otherwise:\n got %s\nwant %s", describe(again), describe(records))
		}
		sameAnswers(t, f, src, dst)
		sameAfterChanges(t, f, src, dst)
	})
	t.Run("EmptyRoundTrip", func(t *testing.T) {
		records := dump(t, open(t))
		if len(records) != 0 {
			t.Fatalf("an empty registry dumps %d records", len(records))
		}
		if err := open(t).LoadRegistry(context.Background(), Seq(records)); err != nil {
			t.Fatalf("LoadRegistry of nothing: %v", err)
		}
	})
	t.Run("LoadRefusesNonEmpty", func(t *testing.T) {
		src := open(t)
		fill(t, src)
		records := dump(t, src)
		for name, prepare := range map[string]func(t *testing.T, r Archiver){
			"a tenant": func(t *testing.T, r Archiver) {
				tn := &mnemo.Tenant{ID: "other", Name: "Other", Status: mnemo.TenantActive, CreatedAt: base, UpdatedAt: base}
				if err := r.CreateTenant(context.Background(), tn, archiveKey("key_other", "other", base), mnemo.HashToken("other-token-1")); err != nil {
					t.Fatal(err)
				}
			},
			"an audit event only": func(t *testing.T, r Archiver) {
				if err := r.AppendAudit(context.Background(), &mnemo.AuditEvent{At: base, Actor: "admin", Action: "backup", Outcome: "success"}); err != nil {
					t.Fatal(err)
				}
			},
		} {
			t.Run(name, func(t *testing.T) {
				dst := open(t)
				prepare(t, dst)
				before := dump(t, dst)
				err := dst.LoadRegistry(context.Background(), Seq(records))
				if mnemo.ErrorCode(err) != mnemo.ECONFLICT {
					t.Fatalf("LoadRegistry into a registry holding %s: %v, want ECONFLICT", name, err)
				}
				if after := dump(t, dst); !reflect.DeepEqual(after, before) {
					t.Fatalf("a refused load changed the registry:\n got %s\nwant %s", describe(after), describe(before))
				}
			})
		}
	})
	t.Run("LoadRefusesBrokenRecords", func(t *testing.T) {
		src := open(t)
		fill(t, src)
		records := dump(t, src)
		firstKey := slices.IndexFunc(records, func(r mnemo.RegistryRecord) bool { return r.Key != nil })
		firstTenant := slices.IndexFunc(records, func(r mnemo.RegistryRecord) bool { return r.Tenant != nil })
		shortHash := *records[firstKey].Key
		shortHash.Hash = shortHash.Hash[:16]
		orphan := *records[firstKey].Key
		orphan.Key.TenantID = "nobody"
		for name, bad := range map[string][]mnemo.RegistryRecord{
			"a key before its tenant":   append(slices.Clone(records[:firstTenant]), records[firstKey]),
			"a key of no tenant":        append(slices.Clone(records[:firstKey]), mnemo.RegistryRecord{Key: &orphan}),
			"a hash that is no SHA-256": append(slices.Clone(records[:firstKey]), mnemo.RegistryRecord{Key: &shortHash}),
			"a record with two fields":  {{Incarnation: records[0].Incarnation, Usage: &mnemo.Usage{}}},
			"an empty record":           {{}},
			"a tenant twice":            append(slices.Clone(records[:firstTenant+1]), records[firstTenant]),
		} {
			t.Run(name, func(t *testing.T) {
				if err := open(t).LoadRegistry(context.Background(), Seq(bad)); mnemo.ErrorCode(err) != mnemo.EINVALID {
					t.Fatalf("LoadRegistry: %v, want EINVALID", err)
				}
			})
		}
		t.Run("an error of the sequence", func(t *testing.T) {
			boom := errors.New("archive truncated")
			seq := func(yield func(mnemo.RegistryRecord, error) bool) {
				if yield(records[0], nil) {
					yield(mnemo.RegistryRecord{}, boom)
				}
			}
			if err := open(t).LoadRegistry(context.Background(), seq); !errors.Is(err, boom) {
				t.Fatalf("LoadRegistry: %v, want the sequence's error", err)
			}
		})
	})
	t.Run("DumpStoppedEarly", func(t *testing.T) {
		r := open(t)
		fill(t, r)
		for range r.DumpRegistry(context.Background()) {
			break
		}
		// Whatever the dump held is released: the registry still writes.
		tn := &mnemo.Tenant{ID: "later", Name: "Later", Status: mnemo.TenantActive, CreatedAt: base, UpdatedAt: base}
		if err := r.CreateTenant(context.Background(), tn, archiveKey("key_later", "later", base), mnemo.HashToken("later-token-1")); err != nil {
			t.Fatalf("CreateTenant after a dump stopped early: %v", err)
		}
	})
}

// base is the fixture's clock: microseconds, which every backend keeps.
var base = time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)

// fixture is what fill made, for the checks to ask about.
type fixture struct {
	tokens                        map[string]string // key id -> token
	usedCode, freshCode           []byte
	access, refresh               []byte
	clientID                      string
	idempotencyKey, idempotencyFP string
	now                           time.Time
}

func archiveKey(id, tenant string, created time.Time) *mnemo.Key {
	return &mnemo.Key{ID: id, TenantID: tenant, Label: "label of " + id, Prefix: id[len(id)-4:],
		Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: created}
}

// fill makes, through the registry's seams: a suspended tenant with
// limits and four keys (one revoked, one expiring, one used), a tenant
// deleted and created again (incarnations 1 and 2), a tenant deleted for
// good, audit and usage of each incarnation, an OAuth client with a used
// code, its tokens and an unused code, and an idempotency record.
func fill(t *testing.T, r Registry) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{tokens: map[string]string{}, clientID: "client-archive", idempotencyKey: "idem-1", idempotencyFP: "fingerprint-1",
		now: base.Add(30 * time.Minute)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	create := func(id string, at time.Time) {
		t.Helper()
		tn := &mnemo.Tenant{ID: id, Name: "Tenant " + id, Status: mnemo.TenantActive, CreatedAt: at, UpdatedAt: at}
		k := archiveKey("key_"+id+at.Format("0405"), id, at)
		f.tokens[k.ID] = "token-of-" + k.ID
		must(r.CreateTenant(ctx, tn, k, mnemo.HashToken(f.tokens[k.ID])))
	}
	audit := func(tenant, action string, at time.Time) {
		t.Helper()
		must(r.AppendAudit(ctx, &mnemo.AuditEvent{At: at, Actor: "admin", TenantID: tenant, Action: action, Target: tenant,
			RequestID: "req-" + action, Outcome: "success"}))
	}

	create("acme", base)
	for i, exp := range []*time.Time{ptr(base.Add(48 * time.Hour)), nil, nil} {
		k := archiveKey([]string{"key_acme_exp", "key_acme_rev", "key_acme_use"}[i], "acme", base.Add(time.Duration(i+1)*time.Second))
		k.ExpiresAt = exp
		if i == 1 {
			k.Scopes = []string{mnemo.ScopeRead}
		}
		f.tokens[k.ID] = "token-of-" + k.ID
		must(r.AddKey(ctx, k, mnemo.HashToken(f.tokens[k.ID])))
	}
	must(r.RevokeKey(ctx, "acme", "key_acme_rev", base.Add(2*time.Hour)))
	must(r.TouchKey(ctx, "key_acme_use", base.Add(3*time.Hour)))
	mm, mb := int64(100), 1.5
	must(r.UpdateTenant(ctx, &mnemo.Tenant{ID: "acme", Name: "Acme Corp", Status: mnemo.TenantSuspended, StatusReason: "unpaid invoice",
		RateLimit: &mnemo.RateLimit{RequestsPerSecond: 2.5, Burst: 5}, Quotas: mnemo.Quotas{MaxMemories: &mm, MaxStorageMB: &mb},
		CreatedAt: base, UpdatedAt: base.Add(time.Hour)}))
	audit("acme", "tenant.create", base)
	must(r.AddUsage(ctx, []mnemo.Usage{{TenantID: "acme", Day: "2025-01-02", Kind: "store", Count: 3}}))

	create("beta", base.Add(time.Minute))
	audit("beta", "tenant.create", base.Add(time.Minute))
	must(r.AddUsage(ctx, []mnemo.Usage{{TenantID: "beta", Day: "2025-01-01", Kind: "recall", Count: 7}}))
	must(r.DeleteTenant(ctx, "beta"))
	create("beta", base.Add(10*time.Minute))
	audit("beta", "tenant.create", base.Add(10*time.Minute))
	must(r.AddUsage(ctx, []mnemo.Usage{{TenantID: "beta", Day: "2025-01-02", Kind: "recall", Count: 2},
		{TenantID: "beta", Day: "2025-01-02", Kind: "store", Count: 1}}))

	create("gone", base.Add(2*time.Minute))
	must(r.AddUsage(ctx, []mnemo.Usage{{TenantID: "gone", Day: "2025-01-02", Kind: "store", Count: 4}}))
	must(r.DeleteTenant(ctx, "gone"))
	audit("", "backup", base.Add(20*time.Minute))

	must(r.RegisterOAuthClient(ctx, &mnemo.OAuthClient{ID: f.clientID, Name: "Connector", RedirectURIs: []string{"https://claude.ai/cb", "http://localhost/cb"},
		CreatedAt: base.Add(5 * time.Minute)}, time.Time{}, 0))
	grant := func(secret, kind, family string, expires time.Duration) *mnemo.OAuthGrant {
		return &mnemo.OAuthGrant{Hash: mnemo.HashToken(secret), Kind: kind, ClientID: f.clientID, KeyID: "key_acme_use",
			Scopes: []string{mnemo.ScopeRead}, RedirectURI: "https://claude.ai/cb", CodeChallenge: "challenge-" + secret,
			ExpiresAt: base.Add(expires), Family: family}
	}
	f.usedCode, f.freshCode = mnemo.HashToken("code-used"), mnemo.HashToken("code-fresh")
	f.access, f.refresh = mnemo.HashToken("access-1"), mnemo.HashToken("refresh-1")
	must(r.SaveOAuthGrant(ctx, grant("code-used", mnemo.GrantCode, "family-1", time.Hour)))
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, f.usedCode, f.now); err != nil {
		t.Fatal(err)
	}
	must(r.IssueOAuthTokens(ctx, grant("access-1", mnemo.GrantAccess, "family-1", 2*time.Hour),
		grant("refresh-1", mnemo.GrantRefresh, "family-1", 24*time.Hour), f.now))
	must(r.SaveOAuthGrant(ctx, grant("code-fresh", mnemo.GrantCode, "family-2", time.Hour)))

	reserved, _, err := r.ReserveIdempotency(ctx, "acme", f.idempotencyKey, []byte(f.idempotencyFP), f.now, 24*time.Hour, time.Hour)
	if err != nil || !reserved {
		t.Fatalf("ReserveIdempotency: %v, %v", reserved, err)
	}
	must(r.CompleteIdempotency(ctx, "acme", f.idempotencyKey, mnemo.IdempotentAnswer{Status: 201, Body: []byte(`{}`)}))
	return f
}

func ptr[T any](v T) *T { return &v }

func dump(t *testing.T, r mnemo.RegistryArchiver) []mnemo.RegistryRecord {
	t.Helper()
	var out []mnemo.RegistryRecord
	for rec, err := range r.DumpRegistry(context.Background()) {
		if err != nil {
			t.Fatalf("DumpRegistry: %v", err)
		}
		out = append(out, rec)
	}
	return out
}

func kinds(records []mnemo.RegistryRecord) map[string]int {
	out := map[string]int{}
	for _, r := range records {
		out[r.Kind()]++
	}
	return out
}

func describe(records []mnemo.RegistryRecord) string {
	s := ""
	for _, r := range records {
		for _, v := range []any{r.Incarnation, r.Tenant, r.Key, r.OAuthClient, r.OAuthGrant, r.Audit, r.Usage} {
			if !reflect.ValueOf(v).IsNil() {
				s += "\n  " + r.Kind() + " " + sprint(v)
			}
		}
	}
	return s
}

// sameAnswers asks both registries every read seam and wants the same
// answer, errors included.
func sameAnswers(t *testing.T, f *fixture, a, b Registry) {
	t.Helper()
	ctx := context.Background()
	same := pair{t, a, b}.agree
	same("Tenants", func(r Registry) (any, error) {
		ts, n, err := r.Tenants(ctx, 100, 0)
		return []any{ts, n}, err
	})
	for _, id := range []string{"acme", "beta", "gone", "nobody"} {
		same("Tenant "+id, func(r Registry) (any, error) { return r.Tenant(ctx, id) })
		same("Keys "+id, func(r Registry) (any, error) { return r.Keys(ctx, id) })
		for _, inc := range []int64{0, 1, 2} {
			same("Audit of "+id, func(r Registry) (any, error) {
				return r.Audit(ctx, mnemo.AuditFilter{TenantID: id, Incarnation: inc, Limit: 100})
			})
			same("Usage of "+id, func(r Registry) (any, error) { return r.Usage(ctx, id, inc, "2000-01-01", "2100-01-01") })
		}
	}
	same("Audit", func(r Registry) (any, error) { return r.Audit(ctx, mnemo.AuditFilter{Limit: 100}) })
	same("Audit since", func(r Registry) (any, error) {
		return r.Audit(ctx, mnemo.AuditFilter{Action: "tenant.create", Since: base.Add(time.Minute), Limit: 100})
	})
	same("Usage", func(r Registry) (any, error) { return r.Usage(ctx, "", 0, "2000-01-01", "2100-01-01") })
	for id, token := range f.tokens {
		same("KeyByHash "+id, func(r Registry) (any, error) {
			k, tn, err := r.KeyByHash(ctx, mnemo.HashToken(token))
			return []any{k, tn}, err
		})
		same("KeyByID "+id, func(r Registry) (any, error) {
			k, tn, err := r.KeyByID(ctx, id)
			return []any{k, tn}, err
		})
	}
	same("KeyByHash of no key", func(r Registry) (any, error) {
		k, tn, err := r.KeyByHash(ctx, mnemo.HashToken("never-issued"))
		return []any{k, tn}, err
	})
	same("OAuthClient", func(r Registry) (any, error) { return r.OAuthClient(ctx, f.clientID) })
	same("OAuthClient unknown", func(r Registry) (any, error) { return r.OAuthClient(ctx, "nope") })
	same("AccessGrant", func(r Registry) (any, error) { return r.AccessGrant(ctx, f.access, f.now) })
	same("OAuthToken refresh", func(r Registry) (any, error) { return r.OAuthToken(ctx, f.refresh) })
	same("OAuthToken access", func(r Registry) (any, error) { return r.OAuthToken(ctx, f.access) })
	same("OAuthToken of a code", func(r Registry) (any, error) { return r.OAuthToken(ctx, f.freshCode) })
}

// pair is an original registry and its restored copy.
type pair struct {
	t    *testing.T
	a, b Registry
}

// agree calls fn on both registries and wants the same answer: the same
// value, or errors of the same code and kind.
func (p pair) agree(what string, fn func(r Registry) (any, error)) {
	t, a, b := p.t, p.a, p.b
	t.Helper()
	va, ea := fn(a)
	vb, eb := fn(b)
	var ra, rb *mnemo.GrantReusedError
	if mnemo.ErrorCode(ea) != mnemo.ErrorCode(eb) || (ea == nil) != (eb == nil) || errors.As(ea, &ra) != errors.As(eb, &rb) {
		t.Errorf("%s: original answers error %v, restored %v", what, ea, eb)
		return
	}
	if !reflect.DeepEqual(va, vb) {
		t.Errorf("%s:\n original %s\n restored %s", what, sprint(va), sprint(vb))
	}
}

// sameAfterChanges makes the same changes to both registries and wants the
// same outcomes: what a dump carries beyond what reads show (used flags,
// closed incarnations, audit ids) decides them.
func sameAfterChanges(t *testing.T, f *fixture, a, b Registry) {
	t.Helper()
	ctx := context.Background()
	both := pair{t, a, b}.agree
	both("ConsumeOAuthGrant of the unused code", func(r Registry) (any, error) {
		return r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, f.freshCode, f.now)
	})
	both("ConsumeOAuthGrant of the used code (a reuse)", func(r Registry) (any, error) {
		_, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, f.usedCode, f.now)
		return nil, err
	})
	both("AccessGrant after the reuse revoked its family", func(r Registry) (any, error) { return r.AccessGrant(ctx, f.access, f.now) })
	both("AppendAudit", func(r Registry) (any, error) {
		e := &mnemo.AuditEvent{At: f.now, Actor: "admin", TenantID: "gone", Action: "tenant.delete", Outcome: "error: not_found"}
		err := r.AppendAudit(ctx, e)
		return e, err
	})
	both("CreateTenant of a deleted id", func(r Registry) (any, error) {
		tn := &mnemo.Tenant{ID: "gone", Name: "Gone again", Status: mnemo.TenantActive, CreatedAt: f.now, UpdatedAt: f.now}
		err := r.CreateTenant(ctx, tn, archiveKey("key_gone_again", "gone", f.now), mnemo.HashToken("token-gone-again"))
		return tn.Incarnation, err
	})
	both("CreateTenant with a token in use", func(r Registry) (any, error) {
		tn := &mnemo.Tenant{ID: "thief", Name: "Thief", Status: mnemo.TenantActive, CreatedAt: f.now, UpdatedAt: f.now}
		return nil, r.CreateTenant(ctx, tn, archiveKey("key_thief", "thief", f.now), mnemo.HashToken(f.tokens["key_acme_rev"]))
	})
	both("CreateTenant of a recreated id, after its delete", func(r Registry) (any, error) {
		if err := r.DeleteTenant(ctx, "beta"); err != nil {
			return nil, err
		}
		tn := &mnemo.Tenant{ID: "beta", Name: "Beta 3", Status: mnemo.TenantActive, CreatedAt: f.now, UpdatedAt: f.now}
		err := r.CreateTenant(ctx, tn, archiveKey("key_beta_3", "beta", f.now), mnemo.HashToken("token-beta-3"))
		return tn.Incarnation, err
	})
	// Idempotency records are left out of a dump: the original still
	// holds the answer, the restored registry runs the request anew.
	reserved, answer, err := b.ReserveIdempotency(ctx, "acme", f.idempotencyKey, []byte("another request"), f.now, 24*time.Hour, time.Hour)
	if err != nil || !reserved || answer != nil {
		t.Errorf("restored ReserveIdempotency: reserved %v, answer %v, err %v; want a fresh reservation (idempotency records are not dumped)", reserved, answer, err)
	}
	if _, _, err := a.ReserveIdempotency(ctx, "acme", f.idempotencyKey, []byte("another request"), f.now, 24*time.Hour, time.Hour); mnemo.ErrorCode(err) != mnemo.EUNPROCESSABLE {
		t.Errorf("original ReserveIdempotency with another fingerprint: %v, want EUNPROCESSABLE", err)
	}
}

// Records returns a registry's dump, for the tests of what builds on it.
func Records(t *testing.T, r mnemo.RegistryArchiver) []mnemo.RegistryRecord { return dump(t, r) }

// Seq yields records without error, as a dump read back does.
func Seq(records []mnemo.RegistryRecord) iter.Seq2[mnemo.RegistryRecord, error] {
	return func(yield func(mnemo.RegistryRecord, error) bool) {
		for _, r := range records {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func sprint(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}
