package archive_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/archive"
	"github.com/mnemohq/mnemo/internal/mnemotest"
	"github.com/mnemohq/mnemo/internal/registrytest"
	"github.com/mnemohq/mnemo/sqlite"
)

const (
	model = "test-model"
	dim   = 4
)

var base = time.Date(2025, 3, 4, 5, 6, 7, 891011000, time.UTC)

type backend struct {
	reg    *sqlite.Registry
	stores *sqlite.Stores
}

func newBackend(t *testing.T) backend {
	t.Helper()
	reg, stores := mnemotest.OpenDir(t, t.TempDir(), model, dim, slog.New(slog.DiscardHandler))
	return backend{reg, stores}
}

func memory(id, content string, at time.Time, vec ...float32) *mnemo.Memory {
	m := &mnemo.Memory{ID: id, Content: content, Tags: []string{"t:" + content[:min(len(content), 8)]}, Importance: 0.7, Type: "Context", Confidence: 0.9,
		Timestamp: at, TValid: at, UpdatedAt: at.Add(time.Second), LastAccessed: at.Add(time.Minute), Metadata: map[string]any{"n": "v"}}
	if vec != nil {
		m.Embedding, m.EmbeddingModel = vec, model
	}
	return m
}

// fill makes tenants acme (memories with vectors, one of another model,
// a relation), beta (empty) and gamma (one memory), with keys.
func (b backend) fill(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	tokens := map[string]string{}
	for i, id := range []string{"acme", "beta", "gamma"} {
		at := base.Add(time.Duration(i) * time.Minute)
		tn := &mnemo.Tenant{ID: id, Name: "Tenant " + id, Status: mnemo.TenantActive, CreatedAt: at, UpdatedAt: at}
		k := &mnemo.Key{ID: "key_" + id, TenantID: id, Label: "first", Prefix: "tok-", Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: at}
		tokens[id] = "token-of-" + id + "-0123456789"
		if err := b.reg.CreateTenant(ctx, tn, k, mnemo.HashToken(tokens[id])); err != nil {
			t.Fatal(err)
		}
		if err := b.stores.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	write := func(id string, w mnemo.Write) {
		t.Helper()
		st, release, err := b.stores.Open(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if _, err := st.Write(ctx, w, mnemo.Quotas{}); err != nil {
			t.Fatal(err)
		}
	}
	other := memory("33333333-3333-4333-8333-333333333333", "other model", base.Add(3*time.Hour), 1, 0, 0)
	other.EmbeddingModel = "older-model"
	write("acme", mnemo.Write{
		Create: []*mnemo.Memory{
			memory("11111111-1111-4111-8111-111111111111", "first", base.Add(time.Hour), 0.1, 0.2, -0.3, 1e-7),
			memory("22222222-2222-4222-8222-222222222222", "second", base.Add(2*time.Hour), 0.5, 0.25, 0.125, 3.4028235e38),
			other,
			memory("44444444-4444-4444-8444-444444444444", "no vector", base.Add(4*time.Hour)),
		},
		Relate: []mnemo.Relation{{From: "11111111-1111-4111-8111-111111111111", To: "22222222-2222-4222-8222-222222222222",
			Type: mnemo.RelationType("PREFERS_OVER"), Strength: 0.75, Props: map[string]any{"reason": "taste"}, UpdatedAt: base.Add(5 * time.Hour)}},
	})
	write("gamma", mnemo.Write{Create: []*mnemo.Memory{memory("55555555-5555-4555-8555-555555555555", "gamma's", base, 0, 0, 1, 0)}})
	if err := b.reg.AppendAudit(ctx, &mnemo.AuditEvent{At: base, Actor: "admin", TenantID: "acme", Action: "tenant.create", Outcome: "success"}); err != nil {
		t.Fatal(err)
	}
	if err := b.reg.AddUsage(ctx, []mnemo.Usage{{TenantID: "acme", Day: "2025-03-04", Kind: "store", Count: 4}}); err != nil {
		t.Fatal(err)
	}
	return tokens
}

// contents is everything a tenant store holds, as a snapshot with
// vectors reads it.
type contents struct {
	Memories  []*mnemo.Memory
	Relations []mnemo.Relation
}

func (b backend) contents(t *testing.T, id string) contents {
	t.Helper()
	ctx := context.Background()
	st, release, err := b.stores.Open(ctx, id)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	defer release()
	sn, err := st.Snapshot(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	var c contents
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
	return c
}

func backup(t *testing.T, b archive.Backuper) ([]byte, mnemo.BackupResult) {
	t.Helper()
	var buf bytes.Buffer
	res, err := b.Backup(context.Background(), &buf, base.Add(24*time.Hour))
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	return buf.Bytes(), res
}

// TestRoundTrip: an archive restores into an empty backend that dumps the
// same registry and holds the same memories, relations and vectors, bit
// for bit; Verify reads what Read does.
func TestRoundTrip(t *testing.T) {
	src := newBackend(t)
	tokens := src.fill(t)
	raw, res := backup(t, archive.Backuper{Registry: src.reg, Stores: src.stores})
	if res.Tenants != 3 || len(res.Vanished) != 0 || len(res.Skipped) != 0 {
		t.Fatalf("backup result %+v", res)
	}
	if got := members(t, raw); !slices.Equal(got, []string{"manifest.json", "registry.ndjson", "tenants/acme.ndjson", "tenants/beta.ndjson",
		"tenants/gamma.ndjson", "end.json"}) {
		t.Fatalf("members %v", got)
	}
	for _, token := range tokens {
		if bytes.Contains(raw, []byte(token)) || strings.Contains(string(gunzip(t, raw)), token) {
			t.Fatal("the archive holds a token")
		}
	}
	want := archive.Result{Manifest: archive.Manifest{Format: archive.Format, Version: archive.Version, CreatedAt: mnemo.FormatTime(base.Add(24 * time.Hour))},
		RegistryRecords: int64(len(registrytest.Records(t, src.reg))), Tenants: 3, Memories: 5, Relations: 1, Vanished: []string{}, Skipped: []mnemo.DamagedStore{}}
	verified, err := archive.Verify(context.Background(), bytes.NewReader(raw), mnemo.Limits{})
	if err != nil || !reflect.DeepEqual(verified, want) {
		t.Fatalf("Verify: %+v, %v; want %+v", verified, err, want)
	}

	dst := newBackend(t)
	got, err := archive.Read(context.Background(), bytes.NewReader(raw), dst.reg, dst.stores, mnemo.Limits{})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Read: %+v, %v; want %+v", got, err, want)
	}
	if a, b := registrytest.Records(t, src.reg), registrytest.Records(t, dst.reg); !reflect.DeepEqual(a, b) {
		t.Fatalf("restored registry differs:\n%+v\n%+v", a, b)
	}
	for _, id := range []string{"acme", "beta", "gamma"} {
		if a, b := src.contents(t, id), dst.contents(t, id); !reflect.DeepEqual(a, b) {
			t.Fatalf("tenant %s restored otherwise:\n%+v\n%+v", id, a, b)
		}
		// The store's counters come back with the data, into the registry's mirror.
		ts, _ := src.reg.Tenant(context.Background(), id)
		td, _ := dst.reg.Tenant(context.Background(), id)
		if ts.Stats.Memories != td.Stats.Memories || ts.Stats.Relations != td.Stats.Relations || ts.Stats.Vectors != td.Stats.Vectors {
			t.Fatalf("tenant %s stats %+v, restored %+v", id, ts.Stats, td.Stats)
		}
	}
	if _, tn, err := dst.reg.KeyByHash(context.Background(), mnemo.HashToken(tokens["acme"])); err != nil || tn.ID != "acme" {
		t.Fatalf("acme's token after the restore: %v, %v", tn, err)
	}
	// The restored vectors are searched.
	st, release, _ := dst.stores.Open(context.Background(), "acme")
	defer release()
	hits, err := st.Nearest(context.Background(), []float32{0.5, 0.25, 0.125, 3.4028235e38}, mnemo.Filter{}, 1)
	if err != nil || len(hits) != 1 || hits[0].Memory.ID != "22222222-2222-4222-8222-222222222222" {
		t.Fatalf("Nearest on the restored store: %v, %v", hits, err)
	}

	// A second restore into the now full backend is refused, and changes nothing.
	before := registrytest.Records(t, dst.reg)
	if _, err := archive.Read(context.Background(), bytes.NewReader(raw), dst.reg, dst.stores, mnemo.Limits{}); err == nil ||
		!strings.Contains(err.Error(), "registry is not empty") {
		t.Fatalf("Read into a restored backend: %v", err)
	}
	if after := registrytest.Records(t, dst.reg); !reflect.DeepEqual(before, after) {
		t.Fatal("a refused restore changed the registry")
	}
}

// deletingStores deletes a tenant from the registry (and its store) when
// the backup opens it, as an operator might while a backup runs; with
// recreate, the id is created again at once, so the store opened is the
// new tenant's.
type deletingStores struct {
	*sqlite.Stores
	reg      *sqlite.Registry
	id       string
	recreate bool
}

func (d deletingStores) Open(ctx context.Context, id string) (mnemo.MemoryStore, func(), error) {
	if id == d.id {
		if err := d.reg.DeleteTenant(ctx, id); err != nil {
			return nil, nil, err
		}
		if err := d.Stores.Drop(ctx, id); err != nil {
			return nil, nil, err
		}
		if d.recreate {
			tn := &mnemo.Tenant{ID: id, Name: "Another customer", Status: mnemo.TenantActive, CreatedAt: base, UpdatedAt: base}
			k := &mnemo.Key{ID: "key_new_" + id, TenantID: id, Prefix: "new-", CreatedAt: base}
			if err := d.reg.CreateTenant(ctx, tn, k, mnemo.HashToken("new-customer-token")); err != nil {
				return nil, nil, err
			}
			if err := d.Stores.Create(ctx, id); err != nil {
				return nil, nil, err
			}
		}
	}
	return d.Stores.Open(ctx, id)
}

// TestVanished: a tenant deleted while the backup runs (also one whose id
// is created again meanwhile) is left out and named; a restore deletes it
// again, so its keys do not come back, and its usage and audit stay.
func TestVanished(t *testing.T) {
	for _, recreate := range []bool{false, true} {
		t.Run(fmt.Sprintf("recreated=%v", recreate), func(t *testing.T) {
			src := newBackend(t)
			tokens := src.fill(t)
			raw, res := backup(t, archive.Backuper{Registry: src.reg, Stores: deletingStores{src.stores, src.reg, "acme", recreate}})
			if res.Tenants != 2 || !slices.Equal(res.Vanished, []string{"acme"}) || len(res.Skipped) != 0 {
				t.Fatalf("backup result %+v", res)
			}
			if slices.Contains(members(t, raw), "tenants/acme.ndjson") {
				t.Fatal("the vanished tenant's data is in the archive")
			}
			dst := newBackend(t)
			got, err := archive.Read(context.Background(), bytes.NewReader(raw), dst.reg, dst.stores, mnemo.Limits{})
			if err != nil || !slices.Equal(got.Vanished, []string{"acme"}) {
				t.Fatalf("Read: %+v, %v", got, err)
			}
			ctx := context.Background()
			if _, err := dst.reg.Tenant(ctx, "acme"); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
				t.Fatalf("vanished tenant after the restore: %v", err)
			}
			if _, _, err := dst.reg.KeyByHash(ctx, mnemo.HashToken(tokens["acme"])); mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
				t.Fatalf("vanished tenant's key after the restore: %v", err)
			}
			if u, _ := dst.reg.Usage(ctx, "acme", 1, "2000-01-01", "2100-01-01"); len(u) != 1 || u[0].Count != 4 {
				t.Fatalf("vanished tenant's usage after the restore: %+v", u)
			}
			if err := dst.reg.CreateTenant(ctx, &mnemo.Tenant{ID: "acme", Status: mnemo.TenantActive, CreatedAt: base, UpdatedAt: base},
				&mnemo.Key{ID: "k2", TenantID: "acme", CreatedAt: base}, mnemo.HashToken("x-0123456789")); err != nil {
				t.Fatal(err)
			}
			if tn, _ := dst.reg.Tenant(ctx, "acme"); tn.Incarnation != 2 {
				t.Fatalf("the id created again after the restore is incarnation %d, want 2", tn.Incarnation)
			}
		})
	}
}

