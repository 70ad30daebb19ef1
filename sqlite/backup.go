package sqlite

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mnemohq/mnemo"
)

// Backup archive format. The archive is a tar.gz whose first member is
// manifest.json; then tenants/<id>/memories.db for every tenant; then, when
// a tenant's store could not be read, skipped.json naming those tenants;
// then registry.db. Each database is a consistent snapshot taken with VACUUM
// INTO, which reads inside one transaction and so works while the server
// keeps writing, from this process or another one.
const (
	BackupFormat  = "mnemo-backup"
	BackupVersion = 1

	manifestName = "manifest.json"
	registryName = "registry.db"
	storeName    = "memories.db"
	backupTemp   = ".backup-"
	backupLock   = "lock"
	skippedName  = "skipped.json"
)

// BackupManifest is manifest.json, the first member of a backup archive.
type BackupManifest struct {
	Format    string `json:"format"`
	Version   int    `json:"version"`
	CreatedAt string `json:"created_at"`
	// Schema versions of the databases, so that a restore into a binary
	// that is too old fails before it unpacks anything.
	RegistrySchema int `json:"registry_schema"`
	TenantSchema   int `json:"tenant_schema"`
}

// BackupSkipped is skipped.json: the tenants a backup left out because
// their store could not be read. The archive holds every other tenant.
type BackupSkipped struct {
	Skipped []mnemo.DamagedStore `json:"skipped"`
}

