//go:build unix

package sqlite_test

import (
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mnemohq/mnemo/sqlite"
)

// TestFilesArePrivate: whatever the umask, every database file (with its
// -wal and -shm) is created 0600 and every directory 0700, in a data
// directory and in one a backup is restored into. Memories are private.
func TestFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022) // the usual default, which leaves files world-readable
	defer syscall.Umask(old)
	d := openDataDir(t, t.TempDir())
	d.addTenant(t, "acme", "acme-token-1")
	mustCreate(t, d.store(t, "acme"), mem("00000000-0000-4000-8000-000000000001", "a private memory", hours(1)))
	checkPrivate(t, d.dir, "registry.db", "registry.db-wal", "registry.db-shm", "tenants/acme/memories.db", "tenants/acme/memories.db-wal")

	archive, _ := backup(t, d)
	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := sqlite.Restore(context.Background(), bytes.NewReader(archive), restored); err != nil {
		t.Fatal(err)
	}
	r := openDataDir(t, restored)
	mustCreate(t, r.store(t, "acme"), mem("00000000-0000-4000-8000-000000000002", "another", hours(2)))
	checkPrivate(t, restored, "registry.db", "tenants/acme/memories.db", "tenants/acme/memories.db-wal")
}

// checkPrivate fails unless every file under dir is 0600 and every
// directory 0700, and the files named are there.
func checkPrivate(t *testing.T, dir string, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		seen[rel] = true
		if wantMode := fs.FileMode(0o600); e.IsDir() && rel != "." {
			if info.Mode().Perm() != 0o700 {
				t.Errorf("directory %s is %v, want drwx------", rel, info.Mode().Perm())
			}
		} else if !e.IsDir() && info.Mode().Perm() != wantMode {
			t.Errorf("file %s is %v, want %v", rel, info.Mode().Perm(), wantMode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("%s was not created (have %v)", w, seen)
		}
	}
}