// damagedStores answers for one tenant as a damaged store does.
type damagedStores struct {
	*sqlite.Stores
	id string
}

func (d damagedStores) Open(ctx context.Context, id string) (mnemo.MemoryStore, func(), error) {
	if id == d.id {
		return nil, nil, &mnemo.Error{Code: mnemo.EUNAVAILABLE, RetryAfter: time.Minute, Message: "The data store of tenant 'acme' is damaged"}
	}
	return d.Stores.Open(ctx, id)
}

// TestSkipped: a tenant whose store cannot be read is skipped, with its
// reason, and every other tenant is saved; a restore keeps its keys, gives
// it an empty store and suspends it, saying why.
func TestSkipped(t *testing.T) {
	src := newBackend(t)
	tokens := src.fill(t)
	var buf bytes.Buffer
	res, err := archive.Write(context.Background(), &buf, src.reg, damagedStores{src.stores, "acme"}, base)
	if err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	if res.Tenants != 2 || len(res.Skipped) != 1 || res.Skipped[0].TenantID != "acme" || !strings.Contains(res.Skipped[0].Reason, "damaged") {
		t.Fatalf("backup result %+v", res)
	}
	dst := newBackend(t)
	got, err := archive.Read(context.Background(), bytes.NewReader(raw), dst.reg, dst.stores, mnemo.Limits{})
	if err != nil || got.Tenants != 2 || len(got.Skipped) != 1 {
		t.Fatalf("Read: %+v, %v", got, err)
	}
	ctx := context.Background()
	_, tn, err := dst.reg.KeyByHash(ctx, mnemo.HashToken(tokens["acme"]))
	if err != nil || tn.Status != mnemo.TenantSuspended || !strings.Contains(tn.StatusReason, "restored without its memories") ||
		!strings.Contains(tn.StatusReason, "damaged") {
		t.Fatalf("skipped tenant after the restore: %+v, %v", tn, err)
	}
	if c := dst.contents(t, "acme"); len(c.Memories) != 0 {
		t.Fatalf("skipped tenant's store holds %d memories", len(c.Memories))
	}
	if a, b := src.contents(t, "gamma"), dst.contents(t, "gamma"); !reflect.DeepEqual(a, b) {
		t.Fatal("a tenant beside the skipped one was not restored whole")
	}
}

