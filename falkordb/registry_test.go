package falkordb_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/falkortest"
	"github.com/mnemohq/mnemo/internal/registrytest"
	"github.com/mnemohq/mnemo/internal/storetest"
	"github.com/redis/go-redis/v9"
)

var regBase = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// The registry on Redis structures is held to the contract every registry
// shares. One server serves the run; each registry the contract asks for
// starts from an empty server (FLUSHALL: the subtests run one at a time).
func TestRegistryContract(t *testing.T) {
	srv := falkortest.Start(t)
	rdb := srv.Client()
	newReg := func(t *testing.T) registrytest.Registry {
		if err := rdb.FlushAll(context.Background()).Err(); err != nil {
			t.Fatalf("FLUSHALL: %v", err)
		}
		return falkordb.NewRegistry(falkordb.New(rdb))
	}
	t.Run("Tenants", func(t *testing.T) { registrytest.TestTenants(t, newReg) })
	t.Run("Keys", func(t *testing.T) { registrytest.TestKeys(t, newReg) })
	t.Run("Audit", func(t *testing.T) { registrytest.TestAudit(t, newReg) })
	t.Run("Usage", func(t *testing.T) { registrytest.TestUsage(t, newReg) })
	t.Run("Prune", func(t *testing.T) { registrytest.TestPrune(t, newReg) })
	t.Run("CleanOrphans", func(t *testing.T) { registrytest.TestCleanOrphans(t, newReg) })
}

func regTenant(id string) *mnemo.Tenant {
	return &mnemo.Tenant{ID: id, Name: "Tenant " + id, Status: mnemo.TenantActive, CreatedAt: regBase, UpdatedAt: regBase}
}

func regKey(id, tenantID, token string) *mnemo.Key {
	return &mnemo.Key{ID: id, TenantID: tenantID, Label: "label " + id, Prefix: mnemo.DisplayPrefix(token, false),
		Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: regBase.Add(time.Second)}
}

// startRegistry starts a server and returns a registry on it, its client
// and the server.
func startRegistry(t *testing.T) (*falkordb.Registry, *redis.Client, *falkortest.Server) {
	srv := falkortest.Start(t)
	rdb := srv.Client()
	return falkordb.NewRegistry(falkordb.New(rdb)), rdb, srv
}

func createTenant(t *testing.T, r *falkordb.Registry, id, token string) *mnemo.Key {
	t.Helper()
	k := regKey("key_"+id, id, token)
	if err := r.CreateTenant(context.Background(), regTenant(id), k, mnemo.HashToken(token)); err != nil {
		t.Fatalf("CreateTenant(%s): %v", id, err)
	}
	return k
}

