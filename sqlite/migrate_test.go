package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// rawDB opens path with the plain driver, outside the package's openDB.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	d.SetMaxOpenConns(1)
	t.Cleanup(func() { d.Close() })
	return d
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var v int
	if err := d.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func schemaObjects(t *testing.T, path string) int {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow(`SELECT COUNT(*) FROM sqlite_master`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// kinds are the two database kinds: a tenant store and the registry.
var kinds = []struct {
	name       string
	file       string
	migrations int
	open       func(ctx context.Context, dir string) (func() error, error)
}{
	{"store", "memories.db", len(storeMigrations), func(ctx context.Context, dir string) (func() error, error) {
		s, err := OpenStore(ctx, filepath.Join(dir, "memories.db"), "m1", 4)
		if err != nil {
			return nil, err
		}
		return s.Close, nil
	}},
	{"registry", "registry.db", len(registryMigrations), func(ctx context.Context, dir string) (func() error, error) {
		r, err := OpenRegistry(ctx, dir)
		if err != nil {
			return nil, err
		}
		return r.Close, nil
	}},
}

func TestSchemaVersionRecorded(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			if k.migrations < 1 {
				t.Fatalf("%s has %d migrations", k.name, k.migrations)
			}
			dir := t.TempDir()
			closeFn, err := k.open(context.Background(), dir)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if err := closeFn(); err != nil {
				t.Fatal(err)
			}
			if v := userVersion(t, filepath.Join(dir, k.file)); v != k.migrations {
				t.Fatalf("user_version = %d, want %d", v, k.migrations)
			}
		})
	}
}

func TestReopenIsNoopAndKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "memories.db")
	s, err := OpenStore(ctx, path, "m1", 4)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := create(ctx, s, []*mnemo.Memory{{ID: "a", Content: "kept across opens", Tags: []string{"t"}, Timestamp: ts, TValid: ts, UpdatedAt: ts, LastAccessed: ts,
		Embedding: []float32{1, 0, 0, 0}, EmbeddingModel: "m1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	objects := schemaObjects(t, path)

	for i := 0; i < 3; i++ {
		s, err := OpenStore(ctx, path, "m1", 4)
		if err != nil {
			t.Fatalf("open #%d: %v", i+2, err)
		}
		m, err := s.Memory(ctx, "a")
		if err != nil || m.Content != "kept across opens" {
			t.Fatalf("open #%d: Memory(a) = %v, %v", i+2, m, err)
		}
		st, err := s.Stats(ctx)
		if err != nil || st.Memories != 1 || st.Vectors != 1 || st.Relations != 0 {
			t.Fatalf("open #%d: Stats = %+v, %v", i+2, st, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if v := userVersion(t, path); v != len(storeMigrations) {
			t.Fatalf("open #%d: user_version = %d, want %d", i+2, v, len(storeMigrations))
		}
		if n := schemaObjects(t, path); n != objects {
			t.Fatalf("open #%d: schema has %d objects, had %d", i+2, n, objects)
		}
	}

	// The registry too.
	r, err := OpenRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	tn := &mnemo.Tenant{ID: "acme", Name: "Acme", Status: mnemo.TenantActive, CreatedAt: ts, UpdatedAt: ts}
	if err := r.CreateTenant(ctx, tn, &mnemo.Key{ID: "k1", TenantID: "acme", Scopes: []string{"read"}, CreatedAt: ts}, mnemo.HashToken("acme-token")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	regObjects := schemaObjects(t, filepath.Join(dir, "registry.db"))
	r, err = OpenRegistry(ctx, dir)
	if err != nil {
		t.Fatalf("reopen registry: %v", err)
	}
	defer r.Close()
	if _, got, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token")); err != nil || got.ID != "acme" {
		t.Fatalf("Authenticate after reopen = %v, %v", got, err)
	}
	if v := userVersion(t, filepath.Join(dir, "registry.db")); v != len(registryMigrations) {
		t.Fatalf("registry user_version = %d, want %d", v, len(registryMigrations))
	}
	if n := schemaObjects(t, filepath.Join(dir, "registry.db")); n != regObjects {
		t.Fatalf("registry schema has %d objects, had %d", n, regObjects)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, k.file)
			d := rawDB(t, path)
			if _, err := d.Exec(`CREATE TABLE future (x INTEGER)`); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Exec(`PRAGMA user_version = 999`); err != nil {
				t.Fatal(err)
			}
			d.Close()

			closeFn, err := k.open(context.Background(), dir)
			if err == nil {
				closeFn()
				t.Fatal("opening a database from a newer binary succeeded")
			}
			for _, want := range []string{path, "schema version 999 is newer than this binary knows"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if v := userVersion(t, path); v != 999 {
				t.Errorf("user_version after refused open = %d, want 999 untouched", v)
			}
			// Nothing of this binary's schema was added.
			if n := schemaObjects(t, path); n != 1 {
				t.Errorf("schema has %d objects after refused open, want 1", n)
			}
		})
	}
}

func TestOneVersionAheadRefused(t *testing.T) {
	// The boundary: exactly one more than this binary knows is refused, and
	// exactly the known version opens.
	dir := t.TempDir()
	path := filepath.Join(dir, "memories.db")
	s, err := OpenStore(context.Background(), path, "m1", 4)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	d := rawDB(t, path)
	if _, err := d.Exec(`PRAGMA user_version = ` + strconv.Itoa(len(storeMigrations)+1)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if s, err := OpenStore(context.Background(), path, "m1", 4); err == nil {
		s.Close()
		t.Fatalf("user_version %d opened", len(storeMigrations)+1)
	}
	d = rawDB(t, path)
	if _, err := d.Exec(`PRAGMA user_version = ` + strconv.Itoa(len(storeMigrations))); err != nil {
		t.Fatal(err)
	}
	d.Close()
	s, err = OpenStore(context.Background(), path, "m1", 4)
	if err != nil {
		t.Fatalf("current version refused: %v", err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// A migration that fails part-way leaves the database as it was: no half
// schema, and the version unchanged, so a fixed binary can migrate it.
func TestFailedMigrationRollsBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "memories.db")
	d := rawDB(t, path)
	// "counters" is created near the end of the first migration.
	if _, err := d.Exec(`CREATE TABLE counters (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if s, err := OpenStore(context.Background(), path, "m1", 4); err == nil {
		s.Close()
		t.Fatal("migration over a conflicting table succeeded")
	} else if !strings.Contains(err.Error(), "to version 1") {
		t.Errorf("error %q does not name the version being migrated to", err)
	}
	if v := userVersion(t, path); v != 0 {
		t.Errorf("user_version after failed migration = %d, want 0", v)
	}
	if n := schemaObjects(t, path); n != 1 {
		t.Errorf("schema has %d objects after failed migration, want only the pre-existing table", n)
	}
}