// Backup writes a tar.gz of the registry's data directory to w, as
// BackupDir does, after writing what the registry holds in memory, so the
// archive has the usage and counters up to now.
func (r *Registry) Backup(ctx context.Context, w io.Writer, now time.Time) (mnemo.BackupResult, error) {
	if err := r.Flush(ctx); err != nil {
		return mnemo.BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	return BackupDir(ctx, filepath.Dir(r.db.path), w, now)
}

// BackupDir writes a tar.gz of the data directory dataDir to w while a
// server may be running on it, in this process or another.
//
// The registry is copied first, and it decides which tenants the archive
// holds: a tenant created after that copy is left out (its keys are not in
// it either), and a tenant deleted before its data is copied is removed
// from the archived registry. So every tenant of a restored registry has
// its data, and the archive never holds data without its keys.
//
// A tenant whose store cannot be read (it fails checkFile, or SQLite
// cannot copy it) is skipped: its data is left out, it is named in
// skipped.json and in the result, and every other tenant is still saved.
// It stays in the archived registry, so a restore keeps its keys and the
// restored server marks it damaged.
//
// Nothing is written to w until the registry is copied, so a caller can
// still answer with an error when that fails. Snapshots are staged one at a
// time in a temporary directory inside dataDir (the same disk as the data,
// which is writable, unlike a read-only root file system's /tmp): the space
// needed is that of the largest database.
func BackupDir(ctx context.Context, dataDir string, w io.Writer, now time.Time) (mnemo.BackupResult, error) {
	var res mnemo.BackupResult
	regPath := filepath.Join(dataDir, registryName)
	if _, err := os.Stat(regPath); err != nil {
		return res, fmt.Errorf("backup: %s is not a mnemo data directory: %w", dataDir, err)
	}
	clearStaleTemps(dataDir, now)
	tmp, done, err := newStaging(dataDir)
	if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	defer done()

	regSnap := filepath.Join(tmp, registryName)
	if err := vacuumInto(ctx, regPath, regSnap); err != nil {
		return res, fmt.Errorf("backup registry: %w", err)
	}
	tenants, err := snapshotTenants(ctx, regSnap)
	if err != nil {
		return res, fmt.Errorf("backup registry: %w", err)
	}
	holding, err := tenantsHoldingData(ctx, regSnap)
	if err != nil {
		return res, fmt.Errorf("backup registry: %w", err)
	}

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	manifest, _ := json.MarshalIndent(BackupManifest{Format: BackupFormat, Version: BackupVersion,
		CreatedAt: mnemo.FormatTime(now), RegistrySchema: len(registryMigrations), TenantSchema: len(storeMigrations)}, "", "  ")
	if err := addBytes(tw, manifestName, manifest, now); err != nil {
		return res, err
	}
	if err := addDir(tw, "tenants/", now); err != nil {
		return res, err
	}
	for _, id := range tenants {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		src := filepath.Join(dataDir, "tenants", id, storeName)
		dst := filepath.Join(tmp, "tenant.db")
		// Deleted since the registry was copied (its directory is renamed
		// away after its registry row goes), or never made and empty: left
		// out. A missing directory that held data is skipped below.
		if _, err := os.Stat(filepath.Dir(src)); errors.Is(err, fs.ErrNotExist) && (!holding[id] || !tenantExists(ctx, regPath, id)) {
			res.Vanished = append(res.Vanished, id)
			continue
		}
		reason, err := checkFile(src, func() bool { return holding[id] })
		if err == nil && reason == "" {
			err = vacuumInto(ctx, src, dst)
			if err != nil && isCorrupt(err) {
				reason, err = "SQLite cannot read it: "+err.Error(), nil
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if _, statErr := os.Stat(src); errors.Is(statErr, fs.ErrNotExist) && !tenantExists(ctx, regPath, id) {
				res.Vanished = append(res.Vanished, id)
				continue
			}
			reason = "it could not be read: " + err.Error()
		}
		if reason != "" {
			os.Remove(dst)
			res.Skipped = append(res.Skipped, mnemo.DamagedStore{TenantID: id, Reason: reason, Since: now})
			continue
		}
		if err := addDir(tw, "tenants/"+id+"/", now); err != nil {
			return res, err
		}
		if err := addFile(tw, "tenants/"+id+"/"+storeName, dst, now); err != nil {
			return res, err
		}
		if err := os.Remove(dst); err != nil {
			return res, err
		}
		res.Tenants++
	}
	if len(res.Vanished) > 0 {
		if err := forgetTenants(ctx, regSnap, res.Vanished); err != nil {
			return res, fmt.Errorf("backup registry: %w", err)
		}
	}
	if len(res.Skipped) > 0 {
		b, _ := json.MarshalIndent(BackupSkipped{Skipped: res.Skipped}, "", "  ")
		if err := addBytes(tw, skippedName, b, now); err != nil {
			return res, err
		}
	}
	if err := addFile(tw, registryName, regSnap, now); err != nil {
		return res, err
	}
	if err := tw.Close(); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	if err := gz.Close(); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	return res, nil
}

// clearStaleTemps removes the staging directories of backups that ended
// without removing them (a crash, a kill). A running backup holds a lock
// on its staging directory's lock file, in this process or another, so
// only abandoned ones go; one without a lock file is either that old
// format or a backup that has just begun, and goes after a minute.
func clearStaleTemps(dataDir string, now time.Time) {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), backupTemp) {
			continue
		}
		dir := filepath.Join(dataDir, e.Name())
		lock, err := os.Open(filepath.Join(dir, backupLock))
		if err != nil {
			if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > time.Minute {
				os.RemoveAll(dir)
			}
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		lock.Close()
	}
}

// newStaging makes a locked staging directory in dataDir; done removes it.
func newStaging(dataDir string) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp(dataDir, backupTemp)
	if err != nil {
		return "", nil, err
	}
	lock, err := lockStaging(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, func() {
		lock.Close()
		os.RemoveAll(dir)
	}, nil
}