// Stats come from the tenant graph's counters and FalkorDB's memory
// figure, for one tenant and for a page, equal to what the store reports;
// a tenant whose graph does not exist yet has none.
func TestRegistryStats(t *testing.T) {
	ctx := context.Background()
	srv := falkortest.Start(t)
	c := falkordb.New(srv.Client())
	r := falkordb.NewRegistry(c)
	createTenant(t, r, "acme", "acme-token")
	createTenant(t, r, "empty", "empty-token")
	s, err := falkordb.OpenStore(ctx, c, "acme", storetest.Model, storetest.Dim)
	if err != nil {
		t.Fatal(err)
	}
	at := regBase
	mem := func(id, content string, vec ...float32) *mnemo.Memory {
		return &mnemo.Memory{ID: id, Content: content, Tags: []string{"t"}, Importance: 0.5, Type: "Context", Confidence: 0.9,
			Timestamp: at, TValid: at, UpdatedAt: at, LastAccessed: at, Metadata: map[string]any{}, Embedding: vec, EmbeddingModel: storetest.Model}
	}
	w := mnemo.Write{
		Create: []*mnemo.Memory{
			mem("00000000-0000-4000-8000-000000000001", "alpha", 1, 0, 0, 0),
			mem("00000000-0000-4000-8000-000000000002", "bravo", 0, 1, 0, 0),
			mem("00000000-0000-4000-8000-000000000003", "charlie"),
		},
		Relate: []mnemo.Relation{{From: "00000000-0000-4000-8000-000000000001", To: "00000000-0000-4000-8000-000000000002",
			Type: mnemo.RelationType("RELATES_TO"), Strength: 0.5, Props: map[string]any{}, UpdatedAt: at}},
	}
	w.Create[2].Embedding, w.Create[2].EmbeddingModel = nil, ""
	if _, err := s.Write(ctx, w, mnemo.Quotas{}); err != nil {
		t.Fatal(err)
	}
	want, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want.Memories != 3 || want.Relations != 1 || want.Vectors != 2 || want.StoredBytes == 0 {
		t.Fatalf("the store's stats = %+v; want 3 memories, 1 relation, 2 vectors and some bytes", want)
	}
	// One tenant's view also counts the graph: three memories (mnemo's
	// counters node aside), one edge.
	one := want
	one.GraphNodes, one.GraphRelationships = 3, 1
	got, err := r.Tenant(ctx, "acme")
	if err != nil || got.Stats != one {
		t.Fatalf("Tenant(acme).Stats = %+v, %v; want %+v", got.Stats, err, one)
	}
	list, total, err := r.Tenants(ctx, 10, 0)
	if err != nil || total != 2 || len(list) != 2 {
		t.Fatalf("Tenants = %v, %d, %v", list, total, err)
	}
	if list[0].ID != "acme" || list[0].Stats != want || list[1].ID != "empty" || list[1].Stats != (mnemo.TenantStats{}) {
		t.Fatalf("Tenants' stats: %s %+v, %s %+v; want acme %+v and empty none", list[0].ID, list[0].Stats, list[1].ID, list[1].Stats, want)
	}
	if got, err := r.Tenant(ctx, "empty"); err != nil || got.Stats != (mnemo.TenantStats{}) {
		t.Fatalf("Tenant(empty).Stats = %+v, %v; want none", got.Stats, err)
	}
}

// unavailable checks err is the 503 a request gets when FalkorDB is down:
// ErrUnavailable in the chain, EUNAVAILABLE with Retry-After, and a
// message that tells nothing of the server or the request.
func unavailable(t *testing.T, what string, err error, secrets ...string) {
	t.Helper()
	if !errors.Is(err, falkordb.ErrUnavailable) {
		t.Fatalf("%s: err = %v, want ErrUnavailable in the chain", what, err)
	}
	var me *mnemo.Error
	if !errors.As(err, &me) || me.Code != mnemo.EUNAVAILABLE || me.RetryAfter != time.Second {
		t.Fatalf("%s: err = %#v, want EUNAVAILABLE with RetryAfter 1s", what, me)
	}
	b, _ := json.Marshal(me.Message)
	var back string
	if json.Unmarshal(b, &back) != nil || back != me.Message {
		t.Fatalf("%s: message %q does not survive JSON", what, me.Message)
	}
	for _, s := range append(secrets, "dial", "connect", "refused", "EOF", "127.0.0.1") {
		if strings.Contains(me.Message, s) {
			t.Fatalf("%s: message %q contains %q", what, me.Message, s)
		}
	}
}

// With the server down, every method answers the 503 a client can retry.
func TestRegistryUnavailable(t *testing.T) {
	ctx := context.Background()
	r, _, srv := startRegistry(t)
	createTenant(t, r, "acme", "acme-token")
	srv.Kill()
	hash := mnemo.HashToken("acme-token")
	_, _, err := r.KeyByHash(ctx, hash)
	unavailable(t, "KeyByHash", err, "acme-token", hex.EncodeToString(hash))
	_, err = r.Tenant(ctx, "acme")
	unavailable(t, "Tenant", err)
	_, _, err = r.Tenants(ctx, 10, 0)
	unavailable(t, "Tenants", err)
	unavailable(t, "CreateTenant", r.CreateTenant(ctx, regTenant("beta"), regKey("k", "beta", "beta-token"), mnemo.HashToken("beta-token")), "beta-token")
	unavailable(t, "AddUsage", r.AddUsage(ctx, []mnemo.Usage{{TenantID: "acme", Day: "2026-01-01", Kind: "store", Count: 1}}))
	unavailable(t, "AppendAudit", r.AppendAudit(ctx, &mnemo.AuditEvent{At: regBase, TenantID: "acme", Action: "x"}))
	_, err = r.Audit(ctx, mnemo.AuditFilter{Limit: 10})
	unavailable(t, "Audit", err)
	_, err = r.Prune(ctx, mnemo.PruneCutoffs{Audit: regBase}, 10)
	unavailable(t, "Prune", err)
	_, err = r.CleanOrphans(ctx, regBase)
	unavailable(t, "CleanOrphans", err)

	// Back up, the same registry answers again: nothing was lost.
	srv.Restart()
	if _, tn, err := r.KeyByHash(ctx, hash); err != nil || tn.ID != "acme" {
		t.Fatalf("KeyByHash after a restart: %+v, %v", tn, err)
	}
}

