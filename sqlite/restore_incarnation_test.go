package sqlite

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// backupOf returns an archive of the data directory of reg, as GET /backup
// makes it.
func backupOf(t *testing.T, reg *Registry) []byte {
	t.Helper()
	var archive bytes.Buffer
	if _, err := reg.Backup(context.Background(), &archive, time.Now()); err != nil {
		t.Fatal(err)
	}
	return archive.Bytes()
}

// storeWith opens tenant id of p, stores a memory in it and releases it.
func storeWith(t *testing.T, p *Stores, id string, m *mnemo.Memory) {
	t.Helper()
	st, release := mustOpen(t, p, id)
	defer release()
	if err := create(context.Background(), st, []*mnemo.Memory{m}); err != nil {
		t.Fatal(err)
	}
}

// memoryIDs opens the data directory anew and lists which of ids tenant id
// holds.
func memoryIDs(t *testing.T, dataDir, id string, ids ...string) []string {
	t.Helper()
	p, _ := newStores(t, dataDir)
	st, release := mustOpen(t, p, id)
	defer release()
	var out []string
	for _, mid := range ids {
		if _, err := st.Memory(context.Background(), mid); err == nil {
			out = append(out, mid)
		}
	}
	return out
}

// A backup taken before tenant acme was deleted and its id given to
// another customer holds the old customer's memories: restore --tenant
// refuses to put them into the new acme, also with force, names both
// incarnations, and touches nothing. A backup of the new acme restores,
// and says which incarnation it restored.
func TestRestoreTenantRefusesAnotherIncarnation(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, reg := newStores(t, dataDir)
	mustCreateStore(t, p, "acme")
	storeWith(t, p, "acme", mem("old-1", "old customer's secret", hours(1)))
	oldArchive := backupOf(t, reg)

	if err := reg.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := p.Drop(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	// The same creation time as the first acme (tenant() uses base): only
	// the incarnation tells them apart.
	mustCreateStore(t, p, "acme")
	if tn, _ := reg.Tenant(ctx, "acme"); tn.Incarnation != 2 {
		t.Fatalf("incarnation %d, want 2", tn.Incarnation)
	}
	storeWith(t, p, "acme", mem("new-1", "new customer's memory", hours(2)))
	newArchive := backupOf(t, reg)
	p.Close()
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}

	// The new customer's store is damaged; the operator reaches for the
	// old backup.
	path := filepath.Join(dataDir, "tenants", "acme", storeName)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	want := `restore: the backup's tenant "acme" is incarnation 1, created ` + mnemo.FormatTime(base) +
		`, but the live one is incarnation 2, created ` + mnemo.FormatTime(base) +
		`: the id was deleted and created again, and the backup holds the earlier tenant's memories; refused, also with --force (use a backup taken since ` +
		mnemo.FormatTime(base) + `)`
	for _, force := range []bool{false, true} {
		_, err := RestoreTenant(ctx, bytes.NewReader(oldArchive), dataDir, "acme", force)
		if err == nil || err.Error() != want {
			t.Fatalf("restore of the old acme (force %v): %v\nwant %s", force, err, want)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
			t.Fatalf("the refused restore changed the store: %v, %v", fi, err)
		}
		if names := dirNames(t, filepath.Join(dataDir, "tenants")); len(names) != 1 || names[0] != "acme" {
			t.Fatalf("the refused restore left %v in tenants/", names)
		}
	}

	res, err := RestoreTenant(ctx, bytes.NewReader(newArchive), dataDir, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Incarnation != 2 || !res.CreatedAt.Equal(base) || res.Manifest.Format != BackupFormat {
		t.Fatalf("restored %+v, want incarnation 2 created %v", res, base)
	}
	if got := memoryIDs(t, dataDir, "acme", "old-1", "new-1"); len(got) != 1 || got[0] != "new-1" {
		t.Fatalf("the restored acme holds %v, want [new-1]", got)
	}
}

// --force rolls a healthy store back, losing what was written since the
// backup: refused while a server holds the registry open (its newer,
// acknowledged writes would be lost under it), done once it has stopped.
func TestRestoreTenantForceRefusedWhileServerRuns(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, reg := newStores(t, dataDir)
	mustCreateStore(t, p, "acme")
	storeWith(t, p, "acme", mem("before", "in the backup", hours(1)))
	archive := backupOf(t, reg)
	storeWith(t, p, "acme", mem("after", "acknowledged after the backup", hours(2)))

	// The server runs: its registry is open, its store idle or not.
	_, err := RestoreTenant(ctx, bytes.NewReader(archive), dataDir, "acme", true)
	if err == nil || !strings.Contains(err.Error(), "restore: a server (or a backup) is using "+filepath.Join(dataDir, registryName)+"; --force replaces") ||
		!strings.HasSuffix(err.Error(), "stop the server, then run the restore again") {
		t.Fatalf("restore --force under a running server: %v", err)
	}
	st, release := mustOpen(t, p, "acme")
	if _, err := st.Memory(ctx, "after"); err != nil {
		t.Fatalf("the refused restore lost an acknowledged write: %v", err)
	}
	release()

	// Stopped, the same restore rolls the store back.
	p.Close()
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := RestoreTenant(ctx, bytes.NewReader(archive), dataDir, "acme", true)
	if err != nil || res.Incarnation != 1 {
		t.Fatalf("restore --force with the server stopped: %+v, %v", res, err)
	}
	if got := memoryIDs(t, dataDir, "acme", "before", "after"); len(got) != 1 || got[0] != "before" {
		t.Fatalf("the rolled back acme holds %v, want [before]", got)
	}
}