// lockStaging takes the lock that tells clearStaleTemps a backup is using
// dir; it is released when the returned file is closed, or the process
// ends.
func lockStaging(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, backupLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readOnlyDSN opens path read-only: the connection never creates the file
// and never writes to it, so it is safe beside a running server.
func readOnlyDSN(path string) string {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// snapshot copies the database at src into the new file dst with VACUUM
// INTO: one read transaction, so the copy is consistent even while another
// connection or process writes; WAL lets those writes go on meanwhile.
func vacuumInto(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return err
	}
	if err := createPrivate(dst); err != nil { // VACUUM INTO fills an empty file
		return err
	}
	conn, err := sql.Open("sqlite", readOnlyDSN(src))
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("snapshot %s: %w", src, err)
	}
	return nil
}

// snapshotTenants lists the tenant ids of a registry snapshot.
func snapshotTenants(ctx context.Context, regSnap string) ([]string, error) {
	conn, err := sql.Open("sqlite", readOnlyDSN(regSnap))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `SELECT id FROM tenants ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		// Ids name paths: one that breaks the rule is never followed.
		if err := mnemo.ValidateTenantID(id); err != nil {
			return nil, fmt.Errorf("registry holds an invalid tenant id %q", id)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// tenantsHoldingData lists the tenants of a registry snapshot whose
// counters say they hold memories or relations: for them a missing or
// empty database file is lost data, not a new tenant.
func tenantsHoldingData(ctx context.Context, regSnap string) (map[string]bool, error) {
	conn, err := sql.Open("sqlite", readOnlyDSN(regSnap))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `SELECT id FROM tenants WHERE memories > 0 OR relations > 0`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// tenantExists reports whether the live registry still lists id, to tell
// a tenant deleted while the backup ran from one whose files are lost.
// When the registry cannot say, the tenant is taken to exist.
func tenantExists(ctx context.Context, regPath, id string) bool {
	conn, err := sql.Open("sqlite", readOnlyDSN(regPath))
	if err != nil {
		return true
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenants WHERE id = ?`, id).Scan(&n); err != nil {
		return true
	}
	return n > 0
}

// forgetTenants deletes tenants (their keys go by cascade) from a registry
// snapshot.
func forgetTenants(ctx context.Context, regSnap string, ids []string) error {
	conn, err := sql.Open("sqlite", "file:"+(&url.URL{Path: regSnap}).EscapedPath()+"?_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, id := range ids {
		if _, err := conn.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, id); err != nil {
			return err
		}
	}
	return nil
}

func addDir(tw *tar.Writer, name string, at time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o700, ModTime: at}); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

func addBytes(tw *tar.Writer, name string, b []byte, at time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: at}); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

func addFile(tw *tar.Writer, name, src string, at time.Time) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: fi.Size(), ModTime: at}); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	return nil
}

// Restore unpacks a backup archive into dataDir, which must be missing or
// empty. The manifest must come first and carry a known format and
// version. Only the names a backup writes are accepted (registry.db and
// tenants/<valid id>/memories.db), so no member can land outside dataDir,
// whatever its name says. Members are unpacked into a staging directory
// inside dataDir (the same file system, so moving them is a rename),
// checked (SQLite's quick_check, schema versions) and synced; only then are
// tenants/ and, last, registry.db moved into place. A failed restore leaves
// dataDir as it found it.
func Restore(ctx context.Context, r io.Reader, dataDir string) (man BackupManifest, err error) {
	dataDir = filepath.Clean(dataDir)
	stage, done, err := stageNewDataDir(dataDir)
	if err != nil {
		return man, err
	}
	defer func() { done(err) }()

	files, man, err := unpack(ctx, r, stage)
	if err != nil {
		return man, err
	}
	if _, err := os.Stat(filepath.Join(stage, registryName)); err != nil {
		return man, fmt.Errorf("restore: the archive has no %s (truncated?)", registryName)
	}
	for _, name := range files {
		if err := checkDatabase(ctx, filepath.Join(stage, filepath.FromSlash(name))); err != nil {
			return man, fmt.Errorf("restore %s: %w", name, err)
		}
	}
	tenants, err := snapshotTenants(ctx, filepath.Join(stage, registryName))
	if err != nil {
		return man, fmt.Errorf("restore %s: %w", registryName, err)
	}
	skipped, err := readSkipped(filepath.Join(stage, skippedName))
	if err != nil {
		return man, err
	}
	for _, id := range tenants {
		if _, err := os.Stat(filepath.Join(stage, "tenants", id, storeName)); err != nil && !skipped[id] {
			return man, fmt.Errorf("restore: the registry lists tenant %q but the archive has no tenants/%s/%s", id, id, storeName)
		}
	}
	os.Remove(filepath.Join(stage, skippedName))
	if err := os.MkdirAll(filepath.Join(stage, "tenants"), 0o700); err != nil {
		return man, fmt.Errorf("restore: %w", err)
	}
	syncDir(filepath.Join(stage, "tenants"))
	return man, moveIntoPlace(stage, dataDir)
}