// The layout of keys is what OAuth reads (oauth.go): pinned field by field.
func TestRegistryKeyLayout(t *testing.T) {
	ctx := context.Background()
	r, rdb, _ := startRegistry(t)
	tn := regTenant("acme")
	tn.CreatedAt = regBase.Add(5 * time.Microsecond)
	tn.RateLimit = &mnemo.RateLimit{RequestsPerSecond: 2.5, Burst: 4}
	max := int64(10)
	tn.Quotas.MaxMemories = &max
	k := regKey("key_1", "acme", "acme-token")
	exp := regBase.Add(time.Hour + 7*time.Microsecond)
	k.ExpiresAt = &exp
	if err := r.CreateTenant(ctx, tn, k, mnemo.HashToken("acme-token")); err != nil {
		t.Fatal(err)
	}
	us := func(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
	hash := hex.EncodeToString(mnemo.HashToken("acme-token"))
	want := map[string]string{"id": "key_1", "tenant_id": "acme", "hash": hash, "prefix": "acme", "label": "label key_1",
		"scopes": `["read","write"]`, "created_at": us(k.CreatedAt), "expires_at": us(exp)}
	check := func(what string) {
		t.Helper()
		if got := rdb.HGetAll(ctx, "mnemo:key:key_1").Val(); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: mnemo:key:key_1 = %v, want %v", what, got, want)
		}
	}
	check("created")
	if err := r.TouchKey(ctx, "key_1", regBase.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	want["last_used_at"] = us(regBase.Add(2 * time.Hour))
	check("touched")
	// A touch of a key that is gone (deleted meanwhile) leaves no partial key.
	if err := r.TouchKey(ctx, "key_gone", regBase); err != nil || rdb.Exists(ctx, "mnemo:key:key_gone").Val() != 0 {
		t.Fatalf("TouchKey of a missing key: %v; it must create nothing", err)
	}
	if err := r.RevokeKey(ctx, "acme", "key_1", regBase.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	want["revoked_at"] = us(regBase.Add(3 * time.Hour))
	check("revoked")
	if got := rdb.Get(ctx, "mnemo:keyhash:"+hash).Val(); got != "key_1" {
		t.Fatalf("mnemo:keyhash:<hash> = %q, want key_1", got)
	}
	if got := rdb.SMembers(ctx, "mnemo:tenantkeys:acme").Val(); !reflect.DeepEqual(got, []string{"key_1"}) {
		t.Fatalf("mnemo:tenantkeys:acme = %v", got)
	}
	wantTenant := map[string]string{"id": "acme", "name": "Tenant acme", "status": "active", "status_reason": "",
		"created_at": us(tn.CreatedAt), "updated_at": us(tn.UpdatedAt), "incarnation": "1",
		"rate_rps": "2.5", "rate_burst": "4", "max_memories": "10"}
	if got := rdb.HGetAll(ctx, "mnemo:tenant:acme").Val(); !reflect.DeepEqual(got, wantTenant) {
		t.Fatalf("mnemo:tenant:acme = %v, want %v", got, wantTenant)
	}
	if got := rdb.ZScore(ctx, "mnemo:tenants", "acme").Val(); got != float64(tn.CreatedAt.UnixMicro()) {
		t.Fatalf("mnemo:tenants score = %v, want the creation time in microseconds", got)
	}
}

// DeleteTenant removes, in its one script, the OAuth grants of the
// tenant's keys and its idempotency records, and nothing of another
// tenant's.
func TestDeleteTenantTakesGrantsAndIdempotency(t *testing.T) {
	ctx := context.Background()
	r, rdb, _ := startRegistry(t)
	createTenant(t, r, "acme", "acme-token")
	if err := r.AddKey(ctx, regKey("second", "acme", "acme-second"), mnemo.HashToken("acme-second")); err != nil {
		t.Fatal(err)
	}
	createTenant(t, r, "other", "other-token")
	plant := []struct{ key, grant string }{{"key_acme", "aa01"}, {"key_acme", "aa02"}, {"second", "bb01"}, {"key_other", "cc01"}}
	for _, p := range plant {
		rdb.SAdd(ctx, "mnemo:oauth:keygrants:"+p.key, p.grant)
		rdb.HSet(ctx, "mnemo:oauth:grant:"+p.grant, "key_id", p.key, "kind", "access")
	}
	rdb.HSet(ctx, "mnemo:idem:acme", "k1", "answer")
	rdb.HSet(ctx, "mnemo:idem:other", "k1", "answer")
	if err := r.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, pattern := range []string{"mnemo:oauth:*", "mnemo:idem:*", "mnemo:key*", "mnemo:tenant*"} {
		keys, err := rdb.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, keys...)
	}
	slices.Sort(left)
	want := []string{"mnemo:idem:other", "mnemo:key:key_other", "mnemo:keyhash:" + hex.EncodeToString(mnemo.HashToken("other-token")),
		"mnemo:oauth:grant:cc01", "mnemo:oauth:keygrants:key_other", "mnemo:tenant:other", "mnemo:tenantkeys:other", "mnemo:tenants"}
	if !reflect.DeepEqual(left, want) {
		t.Fatalf("keys left after deleting acme:\n%v\nwant\n%v", left, want)
	}
}

// CleanOrphans finds what only a hand edit or an older version leaves, as
// sqlite's TestCleanOrphans plants it: a key of a tenant that does not
// exist (its grants go with it, uncounted, as by SQLite's cascade), a
// tenant's idempotency records, an open incarnation of a gone tenant, a
// tenant without its incarnation record; and it repairs lookup entries
// without counting them. Other parts' keys under the same prefixes stay.
func TestCleanOrphansPlanted(t *testing.T) {
	ctx := context.Background()
	r, rdb, _ := startRegistry(t)
	createTenant(t, r, "acme", "acme-token")
	if err := r.AddUsage(ctx, []mnemo.Usage{{TenantID: "gone", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 1}}); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, "mnemo:key:k-ghost", "id", "k-ghost", "tenant_id", "ghost", "hash", "02", "prefix", "g", "label", "",
		"scopes", "[]", "created_at", "0")
	rdb.Set(ctx, "mnemo:keyhash:02", "k-ghost", 0)
	rdb.SAdd(ctx, "mnemo:tenantkeys:ghost", "k-ghost")
	rdb.SAdd(ctx, "mnemo:oauth:keygrants:k-ghost", "03")
	rdb.HSet(ctx, "mnemo:oauth:grant:03", "key_id", "k-ghost")
	rdb.Set(ctx, "mnemo:keyhash:ff", "k-nothing", 0)                       // names no key
	rdb.SAdd(ctx, "mnemo:tenantkeys:acme", "k-nothing")                    // names no key
	rdb.HSet(ctx, "mnemo:idem:ghost", "k", "answer")                       // a gone tenant's
	rdb.ZAdd(ctx, "mnemo:idem-index", redis.Z{Score: 1, Member: "x\x00k"}) // idempotency's own index
	rdb.ZAdd(ctx, "mnemo:incarnations:ghost", redis.Z{Score: 1, Member: "1"})
	rdb.HSet(ctx, "mnemo:incarnation:ghost:1", "tenant_id", "ghost", "incarnation", "1", "created_at", "0")
	rdb.HSet(ctx, "mnemo:tenant:handmade", "id", "handmade", "name", "h", "status", "active", "created_at", "5", "updated_at", "5")

	now := regBase.Add(time.Hour)
	removed, err := r.CleanOrphans(ctx, now)
	want := map[string]int64{"keys": 1, "oauth_grants": 0, "idempotency": 1, "incarnations": 2}
	if err != nil || !reflect.DeepEqual(removed, want) {
		t.Fatalf("CleanOrphans = %v, %v; want %v", removed, err, want)
	}
	for _, k := range []string{"mnemo:key:k-ghost", "mnemo:keyhash:02", "mnemo:tenantkeys:ghost", "mnemo:oauth:keygrants:k-ghost",
		"mnemo:oauth:grant:03", "mnemo:keyhash:ff", "mnemo:idem:ghost"} {
		if n := rdb.Exists(ctx, k).Val(); n != 0 {
			t.Errorf("%s is still there", k)
		}
	}
	if got := rdb.SMembers(ctx, "mnemo:tenantkeys:acme").Val(); !reflect.DeepEqual(got, []string{"key_acme"}) {
		t.Errorf("acme's key set = %v, want key_acme only", got)
	}
	if n := rdb.Exists(ctx, "mnemo:idem-index").Val(); n != 1 {
		t.Error("idempotency's index was removed")
	}
	if got := rdb.HGet(ctx, "mnemo:incarnation:ghost:1", "deleted_at").Val(); got != strconv.FormatInt(now.UnixMicro(), 10) {
		t.Errorf("the ghost's incarnation deleted_at = %q, want now", got)
	}
	// The handmade tenant is whole: listed, incarnation 1, and its
	// incarnation is on record (deleted and created again, it is 2).
	list, total, err := r.Tenants(ctx, 10, 0)
	if err != nil || total != 2 || len(list) != 2 || list[0].ID != "handmade" || list[0].Incarnation != 1 {
		t.Fatalf("Tenants after CleanOrphans = %+v, %d, %v", list, total, err)
	}
	if err := r.DeleteTenant(ctx, "handmade"); err != nil {
		t.Fatal(err)
	}
	tn := regTenant("handmade")
	if err := r.CreateTenant(ctx, tn, regKey("k-h", "handmade", "handmade-token"), mnemo.HashToken("handmade-token")); err != nil || tn.Incarnation != 2 {
		t.Fatalf("handmade created again: incarnation %d, %v; want 2", tn.Incarnation, err)
	}
	if rows, err := r.Usage(ctx, "gone", 1, "2026-01-01", "2026-01-31"); err != nil || len(rows) != 1 {
		t.Fatalf("a deleted tenant's usage: %+v, %v; want kept", rows, err)
	}
	if removed, err := r.CleanOrphans(ctx, now); err != nil || !reflect.DeepEqual(removed, map[string]int64{"keys": 0, "oauth_grants": 0, "idempotency": 0, "incarnations": 0}) {
		t.Fatalf("a second CleanOrphans: %v, %v", removed, err)
	}
}