type failingDump struct{ *sqlite.Registry }

func (failingDump) DumpRegistry(context.Context) iter.Seq2[mnemo.RegistryRecord, error] {
	return func(yield func(mnemo.RegistryRecord, error) bool) {
		yield(mnemo.RegistryRecord{}, errors.New("registry unreachable"))
	}
}

// TestBackupWritesNothingOnEarlyError: the Backuper contract.
func TestBackupWritesNothingOnEarlyError(t *testing.T) {
	src := newBackend(t)
	var buf bytes.Buffer
	_, err := (&archive.Backuper{Registry: failingDump{src.reg}, Stores: src.stores}).Backup(context.Background(), &buf, base)
	if err == nil || buf.Len() != 0 {
		t.Fatalf("Backup: %v, wrote %d bytes", err, buf.Len())
	}
}

// members lists an archive's member names.
func members(t *testing.T, raw []byte) []string {
	t.Helper()
	var out []string
	for _, m := range readMembers(t, raw) {
		out = append(out, m.h.Name)
	}
	return out
}

type member struct {
	h    tar.Header
	body []byte
}

func readMembers(t *testing.T, raw []byte) []member {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(gunzip(t, raw)))
	var out []member
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, member{*h, body})
	}
}

func gunzip(t *testing.T, raw []byte) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pack writes members as a tar.gz, each header's size set from its body
// unless the header says otherwise.
func pack(t *testing.T, ms []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range ms {
		h := m.h
		if h.Typeflag == tar.TypeReg || h.Typeflag == 0 {
			h.Size = int64(len(m.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