// stageNewDataDir makes the staging directory of a restore into dataDir,
// which must be missing or empty: inside it, so that moving the result
// into place is a rename. done(err) removes the staging directory, and
// dataDir too when the restore failed (err) and made it.
func stageNewDataDir(dataDir string) (stage string, done func(err error), err error) {
	created := false
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		return "", nil, fmt.Errorf("restore: %s is not empty; restore only into a new or empty directory", dataDir)
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return "", nil, fmt.Errorf("restore: %w", err)
		}
		created = true
	} else if err != nil {
		return "", nil, fmt.Errorf("restore: %w", err)
	}
	stage, err = os.MkdirTemp(dataDir, ".restore-")
	if err != nil {
		if created {
			os.Remove(dataDir)
		}
		return "", nil, fmt.Errorf("restore: %w", err)
	}
	return stage, func(err error) {
		os.RemoveAll(stage)
		if err != nil && created {
			os.Remove(dataDir)
		}
	}, nil
}

// moveIntoPlace moves a complete staged data directory into dataDir: the
// registry last, since a data directory with a registry is complete.
func moveIntoPlace(stage, dataDir string) error {
	syncDir(stage)
	entries, err := os.ReadDir(stage)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	for _, e := range entries {
		if e.Name() == registryName {
			continue
		}
		if err := os.Rename(filepath.Join(stage, e.Name()), filepath.Join(dataDir, e.Name())); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	syncDir(dataDir)
	if err := os.Rename(filepath.Join(stage, registryName), filepath.Join(dataDir, registryName)); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	syncDir(dataDir)
	return nil
}

// FillDataDir makes the data directory dataDir, which must be missing or
// empty, by running fill on the registry and stores of a new staging
// directory inside it: the way a restore through the seams (a logical
// backup, package archive) builds an embedded data directory. Only once
// fill has succeeded and both are closed (everything on disk) is the
// result moved into place, the registry last; a failed fill leaves
// dataDir as it found it. The stores are opened for no embedder: a
// vector keeps its own model.
func FillDataDir(ctx context.Context, dataDir string, fill func(reg *Registry, stores *Stores) error) (err error) {
	dataDir = filepath.Clean(dataDir)
	stage, done, err := stageNewDataDir(dataDir)
	if err != nil {
		return err
	}
	defer func() { done(err) }()
	reg, err := OpenRegistry(ctx, stage)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	stores, err := NewStores(ctx, stage, "", 0, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		reg.Close()
		return fmt.Errorf("restore: %w", err)
	}
	err = fill(reg, stores)
	cerr := stores.Close()
	if e := reg.Close(); cerr == nil {
		cerr = e
	}
	if err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("restore: close the restored databases: %w", cerr)
	}
	return moveIntoPlace(stage, dataDir)
}

