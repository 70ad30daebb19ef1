package falkordb_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"

	"github.com/mnemohq/mnemo/archive"
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/falkortest"
	"github.com/mnemohq/mnemo/internal/registrytest"
	"github.com/redis/go-redis/v9"
)

// GET /backup serves archive.Backuper{Registry: registry, Stores: stores}
// and `mnemo restore` loads into it: the registry is both ends.
var (
	_ archive.Source = (*falkordb.Registry)(nil)
	_ archive.Target = (*falkordb.Registry)(nil)
)

// The registry's dump and load are held to the contract every backend's
// are. The contract asks for two registries at once (the original and
// the restored copy), so each gets a server of its own.
func TestArchiveContract(t *testing.T) {
	registrytest.TestArchive(t, func(t *testing.T) registrytest.Registry {
		return falkordb.NewRegistry(falkordb.New(falkortest.Start(t).Client()))
	})
}

// fillRegistry makes, through the seams: a tenant with limits and keys
// (revoked, expiring, used), a tenant deleted and created again, a tenant
// deleted for good, audit (with and without a tenant) and usage, an OAuth
// client with a used code, tokens and a fresh code, and an idempotency
// record (which a dump leaves out).
func fillRegistry(t *testing.T, r *falkordb.Registry) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	at := func(m int) time.Time { return regBase.Add(time.Duration(m)*time.Minute + 123456*time.Microsecond) }
	for i, id := range []string{"acme", "beta", "gone"} {
		tn := regTenant(id)
		tn.CreatedAt, tn.UpdatedAt = at(i), at(i)
		must(r.CreateTenant(ctx, tn, regKey("key_"+id, id, "token-"+id), mnemo.HashToken("token-"+id)))
		must(r.AppendAudit(ctx, &mnemo.AuditEvent{At: at(i), Actor: "admin", TenantID: id, Action: "tenant.create", Outcome: "success"}))
		must(r.AddUsage(ctx, []mnemo.Usage{{TenantID: id, Day: "2024-03-01", Kind: "store", Count: int64(i + 1)}}))
	}
	for i, name := range []string{"exp", "rev", "use"} {
		k := regKey("key_acme_"+name, "acme", "token-acme-"+name)
		if name == "exp" {
			k.ExpiresAt = ptr(at(100))
		}
		must(r.AddKey(ctx, k, mnemo.HashToken("token-acme-"+name)))
		_ = i
	}
	must(r.RevokeKey(ctx, "acme", "key_acme_rev", at(10)))
	must(r.TouchKey(ctx, "key_acme_use", at(11)))
	mm, mb := int64(10), 2.5
	must(r.UpdateTenant(ctx, &mnemo.Tenant{ID: "acme", Name: "Acme", Status: mnemo.TenantReadOnly, StatusReason: "audit",
		RateLimit: &mnemo.RateLimit{RequestsPerSecond: 0.5, Burst: 2}, Quotas: mnemo.Quotas{MaxMemories: &mm, MaxStorageMB: &mb},
		CreatedAt: at(0), UpdatedAt: at(12)}))
	must(r.DeleteTenant(ctx, "beta"))
	must(r.CreateTenant(ctx, regTenant("beta"), regKey("key_beta_2", "beta", "token-beta-2"), mnemo.HashToken("token-beta-2")))
	must(r.AddUsage(ctx, []mnemo.Usage{{TenantID: "beta", Day: "2024-03-02", Kind: "recall", Count: 5}}))
	must(r.DeleteTenant(ctx, "gone"))
	must(r.AppendAudit(ctx, &mnemo.AuditEvent{At: at(20), Actor: "admin", TenantID: "never", Action: "tenant.delete", Outcome: "error: not_found"}))
	must(r.AppendAudit(ctx, &mnemo.AuditEvent{At: at(21), Actor: "admin", Action: "backup", Outcome: "success"}))

	must(r.RegisterOAuthClient(ctx, &mnemo.OAuthClient{ID: "client-1", Name: "Connector", RedirectURIs: []string{"https://claude.ai/cb"},
		CreatedAt: at(30)}, time.Time{}, 0))
	must(r.RegisterOAuthClient(ctx, &mnemo.OAuthClient{ID: "client-2", Name: "Never used", RedirectURIs: []string{"http://localhost/cb"},
		CreatedAt: at(31)}, time.Time{}, 0))
	grant := func(secret, kind, family string) *mnemo.OAuthGrant {
		return &mnemo.OAuthGrant{Hash: mnemo.HashToken(secret), Kind: kind, ClientID: "client-1", KeyID: "key_acme_use",
			Scopes: []string{mnemo.ScopeRead}, RedirectURI: "https://claude.ai/cb", CodeChallenge: "c-" + secret, ExpiresAt: at(90), Family: family}
	}
	must(r.SaveOAuthGrant(ctx, grant("code-1", mnemo.GrantCode, "f1")))
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code-1"), at(32)); err != nil {
		t.Fatal(err)
	}
	must(r.IssueOAuthTokens(ctx, grant("access-1", mnemo.GrantAccess, "f1"), grant("refresh-1", mnemo.GrantRefresh, "f1"), at(32)))
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, mnemo.HashToken("refresh-1"), at(40)); err != nil {
		t.Fatal(err)
	}
	must(r.IssueOAuthTokens(ctx, grant("access-2", mnemo.GrantAccess, "f1"), grant("refresh-2", mnemo.GrantRefresh, "f1"), at(40)))
	must(r.SaveOAuthGrant(ctx, grant("code-2", mnemo.GrantCode, "f2")))
	if reserved, _, err := r.ReserveIdempotency(ctx, "acme", "idem-1", []byte("fp"), at(50), 24*time.Hour, time.Hour); err != nil || !reserved {
		t.Fatalf("ReserveIdempotency: %v %v", reserved, err)
	}
}

