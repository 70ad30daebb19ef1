package sqlite_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/sqlite"
)

// dataDir is a data directory opened as the server opens it.
type dataDir struct {
	dir    string
	reg    *sqlite.Registry
	stores *sqlite.Stores
}

func openDataDir(t *testing.T, dir string) *dataDir {
	t.Helper()
	ctx := context.Background()
	reg, err := sqlite.OpenRegistry(ctx, dir)
	if err != nil {
		t.Fatalf("OpenRegistry: %v", err)
	}
	stores, err := sqlite.NewStores(context.Background(), dir, testModel, 4, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("NewStores: %v", err)
	}
	d := &dataDir{dir: dir, reg: reg, stores: stores}
	t.Cleanup(d.close)
	return d
}

func (d *dataDir) close() {
	if d.stores != nil {
		d.stores.Close()
		d.reg.Close()
		d.stores, d.reg = nil, nil
	}
}

func (d *dataDir) addTenant(t *testing.T, id, token string) {
	t.Helper()
	mustCreateTenant(t, d.reg, tenant(id, base), token)
	if err := d.stores.Create(context.Background(), id); err != nil {
		t.Fatalf("create store %s: %v", id, err)
	}
}

func (d *dataDir) store(t *testing.T, id string) *sqlite.Store {
	t.Helper()
	st, release, err := d.stores.Open(context.Background(), id)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	t.Cleanup(release)
	return st.(*sqlite.Store)
}

type member struct {
	name string
	typ  byte
	body []byte
}

func readArchive(t *testing.T, b []byte) []member {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []member
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out = append(out, member{h.Name, h.Typeflag, body})
	}
}