// Two replicas (two clients, two registries) share one state: of two
// creations of one id, or of one token, racing, exactly one wins and the
// loser left nothing behind; a key revoked, or a tenant deleted, through
// one is refused by the other on its next call.
func TestRegistryReplicas(t *testing.T) {
	ctx := context.Background()
	srv := falkortest.Start(t)
	a := falkordb.NewRegistry(falkordb.New(srv.Client()))
	b := falkordb.NewRegistry(falkordb.New(srv.Client()))
	race := func(ca, cb func() error) (errA, errB error) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); <-start; errA = ca() }()
		go func() { defer wg.Done(); <-start; errB = cb() }()
		close(start)
		wg.Wait()
		return errA, errB
	}
	for i := range 20 {
		id := fmt.Sprintf("same-id-%d", i)
		tokA, tokB := id+"-a", id+"-b"
		errA, errB := race(
			func() error {
				return a.CreateTenant(ctx, regTenant(id), regKey("ka-"+id, id, tokA), mnemo.HashToken(tokA))
			},
			func() error {
				return b.CreateTenant(ctx, regTenant(id), regKey("kb-"+id, id, tokB), mnemo.HashToken(tokB))
			})
		winner, loser := tokA, tokB
		if errA != nil {
			winner, loser = tokB, tokA
			errA, errB = errB, errA
		}
		if errA != nil || mnemo.ErrorCode(errB) != mnemo.ECONFLICT {
			t.Fatalf("race for id %s: %v and %v; want one success and one ECONFLICT", id, errA, errB)
		}
		if _, tn, err := b.KeyByHash(ctx, mnemo.HashToken(winner)); err != nil || tn.ID != id {
			t.Fatalf("the winner's token: %+v, %v", tn, err)
		}
		if _, _, err := a.KeyByHash(ctx, mnemo.HashToken(loser)); mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
			t.Fatalf("the loser's token: %v, want EUNAUTHORIZED", err)
		}
		if keys, err := a.Keys(ctx, id); err != nil || len(keys) != 1 {
			t.Fatalf("keys of %s after the race: %v, %v; want one", id, keys, err)
		}

		token := fmt.Sprintf("same-token-%d", i)
		errA, errB = race(
			func() error {
				return a.CreateTenant(ctx, regTenant("ta-"+token), regKey("ka-"+token, "ta-"+token, token), mnemo.HashToken(token))
			},
			func() error {
				return b.CreateTenant(ctx, regTenant("tb-"+token), regKey("kb-"+token, "tb-"+token, token), mnemo.HashToken(token))
			})
		winnerID, loserID := "ta-"+token, "tb-"+token
		if errA != nil {
			winnerID, loserID = loserID, winnerID
			errA, errB = errB, errA
		}
		if errA != nil || mnemo.ErrorCode(errB) != mnemo.ECONFLICT {
			t.Fatalf("race for token %s: %v and %v; want one success and one ECONFLICT", token, errA, errB)
		}
		if _, tn, err := a.KeyByHash(ctx, mnemo.HashToken(token)); err != nil || tn.ID != winnerID {
			t.Fatalf("the raced token belongs to %+v, %v; want %s", tn, err, winnerID)
		}
		if _, err := b.Tenant(ctx, loserID); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
			t.Fatalf("the loser tenant %s: %v, want ENOTFOUND", loserID, err)
		}
	}

	createTenant(t, a, "acme", "acme-token")
	if _, _, err := b.KeyByHash(ctx, mnemo.HashToken("acme-token")); err != nil {
		t.Fatalf("B before the revoke: %v", err)
	}
	if err := a.RevokeKey(ctx, "acme", "key_acme", regBase.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.KeyByHash(ctx, mnemo.HashToken("acme-token")); mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
		t.Fatalf("B right after A revoked the key: %v, want EUNAUTHORIZED", err)
	}
	createTenant(t, a, "beta", "beta-token")
	if _, _, err := b.KeyByHash(ctx, mnemo.HashToken("beta-token")); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteTenant(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.KeyByHash(ctx, mnemo.HashToken("beta-token")); mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
		t.Fatalf("A right after B deleted the tenant: %v, want EUNAUTHORIZED", err)
	}
}