// unpack reads the archive into stage and returns the database files it
// wrote, by archive name.
func unpack(ctx context.Context, r io.Reader, stage string) ([]string, BackupManifest, error) {
	var man BackupManifest
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, man, fmt.Errorf("restore: not a gzip archive: %w", err)
	}
	tr := tar.NewReader(gz)
	first := true
	var files []string
	for {
		if err := ctx.Err(); err != nil {
			return nil, man, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, man, fmt.Errorf("restore: reading archive: %w", err)
		}
		if first {
			first = false
			if err := readManifest(h, tr, &man); err != nil {
				return nil, man, err
			}
			continue
		}
		name, isDir, err := backupMember(h)
		if err != nil {
			return nil, man, err
		}
		target := filepath.Join(stage, filepath.FromSlash(name))
		if isDir {
			if err := os.MkdirAll(target, 0o700); err != nil {
				return nil, man, fmt.Errorf("restore: %w", err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return nil, man, fmt.Errorf("restore: %w", err)
		}
		if err := writeMember(target, tr); err != nil {
			return nil, man, fmt.Errorf("restore %s: %w", name, err)
		}
		if name != skippedName {
			files = append(files, name)
		}
	}
	if first {
		return nil, man, fmt.Errorf("restore: the archive is empty")
	}
	// Reading to the end checks gzip's CRC: a truncated or corrupted
	// archive fails here rather than restoring part of itself.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, man, fmt.Errorf("restore: reading archive: %w", err)
	}
	return files, man, nil
}

// readSkipped reads the tenants a backup skipped, from its skipped.json if
// it has one. Their data is not in the archive: the restored server finds
// them missing and marks them damaged.
func readSkipped(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	var sk BackupSkipped
	if err := json.Unmarshal(b, &sk); err != nil {
		return nil, fmt.Errorf("restore: %s: %w", skippedName, err)
	}
	out := map[string]bool{}
	for _, d := range sk.Skipped {
		out[d.TenantID] = true
	}
	return out, nil
}

func readManifest(h *tar.Header, r io.Reader, man *BackupManifest) error {
	if h.Name != manifestName || h.Typeflag != tar.TypeReg {
		return fmt.Errorf("restore: the archive does not start with %s: not a mnemo backup", manifestName)
	}
	if h.Size > 1<<20 {
		return fmt.Errorf("restore: %s is too large", manifestName)
	}
	if err := json.NewDecoder(r).Decode(man); err != nil {
		return fmt.Errorf("restore: %s: %w", manifestName, err)
	}
	if man.Format != BackupFormat {
		return fmt.Errorf("restore: manifest format is %q, want %q", man.Format, BackupFormat)
	}
	if man.Version != BackupVersion {
		return fmt.Errorf("restore: backup format version %d is not supported (this binary reads version %d)", man.Version, BackupVersion)
	}
	if man.RegistrySchema > len(registryMigrations) || man.TenantSchema > len(storeMigrations) {
		return fmt.Errorf("restore: the backup's schema (registry %d, tenant %d) is newer than this binary knows (registry %d, tenant %d)",
			man.RegistrySchema, man.TenantSchema, len(registryMigrations), len(storeMigrations))
	}
	return nil
}

// backupMember checks a tar member against the names a backup writes and
// returns its cleaned name.
func backupMember(h *tar.Header) (name string, isDir bool, err error) {
	name = strings.TrimSuffix(path.Clean(h.Name), "/")
	bad := func() (string, bool, error) {
		return "", false, fmt.Errorf("restore: unexpected archive member %q: not part of a mnemo backup", h.Name)
	}
	switch h.Typeflag {
	case tar.TypeDir:
		isDir = true
	case tar.TypeReg:
	default:
		return bad()
	}
	parts := strings.Split(name, "/")
	switch {
	case !isDir && name == registryName:
	case !isDir && name == skippedName:
	case isDir && name == "tenants":
	case isDir && len(parts) == 2 && parts[0] == "tenants" && mnemo.ValidateTenantID(parts[1]) == nil:
	case !isDir && len(parts) == 3 && parts[0] == "tenants" && mnemo.ValidateTenantID(parts[1]) == nil && parts[2] == storeName:
	default:
		return bad()
	}
	return name, isDir, nil
}