func ptr[T any](v T) *T { return &v }

// keyspace reads every key of the registry (all but idempotency records,
// which a dump leaves out) with its type and whole value.
func keyspace(t *testing.T, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "mnemo:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		if strings.HasPrefix(k, "mnemo:idem") {
			continue
		}
		typ := rdb.Type(ctx, k).Val()
		var v any
		switch typ {
		case "string":
			v = rdb.Get(ctx, k).Val()
		case "hash":
			v = rdb.HGetAll(ctx, k).Val()
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			slices.Sort(m)
			v = m
		case "zset":
			v = rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		default:
			t.Fatalf("key %s is a %s", k, typ)
		}
		out[k] = fmt.Sprintf("%s %v", typ, v)
	}
	return out
}

// A loaded registry is, key for key, what the live writes made: the same
// names, types and values (times, the audit sequence, OAuth indexes, the
// closed incarnations' index), idempotency records aside. A dump of each
// is the same, and what is made next is the same on both.
func TestLoadWritesTheLiveStructures(t *testing.T) {
	ctx := context.Background()
	srcRdb, dstRdb := falkortest.Start(t).Client(), falkortest.Start(t).Client()
	src, dst := falkordb.NewRegistry(falkordb.New(srcRdb)), falkordb.NewRegistry(falkordb.New(dstRdb))
	fillRegistry(t, src)
	records := registrytest.Records(t, src)
	if err := dst.LoadRegistry(ctx, registrytest.Seq(records)); err != nil {
		t.Fatalf("LoadRegistry: %v", err)
	}
	want, got := keyspace(t, srcRdb), keyspace(t, dstRdb)
	if len(want) < 30 {
		t.Fatalf("the source holds %d keys: the fill did not happen", len(want))
	}
	for k := range want {
		if want[k] != got[k] {
			t.Errorf("%s:\n original %s\n   loaded %s", k, want[k], got[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s is only in the loaded registry: %s", k, got[k])
		}
	}
	if again := registrytest.Records(t, dst); !reflect.DeepEqual(again, records) {
		t.Fatalf("the loaded registry dumps otherwise")
	}
	// The next audit id and the next incarnation follow on from the dump.
	for _, r := range []*falkordb.Registry{src, dst} {
		e := &mnemo.AuditEvent{At: regBase, Actor: "admin", Action: "after"}
		if err := r.AppendAudit(ctx, e); err != nil || e.ID != 6 {
			t.Fatalf("AppendAudit after the load: id %d, %v; want 6", e.ID, err)
		}
		tn := regTenant("gone")
		if err := r.CreateTenant(ctx, tn, regKey("key_gone_2", "gone", "token-gone-2"), mnemo.HashToken("token-gone-2")); err != nil || tn.Incarnation != 2 {
			t.Fatalf("CreateTenant of a deleted id after the load: incarnation %d, %v; want 2", tn.Incarnation, err)
		}
	}
}

// A registry of 10,000 tenants with three keys each (and an OAuth client
// with grants) dumps whole, in one consistent read, and loads; the
// consistent read's script is timed, since the server answers no one else
// meanwhile.
func TestDumpRegistryAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 10,000 tenants")
	}
	ctx := context.Background()
	rdb := falkortest.Start(t).Client()
	r := falkordb.NewRegistry(falkordb.New(rdb))
	const tenants, keysPer = 10000, 3
	var records []mnemo.RegistryRecord
	var keys []mnemo.RegistryRecord
	for i := range tenants {
		id := fmt.Sprintf("tenant%05d", i)
		at := regBase.Add(time.Duration(i) * time.Second)
		records = append(records, mnemo.RegistryRecord{Incarnation: &mnemo.IncarnationRecord{TenantID: id, Incarnation: 1, CreatedAt: at}})
		for j := range keysPer {
			k := regKey(fmt.Sprintf("key_%s_%d", id, j), id, "")
			k.CreatedAt = at.Add(time.Duration(j) * time.Millisecond)
			keys = append(keys, mnemo.RegistryRecord{Key: &mnemo.KeyRecord{Key: *k, Hash: mnemo.HashToken(k.ID)}})
		}
	}
	for i := range tenants {
		tn := regTenant(fmt.Sprintf("tenant%05d", i))
		tn.CreatedAt, tn.UpdatedAt, tn.Incarnation = records[i].Incarnation.CreatedAt, records[i].Incarnation.CreatedAt, 1
		records = append(records, mnemo.RegistryRecord{Tenant: tn})
	}
	records = append(records, keys...)
	start := time.Now()
	if err := r.LoadRegistry(ctx, registrytest.Seq(records)); err != nil {
		t.Fatalf("LoadRegistry: %v", err)
	}
	t.Logf("loaded %d records in %v", len(records), time.Since(start))

	// Commands of 1 ms or more are logged with their time: the script.
	if err := rdb.ConfigSet(ctx, "slowlog-log-slower-than", "1000").Err(); err != nil {
		t.Fatal(err)
	}
	rdb.SlowLogReset(ctx)
	start = time.Now()
	got := registrytest.Records(t, r)
	elapsed := time.Since(start)
	if !reflect.DeepEqual(got, records) {
		t.Fatalf("the dump of %d records differs from what was loaded (%d records)", len(records), len(got))
	}
	var script time.Duration
	for _, e := range rdb.SlowLogGet(ctx, 128).Val() {
		if len(e.Args) > 0 && strings.HasPrefix(strings.ToLower(e.Args[0]), "eval") {
			script = max(script, e.Duration)
		}
	}
	t.Logf("dumped %d records in %v; the consistent read took %v of the server's time", len(got), elapsed, script)
	if script > 3*time.Second {
		t.Fatalf("the consistent read took %v of the server's time", script)
	}
}