func writeArchive(t *testing.T, members []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Mode: 0o600, Size: int64(len(m.body))}
		if m.typ == tar.TypeSymlink {
			h.Linkname, h.Size = "/etc/passwd", 0
		}
		if m.typ == tar.TypeDir {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(m.body)
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func backup(t *testing.T, d *dataDir) ([]byte, mnemo.BackupResult) {
	t.Helper()
	var buf bytes.Buffer
	res, err := d.reg.Backup(context.Background(), &buf, base)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	return buf.Bytes(), res
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openDataDir(t, t.TempDir())
	src.addTenant(t, "acme", "acme-token-1")
	src.addTenant(t, "beta", "beta-token-1")
	extra := key("key_extra", "acme", "acme-token-2", nil)
	if err := src.reg.AddKey(ctx, extra, mnemo.HashToken("acme-token-2")); err != nil {
		t.Fatal(err)
	}
	if err := src.reg.RevokeKey(ctx, "beta", "key_beta", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	exportFixture(t, src.store(t, "acme"))
	mustCreate(t, src.store(t, "beta"), withVec(mem("00000000-0000-4000-8000-0000000000b1", "beta's only memory", hours(1)), testModel, 0, 1, 0, 0))

	archive, res := backup(t, src)
	if res.Tenants != 2 || len(res.Vanished) != 0 {
		t.Fatalf("BackupResult = %+v", res)
	}
	members := readArchive(t, archive)
	var names []string
	for _, m := range members {
		names = append(names, m.name)
	}
	wantNames := []string{"manifest.json", "tenants/", "tenants/acme/", "tenants/acme/memories.db", "tenants/beta/", "tenants/beta/memories.db", "registry.db"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("archive members %v, want %v", names, wantNames)
	}
	// The schema versions are those of the live databases.
	wantManifest := fmt.Sprintf("{\n  \"format\": \"mnemo-backup\",\n  \"version\": 1,\n  \"created_at\": \"2024-03-01T12:00:00+00:00\",\n  \"registry_schema\": %d,\n  \"tenant_schema\": %d\n}",
		schemaVersion(t, filepath.Join(src.dir, "registry.db")), schemaVersion(t, filepath.Join(src.dir, "tenants", "acme", "memories.db")))
	if string(members[0].body) != wantManifest {
		t.Fatalf("manifest:\n%s\nwant:\n%s", members[0].body, wantManifest)
	}

	restored := filepath.Join(t.TempDir(), "restored", "data")
	man, err := sqlite.Restore(ctx, bytes.NewReader(archive), restored)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if man.Version != 1 || man.CreatedAt != "2024-03-01T12:00:00+00:00" {
		t.Fatalf("manifest %+v", man)
	}
	entries, _ := os.ReadDir(restored)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, []string{"registry.db", "tenants"}) {
		t.Fatalf("restored directory holds %v", got)
	}

	dst := openDataDir(t, restored)
	srcTenants, _, _ := src.reg.Tenants(ctx, 10, 0)
	dstTenants, _, _ := dst.reg.Tenants(ctx, 10, 0)
	// Disk sizes differ (VACUUM compacts); everything else is equal.
	for _, ts := range [][]*mnemo.Tenant{srcTenants, dstTenants} {
		for _, tn := range ts {
			tn.Stats.StorageBytes = 0
		}
	}
	if !reflect.DeepEqual(srcTenants, dstTenants) || len(dstTenants) != 2 {
		t.Fatalf("tenants %+v, want %+v", dstTenants, srcTenants)
	}
	for _, id := range []string{"acme", "beta"} {
		a, _ := src.reg.Keys(ctx, id)
		b, _ := dst.reg.Keys(ctx, id)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("keys of %s: %+v, want %+v", id, b, a)
		}
		want := exportLines(t, src.store(t, id), id, true)
		if got := exportLines(t, dst.store(t, id), id, true); !reflect.DeepEqual(got, want) {
			t.Fatalf("tenant %s restored as\n%s\nwant\n%s", id, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	for token, want := range map[string]string{"acme-token-1": "acme", "acme-token-2": "acme"} {
		_, tn, err := dst.reg.KeyByHash(ctx, mnemo.HashToken(token))
		if err != nil || tn.ID != want {
			t.Fatalf("Authenticate(%s) = %v, %v", token, tn, err)
		}
	}
	_, _, err = dst.reg.KeyByHash(ctx, mnemo.HashToken("beta-token-1"))
	wantCode(t, "revoked key after restore", err, mnemo.EUNAUTHORIZED)
	hits, err := dst.store(t, "beta").Nearest(ctx, []float32{0, 1, 0, 0}, mnemo.Filter{}, 5)
	if err != nil || len(hits) != 1 || hits[0].Memory.ID != "00000000-0000-4000-8000-0000000000b1" {
		t.Fatalf("vector search after restore: %v %v", hitIDs(hits), err)
	}
	// No staging directory is left behind on either side.
	for _, dir := range []string{src.dir, restored} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Fatalf("%s left in %s", e.Name(), dir)
			}
		}
	}
}

// TestBackupOfAStoppedDataDir: the CLI may back up a directory no server
// has open, whose WAL files are gone.
func TestBackupOfAStoppedDataDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openDataDir(t, dir)
	d.addTenant(t, "acme", "acme-token-1")
	mustCreate(t, d.store(t, "acme"), mem("00000000-0000-4000-8000-000000000001", "kept", hours(1)))
	d.close()
	var buf bytes.Buffer
	res, err := sqlite.BackupDir(ctx, dir, &buf, base)
	if err != nil || res.Tenants != 1 {
		t.Fatalf("BackupDir = %+v, %v", res, err)
	}
	restored := t.TempDir() // exists and is empty
	if _, err := sqlite.Restore(ctx, bytes.NewReader(buf.Bytes()), restored); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	r := openDataDir(t, restored)
	m, err := r.store(t, "acme").Memory(ctx, "00000000-0000-4000-8000-000000000001")
	if err != nil || m.Content != "kept" {
		t.Fatalf("restored memory: %v %v", m, err)
	}

	_, err = sqlite.BackupDir(ctx, t.TempDir(), &buf, base)
	if err == nil || !strings.Contains(err.Error(), "is not a mnemo data directory") {
		t.Fatalf("BackupDir of an empty directory: %v", err)
	}
}

