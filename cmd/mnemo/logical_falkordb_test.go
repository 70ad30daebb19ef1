package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/archive"
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/falkortest"
	"github.com/mnemohq/mnemo/internal/mnemotest"
	"github.com/mnemohq/mnemo/internal/registrytest"
)

// The model and dimension of the tenants' vectors in these tests.
const (
	crossModel = "cross-model"
	crossDim   = 4
)

var crossBase = time.Date(2025, 5, 6, 7, 8, 9, 101112000, time.UTC)

// crossBackend is either backend through its seams.
type crossBackend struct {
	name   string
	reg    registrytest.Archiver
	stores mnemo.Stores
}

func falkorBackend(t *testing.T, srv *falkortest.Server) crossBackend {
	c := falkordb.New(srv.Client())
	return crossBackend{"falkordb", falkordb.NewRegistry(c), falkordb.NewStores(c, crossModel, crossDim)}
}

// embeddedBackend opens a data directory for crossModel, so that a search
// by vector finds what the FalkorDB store finds.
func embeddedBackend(t *testing.T, dir string) crossBackend {
	t.Helper()
	reg, stores := mnemotest.OpenDir(t, dir, crossModel, crossDim, slog.New(slog.DiscardHandler))
	return crossBackend{"sqlite", reg, stores}
}

// crossTokens are the tokens the fill issued: those that authenticate, and
// those that must not (revoked, of a deleted tenant or incarnation).
type crossTokens struct{ live, dead map[string]string }