func writeMember(target string, r io.Reader) error {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	syncDir(filepath.Dir(target))
	return nil
}

// checkDatabase runs SQLite's quick_check on a restored file and checks its
// schema version is one this binary can open.
func checkDatabase(ctx context.Context, p string) error {
	conn, err := sql.Open("sqlite", readOnlyDSN(p))
	if err != nil {
		return err
	}
	defer conn.Close()
	var result string
	if err := conn.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&result); err != nil {
		return fmt.Errorf("not a readable SQLite database: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("damaged database: %s", result)
	}
	var version int
	if err := conn.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	known := len(storeMigrations)
	if filepath.Base(p) == registryName {
		known = len(registryMigrations)
	}
	if version > known {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d)", version, known)
	}
	return nil
}

// syncDir makes a directory's entries durable; errors are ignored, as some
// file systems cannot sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// RestoredTenant says what RestoreTenant put back.
type RestoredTenant struct {
	Manifest BackupManifest
	// The life of the tenant id the store belongs to: the live tenant's,
	// which the archived one must be.
	Incarnation int64
	CreatedAt   time.Time
}

// RestoreTenant puts one tenant's store back from a backup archive into
// the data directory dataDir, while a server may run on it: the way out of
// a damaged store. The tenant's database is unpacked and checked
// (quick_check, schema version) in a staging directory, the damaged files
// are kept in tenants/.orphan-<id>-damaged-<time>/, and the restored file
// is renamed into place; the server's next request for the tenant finds a
// new file, checks it and serves it. Writes made after the backup are not
// in it.
//
// The archive's registry must show the same life of the id as the live
// one (incarnation and creation time), force or not: an id deleted and
// created again is another customer, who must never get the old one's
// memories.
//
// Unless force is set, a store that passes the checks is refused: under a
// running server, replacing it would lose its newer writes. With force,
// the registry must be free (no server or backup holds it open), and it is
// locked until the restore ends, so that no server starts meanwhile.
func RestoreTenant(ctx context.Context, r io.Reader, dataDir, id string, force bool) (RestoredTenant, error) {
	var res RestoredTenant
	if err := mnemo.ValidateTenantID(id); err != nil {
		return res, err
	}
	regPath := filepath.Join(dataDir, registryName)
	if _, err := os.Stat(regPath); err != nil {
		return res, fmt.Errorf("restore: %s is not a mnemo data directory: %w", dataDir, err)
	}
	var live querier
	if force {
		conn, release, err := lockRegistry(ctx, regPath)
		if err != nil {
			return res, err
		}
		defer release()
		live = conn
	} else {
		conn, err := sql.Open("sqlite", readOnlyDSN(regPath))
		if err != nil {
			return res, fmt.Errorf("restore: %w", err)
		}
		defer conn.Close()
		live = conn
	}
	current, ok, err := readTenantLife(ctx, live, id)
	if err != nil {
		return res, fmt.Errorf("restore: read the registry of %s: %w", dataDir, err)
	}
	if !ok {
		return res, fmt.Errorf("restore: tenant %q is not in the registry of %s; create it first, or restore the whole backup into an empty directory", id, dataDir)
	}
	dir := filepath.Join(dataDir, "tenants", id)
	path := filepath.Join(dir, storeName)
	if !force {
		holding, err := tenantsHoldingData(ctx, regPath)
		if err != nil {
			return res, fmt.Errorf("restore: %w", err)
		}
		reason, err := checkFile(path, func() bool { return holding[id] })
		if err == nil && reason == "" {
			if _, err := os.Stat(path); err == nil && checkDatabase(ctx, path) == nil {
				return res, fmt.Errorf("restore: tenant %q's store is not damaged; replacing it under a running server would lose its newer writes (stop the server, then use --force)", id)
			}
		}
	}

	stage, done, err := newStaging(dataDir)
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	defer done()
	staged := filepath.Join(stage, storeName)
	archivedReg := filepath.Join(stage, registryName)
	if res.Manifest, err = unpackTenant(ctx, r, id, staged, archivedReg); err != nil {
		return res, err
	}
	if err := sameLife(ctx, archivedReg, id, current); err != nil {
		return res, err
	}
	if err := checkDatabase(ctx, staged); err != nil {
		return res, fmt.Errorf("restore tenant %s: %w", id, err)
	}
	res.Incarnation, res.CreatedAt = current.incarnation, current.createdAt

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	// The damaged files are kept (linked, so the database is never absent
	// from its place), and its write-ahead log goes: applied to the
	// restored file it would damage that one too.
	aside := filepath.Join(dataDir, "tenants", fmt.Sprintf("%s%s-damaged-%d", orphanPrefix, id, time.Now().UnixNano()))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err != nil {
			continue
		}
		if err := os.MkdirAll(aside, 0o700); err != nil {
			return res, fmt.Errorf("restore: %w", err)
		}
		if err := os.Link(path+suffix, filepath.Join(aside, storeName+suffix)); err != nil {
			return res, fmt.Errorf("restore: keep the damaged files: %w", err)
		}
		if suffix != "" {
			if err := os.Remove(path + suffix); err != nil {
				return res, fmt.Errorf("restore: %w", err)
			}
		}
	}
	if err := os.Rename(staged, path); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	syncDir(dir)
	return res, nil
}