// TestBackupLeavesOutDeletedTenants: a tenant the registry copy lists whose
// data is gone by the time it is copied was deleted meanwhile; the archived
// registry drops it too, so a restore never has a tenant without data.
func TestBackupLeavesOutDeletedTenants(t *testing.T) {
	ctx := context.Background()
	d := openDataDir(t, t.TempDir())
	d.addTenant(t, "acme", "acme-token-1")
	mustCreateTenant(t, d.reg, tenant("ghost", base), "ghost-token-1") // no data directory
	archive, res := backup(t, d)
	if res.Tenants != 1 || !reflect.DeepEqual(res.Vanished, []string{"ghost"}) {
		t.Fatalf("BackupResult = %+v", res)
	}
	restored := filepath.Join(t.TempDir(), "r")
	if _, err := sqlite.Restore(ctx, bytes.NewReader(archive), restored); err != nil {
		t.Fatal(err)
	}
	r := openDataDir(t, restored)
	_, err := r.reg.Tenant(ctx, "ghost")
	wantCode(t, "deleted tenant after restore", err, mnemo.ENOTFOUND)
	_, _, err = r.reg.KeyByHash(ctx, mnemo.HashToken("ghost-token-1"))
	wantCode(t, "deleted tenant's key after restore", err, mnemo.EUNAUTHORIZED)
	if _, err := r.reg.Tenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
}

// TestBackupDuringWrites: a backup taken while a writer stores memories,
// each with its vector and a relation to the one before in one
// transaction, restores whole transactions only.
func TestBackupDuringWrites(t *testing.T) {
	ctx := context.Background()
	d := openDataDir(t, t.TempDir())
	d.addTenant(t, "busy", "busy-token-1")
	st := d.store(t, "busy")
	id := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	var written atomic.Int64
	write := func(i int) error {
		m := withVec(mem(id(i), fmt.Sprintf("memory number %d", i), hours(i)), testModel, float32(i), 1, 2, 3)
		var rels []mnemo.Relation
		if i > 0 {
			rels = []mnemo.Relation{{From: id(i), To: id(i - 1), Type: "LEADS_TO", Strength: 0.5, UpdatedAt: hours(i)}}
		}
		_, _, err := st.Import(ctx, []*mnemo.Memory{m}, rels, mnemo.Quotas{})
		if err == nil {
			written.Store(int64(i + 1))
		}
		return err
	}
	for i := 0; i < 200; i++ {
		if err := write(i); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 200; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := write(i); err != nil {
				writeErr = err
				return
			}
		}
	}()
	// Let the writer get going, then back up while it runs.
	for written.Load() < 220 {
		time.Sleep(time.Millisecond)
	}
	before := written.Load()
	var buf bytes.Buffer
	_, err := d.reg.Backup(ctx, &buf, base)
	after := written.Load()
	close(stop)
	wg.Wait()
	if err != nil || writeErr != nil {
		t.Fatalf("Backup: %v; writer: %v", err, writeErr)
	}
	if after <= before {
		t.Fatalf("no write happened during the backup (%d before, %d after)", before, after)
	}

	restored := filepath.Join(t.TempDir(), "r")
	if _, err := sqlite.Restore(ctx, bytes.NewReader(buf.Bytes()), restored); err != nil {
		t.Fatal(err)
	}
	r := openDataDir(t, restored)
	rs := r.store(t, "busy")
	stats, err := rs.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := stats.Memories
	if n < before || n > after {
		t.Fatalf("restored %d memories; the backup ran while %d..%d were written", n, before, after)
	}
	if stats.Vectors != n || stats.Relations != n-1 {
		t.Fatalf("restored %d memories, %d vectors, %d relations: want %d, %d", n, stats.Vectors, stats.Relations, n, n-1)
	}
	// The memories are a prefix of what was written, each with its vector
	// and its relation.
	mems, err := rs.List(ctx, mnemo.Filter{}, mnemo.OrderTimeAsc, int(n)+10, 0)
	if err != nil || int64(len(mems)) != n {
		t.Fatalf("List: %d, %v", len(mems), err)
	}
	for i, m := range mems {
		if m.ID != id(i) || m.Content != fmt.Sprintf("memory number %d", i) {
			t.Fatalf("memory %d is %s %q", i, m.ID, m.Content)
		}
		if i > 0 {
			nb, err := rs.Neighbors(ctx, m.ID, nil, true, 5)
			if err != nil || len(nb) != 1 || nb[0].Memory.ID != id(i-1) {
				t.Fatalf("relation of memory %d: %v", i, err)
			}
		}
	}
	if unemb, _ := rs.Unembedded(ctx, 10); len(unemb) != 0 {
		t.Fatalf("restored memories without a vector: %v", memIDs(unemb))
	}
	// The registry's counters are reconciled with the data when the store
	// opens.
	tn, _ := r.reg.Tenant(ctx, "busy")
	if tn.Stats.Memories != n || tn.Stats.Vectors != n {
		t.Fatalf("registry stats after restore: %+v, want %d memories and vectors", tn.Stats, n)
	}
}