// fill makes, through the seams: acme (limits, suspended; keys read-only,
// expiring, revoked and used; memories with vectors of two models and
// none, relations), beta deleted and created again (incarnation 2, with a
// memory), gamma (empty store), gone deleted for good; audit and usage of
// each incarnation and one event of no tenant; an OAuth client with a
// used code, its tokens and a fresh code, and a client never used.
func (b crossBackend) fill(t *testing.T) crossTokens {
	t.Helper()
	ctx := context.Background()
	tok := crossTokens{live: map[string]string{}, dead: map[string]string{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	at := func(m int) time.Time { return crossBase.Add(time.Duration(m) * time.Minute) }
	create := func(id string, m int) {
		t.Helper()
		tn := &mnemo.Tenant{ID: id, Name: "Tenant " + id, Status: mnemo.TenantActive, CreatedAt: at(m), UpdatedAt: at(m)}
		tok.live[id] = "token-of-" + id + "-" + at(m).Format("1504")
		k := &mnemo.Key{ID: "key_" + id + at(m).Format("1504"), TenantID: id, Label: "first", Prefix: tok.live[id][:8],
			Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: at(m)}
		must(b.reg.CreateTenant(ctx, tn, k, mnemo.HashToken(tok.live[id])))
		must(b.stores.Create(ctx, id))
		must(b.reg.AppendAudit(ctx, &mnemo.AuditEvent{At: at(m), Actor: "admin", TenantID: id, Action: "tenant.create",
			Target: id, RequestID: "req-" + id, Outcome: "success"}))
		must(b.reg.AddUsage(ctx, []mnemo.Usage{{TenantID: id, Day: at(m).Format(time.DateOnly), Kind: "store", Count: int64(m + 1)}}))
	}
	write := func(id string, w mnemo.Write) {
		t.Helper()
		st, release, err := b.stores.Open(ctx, id)
		must(err)
		defer release()
		_, err = st.Write(ctx, w, mnemo.Quotas{})
		must(err)
	}
	mem := func(id, content string, m int, vec ...float32) *mnemo.Memory {
		x := &mnemo.Memory{ID: id, Content: content, Tags: []string{"Topic/" + content[:4], "shared"}, Importance: 0.75, Type: "Decision",
			Confidence: 0.5, Timestamp: at(m), TValid: at(m), UpdatedAt: at(m + 1), LastAccessed: at(m + 2),
			Metadata: map[string]any{"source": "test", "n": 3.0, "list": []any{"a", "b"}}}
		if vec != nil {
			x.Embedding, x.EmbeddingModel = vec, crossModel
		}
		return x
	}

	create("acme", 0)
	for i, name := range []string{"read", "exp", "rev", "use"} {
		k := &mnemo.Key{ID: "key_acme_" + name, TenantID: "acme", Label: name, Prefix: "tok-", Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite},
			CreatedAt: at(1).Add(time.Duration(i) * time.Second)}
		switch name {
		case "read":
			k.Scopes = []string{mnemo.ScopeRead}
		case "exp":
			exp := at(60 * 24 * 365)
			k.ExpiresAt = &exp
		}
		token := "token-of-acme-" + name
		must(b.reg.AddKey(ctx, k, mnemo.HashToken(token)))
		tok.live["acme-"+name] = token
	}
	must(b.reg.RevokeKey(ctx, "acme", "key_acme_rev", at(2)))
	tok.dead["acme-rev"] = tok.live["acme-rev"]
	delete(tok.live, "acme-rev")
	must(b.reg.TouchKey(ctx, "key_acme_use", at(3)))
	other := mem("33333333-3333-4333-8333-333333333333", "older model", 12, 1, 0, 0, 0)
	other.EmbeddingModel = "older-model"
	later := mem("44444444-4444-4444-8444-444444444444", "later, without a vector", 13)
	later.TInvalid = ptrTime(at(100))
	write("acme", mnemo.Write{
		Create: []*mnemo.Memory{
			mem("11111111-1111-4111-8111-111111111111", "Chose Postgres for billing", 10, 0.1, 0.2, -0.3, 1e-7),
			mem("22222222-2222-4222-8222-222222222222", "Prefers tea over coffee", 11, 0.5, 0.25, 0.125, -1),
			other, later,
		},
		Relate: []mnemo.Relation{
			{From: "11111111-1111-4111-8111-111111111111", To: "22222222-2222-4222-8222-222222222222", Type: mnemo.RelationType("RELATES_TO"),
				Strength: 0.8, UpdatedAt: at(14)},
			{From: "22222222-2222-4222-8222-222222222222", To: "44444444-4444-4444-8444-444444444444", Type: mnemo.RelationType("PREFERS_OVER"),
				Strength: 0.25, Props: map[string]any{"reason": "taste"}, UpdatedAt: at(15)},
		},
	})
	mm, mb := int64(1000), 12.5
	must(b.reg.UpdateTenant(ctx, &mnemo.Tenant{ID: "acme", Name: "Acme Corp", Status: mnemo.TenantSuspended, StatusReason: "unpaid",
		RateLimit: &mnemo.RateLimit{RequestsPerSecond: 50.5, Burst: 100}, Quotas: mnemo.Quotas{MaxMemories: &mm, MaxStorageMB: &mb},
		CreatedAt: at(0), UpdatedAt: at(16)}))

	create("beta", 20)
	write("beta", mnemo.Write{Create: []*mnemo.Memory{mem("55555555-5555-4555-8555-555555555555", "beta's first life", 21, 0, 1, 0, 0)}})
	must(b.reg.DeleteTenant(ctx, "beta"))
	must(b.stores.Drop(ctx, "beta"))
	tok.dead["beta-1"] = tok.live["beta"]
	create("beta", 22)
	write("beta", mnemo.Write{Create: []*mnemo.Memory{mem("66666666-6666-4666-8666-666666666666", "beta's second life", 23, 0, 0, 1, 0)}})
	must(b.reg.AddUsage(ctx, []mnemo.Usage{{TenantID: "beta", Day: at(23).Format(time.DateOnly), Kind: "recall", Count: 7}}))

	create("gamma", 30)
	create("gone", 31)
	must(b.reg.DeleteTenant(ctx, "gone"))
	must(b.stores.Drop(ctx, "gone"))
	tok.dead["gone"] = tok.live["gone"]
	delete(tok.live, "gone")
	must(b.reg.AppendAudit(ctx, &mnemo.AuditEvent{At: at(32), Actor: "admin", Action: "backup", Outcome: "success"}))

	must(b.reg.RegisterOAuthClient(ctx, &mnemo.OAuthClient{ID: "client-used", Name: "Connector", RedirectURIs: []string{"https://claude.ai/cb"},
		CreatedAt: at(40)}, time.Time{}, 0))
	must(b.reg.RegisterOAuthClient(ctx, &mnemo.OAuthClient{ID: "client-idle", Name: "Never used", RedirectURIs: []string{"http://localhost/cb"},
		CreatedAt: at(41)}, time.Time{}, 0))
	grant := func(secret, kind, family string) *mnemo.OAuthGrant {
		return &mnemo.OAuthGrant{Hash: mnemo.HashToken(secret), Kind: kind, ClientID: "client-used", KeyID: "key_acme_use",
			Scopes: []string{mnemo.ScopeRead}, RedirectURI: "https://claude.ai/cb", CodeChallenge: "challenge-" + secret,
			ExpiresAt: at(60 * 24 * 365), Family: family}
	}
	must(b.reg.SaveOAuthGrant(ctx, grant("code-used", mnemo.GrantCode, "family-1")))
	if _, err := b.reg.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code-used"), at(42)); err != nil {
		t.Fatal(err)
	}
	must(b.reg.IssueOAuthTokens(ctx, grant("access-1", mnemo.GrantAccess, "family-1"), grant("refresh-1", mnemo.GrantRefresh, "family-1"), at(42)))
	must(b.reg.SaveOAuthGrant(ctx, grant("code-fresh", mnemo.GrantCode, "family-2")))
	return tok
}