// querier is a connection or a pool.
type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// tenantLife tells one life of a tenant id from another.
type tenantLife struct {
	incarnation int64 // 0: unknown (a registry from before incarnations)
	createdAt   time.Time
}

func (l tenantLife) String() string {
	inc := "of unknown incarnation (a registry from before incarnations)"
	if l.incarnation > 0 {
		inc = fmt.Sprintf("incarnation %d", l.incarnation)
	}
	return fmt.Sprintf("%s, created %s", inc, mnemo.FormatTime(l.createdAt))
}

// readTenantLife reads tenant id's incarnation and creation time from a
// registry, of any schema version; ok is false when it has no such tenant.
func readTenantLife(ctx context.Context, q querier, id string) (life tenantLife, ok bool, err error) {
	var hasIncarnation int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('tenants') WHERE name = 'incarnation'`).Scan(&hasIncarnation); err != nil {
		return life, false, err
	}
	col := "0"
	if hasIncarnation > 0 {
		col = "incarnation"
	}
	var created int64
	err = q.QueryRowContext(ctx, `SELECT `+col+`, created_at FROM tenants WHERE id = ?`, id).Scan(&life.incarnation, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return life, false, nil
	}
	if err != nil {
		return life, false, err
	}
	life.createdAt = time.UnixMicro(created).UTC()
	return life, true, nil
}

// sameLife checks that the archived registry at archivedReg has tenant id
// in the life current: the same creation time and, when both registries
// know it, the same incarnation. The incarnation is what tells two lives
// apart for sure; the creation time does it for a registry from before
// incarnations.
func sameLife(ctx context.Context, archivedReg, id string, current tenantLife) error {
	conn, err := sql.Open("sqlite", readOnlyDSN(archivedReg))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer conn.Close()
	archived, ok, err := readTenantLife(ctx, conn, id)
	if err != nil {
		return fmt.Errorf("restore: read the backup's %s: %w", registryName, err)
	}
	if !ok {
		return fmt.Errorf("restore: the backup's registry has no tenant %q: its store belongs to no tenant of the backup", id)
	}
	known := archived.incarnation > 0 && current.incarnation > 0
	if !archived.createdAt.Equal(current.createdAt) || known && archived.incarnation != current.incarnation {
		return fmt.Errorf("restore: the backup's tenant %q is %s, but the live one is %s: the id was deleted and created again, "+
			"and the backup holds the earlier tenant's memories; refused, also with --force (use a backup taken since %s)",
			id, archived, current, mnemo.FormatTime(current.createdAt))
	}
	return nil
}

// sqliteBusy is SQLite's primary result code for a lock held elsewhere.
const sqliteBusy = 5

// lockRegistry takes SQLite's exclusive lock on the registry at regPath
// and holds it until release. Every connection to a WAL database keeps a
// shared lock on it while open, and a server keeps its registry open from
// start to stop, so the lock is refused at once while a server runs on the
// directory (or a backup reads it); while it is held, a server cannot
// start there. The registry is only read through the returned connection.
func lockRegistry(ctx context.Context, regPath string) (conn *sql.Conn, release func(), err error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(0)")
	q.Add("_pragma", "locking_mode(EXCLUSIVE)")
	pool, err := sql.Open("sqlite", "file:"+(&url.URL{Path: regPath}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, nil, fmt.Errorf("restore: %w", err)
	}
	pool.SetMaxOpenConns(1)
	conn, err = pool.Conn(ctx)
	if err == nil {
		// In WAL mode with exclusive locking, the first read takes the lock.
		var n int
		err = conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n)
		if err != nil {
			conn.Close()
		}
	}
	if err != nil {
		pool.Close()
		if sqliteCode(err) == sqliteBusy {
			return nil, nil, fmt.Errorf("restore: a server (or a backup) is using %s; --force replaces the tenant's store whole, "+
				"and the writes such a server acknowledges would be lost: stop the server, then run the restore again", regPath)
		}
		return nil, nil, fmt.Errorf("restore: lock the registry: %w", err)
	}
	return conn, func() {
		conn.Close()
		pool.Close()
	}, nil
}

// unpackTenant writes tenants/<id>/memories.db of a backup archive to dst,
// and its registry.db to regDst: it says whose store that is.
func unpackTenant(ctx context.Context, r io.Reader, id, dst, regDst string) (BackupManifest, error) {
	var man BackupManifest
	gz, err := gzip.NewReader(r)
	if err != nil {
		return man, fmt.Errorf("restore: not a gzip archive: %w", err)
	}
	tr := tar.NewReader(gz)
	want := "tenants/" + id + "/" + storeName
	first, found, foundReg := true, false, false
	var skipped string
	for {
		if err := ctx.Err(); err != nil {
			return man, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return man, fmt.Errorf("restore: reading archive: %w", err)
		}
		if first {
			first = false
			if err := readManifest(h, tr, &man); err != nil {
				return man, err
			}
			continue
		}
		switch path.Clean(h.Name) {
		case want:
			if h.Typeflag != tar.TypeReg {
				return man, fmt.Errorf("restore: archive member %s is not a file", h.Name)
			}
			if err := writeMember(dst, tr); err != nil {
				return man, fmt.Errorf("restore %s: %w", want, err)
			}
			found = true
		case registryName:
			if h.Typeflag != tar.TypeReg {
				return man, fmt.Errorf("restore: archive member %s is not a file", h.Name)
			}
			if err := writeMember(regDst, tr); err != nil {
				return man, fmt.Errorf("restore %s: %w", registryName, err)
			}
			foundReg = true
		case skippedName:
			var sk BackupSkipped
			if json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&sk) == nil {
				for _, d := range sk.Skipped {
					if d.TenantID == id {
						skipped = d.Reason
					}
				}
			}
		}
	}
	if first {
		return man, fmt.Errorf("restore: the archive is empty")
	}
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return man, fmt.Errorf("restore: reading archive: %w", err)
	}
	if !found {
		if skipped != "" {
			return man, fmt.Errorf("restore: this backup skipped tenant %q (%s); use an older backup", id, skipped)
		}
		return man, fmt.Errorf("restore: the archive has no tenant %q", id)
	}
	if !foundReg {
		return man, fmt.Errorf("restore: the archive has no %s (truncated?)", registryName)
	}
	return man, nil
}