func TestRestoreRefusesNonEmptyDir(t *testing.T) {
	ctx := context.Background()
	d := openDataDir(t, t.TempDir())
	d.addTenant(t, "acme", "acme-token-1")
	archive, _ := backup(t, d)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine"), 0o600)
	_, err := sqlite.Restore(ctx, bytes.NewReader(archive), dir)
	if err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("Restore into a non-empty directory: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "keep.txt" {
		t.Fatalf("directory changed: %v", entries)
	}
}

func TestRestoreRejectsBadArchives(t *testing.T) {
	ctx := context.Background()
	d := openDataDir(t, t.TempDir())
	d.addTenant(t, "acme", "acme-token-1")
	mustCreateTenant(t, d.reg, tenant("beta", base), "beta-token-1")
	if err := d.stores.Create(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	archive, _ := backup(t, d)
	good := readArchive(t, archive)
	byName := map[string][]byte{}
	for _, m := range good {
		byName[m.name] = m.body
	}
	manifest := func(version int, format string) []byte {
		b, _ := json.Marshal(map[string]any{"format": format, "version": version, "registry_schema": 2, "tenant_schema": 2})
		return b
	}
	man := member{"manifest.json", tar.TypeReg, byName["manifest.json"]}
	reg := member{"registry.db", tar.TypeReg, byName["registry.db"]}
	acme := member{"tenants/acme/memories.db", tar.TypeReg, byName["tenants/acme/memories.db"]}
	beta := member{"tenants/beta/memories.db", tar.TypeReg, byName["tenants/beta/memories.db"]}
	truncated := archive[:len(archive)/2]

	cases := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"not gzip", []byte("plain text"), "not a gzip archive"},
		{"truncated", truncated, "unexpected EOF"},
		{"no manifest first", writeArchive(t, []member{reg, man}), "does not start with manifest.json"},
		{"other format", writeArchive(t, []member{{"manifest.json", tar.TypeReg, manifest(1, "automem-backup")}, reg}), `manifest format is "automem-backup"`},
		{"future version", writeArchive(t, []member{{"manifest.json", tar.TypeReg, manifest(2, "mnemo-backup")}, reg}), "backup format version 2 is not supported"},
		{"parent traversal", writeArchive(t, []member{man, {"../evil.db", tar.TypeReg, []byte("x")}}), `unexpected archive member "../evil.db"`},
		{"traversal inside tenants", writeArchive(t, []member{man, {"tenants/../../evil.db", tar.TypeReg, []byte("x")}}), `unexpected archive member "tenants/../../evil.db"`},
		{"absolute path", writeArchive(t, []member{man, {"/tmp/evil.db", tar.TypeReg, []byte("x")}}), `unexpected archive member "/tmp/evil.db"`},
		{"bad tenant id", writeArchive(t, []member{man, {"tenants/Bad.Id/memories.db", tar.TypeReg, []byte("x")}}), `unexpected archive member "tenants/Bad.Id/memories.db"`},
		{"unknown file", writeArchive(t, []member{man, {"tenants/acme/evil.sh", tar.TypeReg, []byte("x")}}), `unexpected archive member "tenants/acme/evil.sh"`},
		{"symlink", writeArchive(t, []member{man, {"registry.db", tar.TypeSymlink, nil}}), `unexpected archive member "registry.db"`},
		{"duplicate member", writeArchive(t, []member{man, reg, reg}), "registry.db: open"},
		{"no registry", writeArchive(t, []member{man, acme, beta}), "the archive has no registry.db"},
		{"tenant without data", writeArchive(t, []member{man, acme, reg}), `the registry lists tenant "beta" but the archive has no tenants/beta/memories.db`},
		{"damaged database", writeArchive(t, []member{man, acme, {"tenants/beta/memories.db", tar.TypeReg, []byte("not sqlite at all, just bytes")}, reg}), "tenants/beta/memories.db: not a readable SQLite database"},
		{"empty", writeArchive(t, nil), "the archive is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "data")
			_, err := sqlite.Restore(ctx, bytes.NewReader(c.archive), dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Restore: %v; want an error containing %q", err, c.want)
			}
			// Nothing is left: not the directory Restore created, nor any
			// file outside it.
			var left []string
			filepath.WalkDir(parent, func(p string, _ fs.DirEntry, _ error) error {
				if p != parent {
					left = append(left, p)
				}
				return nil
			})
			if len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(parent), "evil.db")); err == nil {
				t.Fatal("a member escaped the target directory")
			}
		})
	}
	// And the good archive restores.
	if _, err := sqlite.Restore(ctx, bytes.NewReader(writeArchive(t, []member{man, acme, beta, reg})), filepath.Join(t.TempDir(), "ok")); err != nil {
		t.Fatalf("good archive: %v", err)
	}
}