// CleanOrphans walks the keyspace a page at a time: orphans beyond the
// first pages are found too, each counted once.
func TestCleanOrphansManyPages(t *testing.T) {
	ctx := context.Background()
	r, rdb, _ := startRegistry(t)
	const n = 1234
	pipe := rdb.Pipeline()
	for i := range n {
		id := fmt.Sprintf("k%04d", i)
		pipe.HSet(ctx, "mnemo:key:"+id, "id", id, "tenant_id", "ghost", "hash", fmt.Sprintf("%064x", i), "scopes", "[]", "created_at", "0")
		tid := fmt.Sprintf("t%04d", i)
		pipe.HSet(ctx, "mnemo:tenant:"+tid, "id", tid, "name", tid, "status", "active", "created_at", "0", "updated_at", "0")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	removed, err := r.CleanOrphans(ctx, regBase)
	if want := map[string]int64{"keys": n, "oauth_grants": 0, "idempotency": 0, "incarnations": n}; err != nil || !reflect.DeepEqual(removed, want) {
		t.Fatalf("CleanOrphans = %v, %v; want %v", removed, err, want)
	}
	if _, total, err := r.Tenants(ctx, 1, 0); err != nil || total != n {
		t.Fatalf("Tenants total after CleanOrphans = %d, %v; want %d", total, err, n)
	}
}