func ptrTime(t time.Time) *time.Time { return &t }

// crossState is everything a backend answers about the fill, in terms
// both backends keep alike: storage sizes, which each backend measures its
// own way, are left out.
type crossState struct {
	Records  []mnemo.RegistryRecord
	Tenants  []*mnemo.Tenant
	Answers  map[string]any
	Contents map[string]crossContents
}

// crossContents is a tenant's store: its memories and relations as a snapshot
// with vectors reads them, its counters, and the ids a search by vector
// ranks first.
type crossContents struct {
	Memories  []*mnemo.Memory
	Relations []mnemo.Relation
	Stats     mnemo.TenantStats
	Nearest   []string
}

func crossCounts(s mnemo.TenantStats) mnemo.TenantStats {
	return mnemo.TenantStats{Memories: s.Memories, Relations: s.Relations, Vectors: s.Vectors}
}

func (b crossBackend) state(t *testing.T, tok crossTokens) crossState {
	t.Helper()
	ctx := context.Background()
	st := crossState{Records: registrytest.Records(t, b.reg), Answers: map[string]any{}, Contents: map[string]crossContents{}}
	answer := func(name string, v any, err error) {
		if err != nil {
			v = "error " + string(mnemo.ErrorCode(err))
		}
		st.Answers[name] = v
	}
	tenants, total, err := b.reg.Tenants(ctx, 100, 0)
	if err != nil || total != len(tenants) {
		t.Fatalf("%s: Tenants: %d of %d, %v", b.name, len(tenants), total, err)
	}
	for _, tn := range tenants {
		tn.Stats = crossCounts(tn.Stats)
		st.Tenants = append(st.Tenants, tn)
	}
	for _, id := range []string{"acme", "beta", "gamma", "gone"} {
		tn, err := b.reg.Tenant(ctx, id)
		if err == nil {
			tn.Stats = crossCounts(tn.Stats)
		}
		answer("Tenant "+id, tn, err)
		keys, err := b.reg.Keys(ctx, id)
		answer("Keys "+id, keys, err)
		for _, inc := range []int64{0, 1, 2} {
			events, err := b.reg.Audit(ctx, mnemo.AuditFilter{TenantID: id, Incarnation: inc, Limit: 100})
			answer("Audit "+id+string(rune('0'+inc)), events, err)
			usage, err := b.reg.Usage(ctx, id, inc, "2000-01-01", "2100-01-01")
			answer("Usage "+id+string(rune('0'+inc)), usage, err)
		}
	}
	events, err := b.reg.Audit(ctx, mnemo.AuditFilter{Limit: -1})
	answer("Audit", events, err)
	usage, err := b.reg.Usage(ctx, "", 0, "2000-01-01", "2100-01-01")
	answer("Usage", usage, err)
	for name, token := range tok.live {
		k, tn, err := b.reg.KeyByHash(ctx, mnemo.HashToken(token))
		if err == nil {
			tn.Stats = mnemo.TenantStats{}
		}
		answer("KeyByHash "+name, []any{k, tn}, err)
	}
	for name, token := range tok.dead {
		_, _, err := b.reg.KeyByHash(ctx, mnemo.HashToken(token))
		if mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
			t.Fatalf("%s: the token %s authenticates: %v", b.name, name, err)
		}
	}
	for _, id := range []string{"client-used", "client-idle"} {
		c, err := b.reg.OAuthClient(ctx, id)
		answer("OAuthClient "+id, c, err)
	}
	g, err := b.reg.AccessGrant(ctx, mnemo.HashToken("access-1"), crossBase)
	answer("AccessGrant", g, err)
	g, err = b.reg.OAuthToken(ctx, mnemo.HashToken("refresh-1"))
	answer("OAuthToken", g, err)

	for _, tn := range tenants {
		store, release, err := b.stores.Open(ctx, tn.ID)
		if err != nil {
			t.Fatalf("%s: open %s: %v", b.name, tn.ID, err)
		}
		var c crossContents
		sn, err := store.Snapshot(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		for m, err := range sn.Memories() {
			if err != nil {
				t.Fatal(err)
			}
			c.Memories = append(c.Memories, m)
		}
		for r, err := range sn.Relations() {
			if err != nil {
				t.Fatal(err)
			}
			c.Relations = append(c.Relations, r)
		}
		sn.Close()
		stats, err := store.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c.Stats = crossCounts(stats)
		hits, err := store.Nearest(ctx, []float32{0.1, 0.2, -0.3, 0}, mnemo.Filter{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			c.Nearest = append(c.Nearest, h.Memory.ID)
		}
		release()
		st.Contents[tn.ID] = c
	}
	return st
}

// sameState wants got to answer as want does, naming what differs.
func sameState(t *testing.T, what string, want, got crossState) {
	t.Helper()
	if !reflect.DeepEqual(want.Records, got.Records) {
		t.Errorf("%s: the registry dumps otherwise:\n got %s\nwant %s", what, sprintJSON(got.Records), sprintJSON(want.Records))
	}
	if !reflect.DeepEqual(want.Tenants, got.Tenants) {
		t.Errorf("%s: Tenants:\n got %s\nwant %s", what, sprintJSON(got.Tenants), sprintJSON(want.Tenants))
	}
	for name, w := range want.Answers {
		if g := got.Answers[name]; !reflect.DeepEqual(w, g) {
			t.Errorf("%s: %s:\n got %s\nwant %s", what, name, sprintJSON(g), sprintJSON(w))
		}
	}
	for id, w := range want.Contents {
		if g := got.Contents[id]; !reflect.DeepEqual(w, g) {
			t.Errorf("%s: tenant %s:\n got %s\nwant %s", what, id, sprintJSON(g), sprintJSON(w))
		}
	}
	if len(got.Contents) != len(want.Contents) {
		t.Errorf("%s: %d tenant stores, want %d", what, len(got.Contents), len(want.Contents))
	}
}

func sprintJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// TestLogicalBackupAcrossBackends: a FalkorDB backend filled through its
// seams is backed up logically, restored into an empty data directory,
// and answers every seam there as on FalkorDB (keys authenticate by hash,
// tenants and incarnations, audit, usage, OAuth, memories with their
// vectors and relations, counters, a search by vector); that directory's
// backup restores into an empty FalkorDB, which answers the same again.
func TestLogicalBackupAcrossBackends(t *testing.T) {
	ctx := context.Background()
	srv := falkortest.Start(t)
	src := falkorBackend(t, srv)
	tok := src.fill(t)
	want := src.state(t, tok)
	if len(want.Records) < 25 || len(want.Contents) != 3 || len(want.Contents["acme"].Memories) != 4 ||
		len(want.Contents["acme"].Relations) != 2 || len(want.Contents["acme"].Nearest) < 2 {
		t.Fatalf("the fill made %d records and %+v", len(want.Records), want.Contents)
	}
	vectors := 0
	for _, m := range want.Contents["acme"].Memories {
		if len(m.Embedding) == crossDim {
			vectors++
		}
	}
	if vectors != 3 {
		t.Fatalf("acme holds %d vectors, want 3", vectors)
	}

	var fromFalkor bytes.Buffer
	res, err := archive.Write(ctx, &fromFalkor, src.reg, src.stores, crossBase.Add(time.Hour))
	if err != nil || res.Tenants != 3 {
		t.Fatalf("archive.Write of FalkorDB: %+v, %v", res, err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := restoreLogicalDir(ctx, bytes.NewReader(fromFalkor.Bytes()), true, dir, mnemo.Limits{}); err != nil {
		t.Fatalf("restore into a data directory: %v", err)
	}
	embedded := embeddedBackend(t, dir)
	sameState(t, "FalkorDB restored into a data directory", want, embedded.state(t, tok))

	var fromEmbedded bytes.Buffer
	if _, err := archive.Write(ctx, &fromEmbedded, embedded.reg, embedded.stores, crossBase.Add(2*time.Hour)); err != nil {
		t.Fatalf("archive.Write of the data directory: %v", err)
	}
	if err := srv.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	back := falkorBackend(t, srv)
	if _, err := archive.Read(ctx, bytes.NewReader(fromEmbedded.Bytes()), back.reg, back.stores, mnemo.Limits{}); err != nil {
		t.Fatalf("archive.Read into an empty FalkorDB: %v", err)
	}
	sameState(t, "and back into FalkorDB", want, back.state(t, tok))
}

// TestFalkorDBBackupRestoreCommands: `mnemo backup --logical` and `mnemo
// restore` on FalkorDB, selected by --falkordb or by FALKORDB_HOST and
// FALKORDB_PORT: the backup restores into another, empty FalkorDB, which
// answers as the original; a restore into a FalkorDB whose registry is
// not empty is refused before anything is written, as are a physical
// backup and a backup without --logical.
func TestFalkorDBBackupRestoreCommands(t *testing.T) {
	t.Setenv("VECTOR_SIZE", "4") // the restored graphs' vector index, as the server's
	t.Setenv("FALKORDB_HOST", "")
	srcSrv, dstSrv := falkortest.Start(t), falkortest.Start(t)
	src := falkorBackend(t, srcSrv)
	tok := src.fill(t)
	want := src.state(t, tok)
	work := t.TempDir()

	out := filepath.Join(work, "falkor.tar.gz")
	if got := runOK(t, "backup", "--logical", "--falkordb", srcSrv.Addr, "--out", out); !strings.Contains(got,
		"logical backup of FalkorDB at "+srcSrv.Addr+" written to "+out+": 3 tenants") {
		t.Fatalf("backup output: %s", got)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 1 {
		t.Fatalf("the backup left %d entries beside it", len(entries))
	}
	err := run(context.Background(), []string{"backup", "--falkordb", srcSrv.Addr, "--out", filepath.Join(work, "physical.tar.gz")}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "logical backups only: add --logical") {
		t.Fatalf("a physical backup of FalkorDB: %v", err)
	}

	// Selected by the environment, as `mnemo serve` selects its backend.
	host, port, _ := net.SplitHostPort(dstSrv.Addr)
	t.Setenv("FALKORDB_HOST", host)
	t.Setenv("FALKORDB_PORT", port)
	if got := runOK(t, "restore", out); !strings.Contains(got, "into FalkorDB at "+dstSrv.Addr+": 3 tenants, 5 memories, 2 relations") {
		t.Fatalf("restore output: %s", got)
	}
	sameState(t, "restored by mnemo restore", want, falkorBackend(t, dstSrv).state(t, tok))

	// Again into the same server: its registry is not empty.
	before := falkortestKeys(t, dstSrv)
	err = run(context.Background(), []string{"restore", out}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "the registry of FalkorDB at "+dstSrv.Addr+" is not empty") {
		t.Fatalf("restore into a FalkorDB that is not empty: %v", err)
	}
	if after := falkortestKeys(t, dstSrv); after != before {
		t.Fatalf("a refused restore changed the server: %d keys, then %d", before, after)
	}

	// A physical backup of a data directory does not go into FalkorDB.
	dir := filepath.Join(work, "data")
	if _, err := restoreLogicalDir(context.Background(), bytes.NewReader(mustRead(t, out)), true, dir, mnemo.Limits{}); err != nil {
		t.Fatal(err)
	}
	physical := filepath.Join(work, "physical.tar.gz")
	runOK(t, "backup", "--data-dir", dir, "--out", physical)
	if err := dstSrv.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"restore", physical}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "this is a physical backup") {
		t.Fatalf("restore of a physical backup into FalkorDB: %v", err)
	}
	err = run(context.Background(), []string{"restore", "--data-dir", filepath.Join(work, "x"), "--falkordb", dstSrv.Addr, out}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "choose one") {
		t.Fatalf("restore naming both backends: %v", err)
	}
	// An explicit --data-dir wins over FALKORDB_HOST.
	runOK(t, "restore", "--data-dir", filepath.Join(work, "explicit"), out)
	if n := falkortestKeys(t, dstSrv); n != 0 {
		t.Fatalf("a restore into a data directory wrote %d keys into FalkorDB", n)
	}
}

func falkortestKeys(t *testing.T, srv *falkortest.Server) int64 {
	t.Helper()
	n, err := srv.Client().DBSize(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