// TestSnapshotIsConsistentWhileAnotherConnectionWrites checks the property
// the backup relies on, through a connection of its own as another process
// would have: a write transaction open during the copy is not in it.
func TestSnapshotIsConsistentWhileAnotherConnectionWrites(t *testing.T) {
	ctx := context.Background()
	d := openDataDir(t, t.TempDir())
	d.addTenant(t, "acme", "acme-token-1")
	mustCreate(t, d.store(t, "acme"), mem("00000000-0000-4000-8000-000000000001", "committed", hours(1)))
	path := filepath.Join(d.dir, "tenants", "acme", "memories.db")
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE memories SET content = 'uncommitted'`); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done := make(chan error, 1)
	go func() { _, err := sqlite.BackupDir(ctx, d.dir, &buf, base); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("BackupDir while a write transaction is open: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("BackupDir waited for a writer")
	}
	tx.Rollback()
	restored := filepath.Join(t.TempDir(), "r")
	if _, err := sqlite.Restore(ctx, bytes.NewReader(buf.Bytes()), restored); err != nil {
		t.Fatal(err)
	}
	r := openDataDir(t, restored)
	m, err := r.store(t, "acme").Memory(ctx, "00000000-0000-4000-8000-000000000001")
	if err != nil || m.Content != "committed" {
		t.Fatalf("restored %v %v", m, err)
	}
}

func schemaVersion(t *testing.T, path string) int {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var v int
	if err := d.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v < 2 {
		t.Fatalf("user_version of %s: %d, %v", path, v, err)
	}
	return v
}
