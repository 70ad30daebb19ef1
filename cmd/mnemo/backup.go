package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/archive"
	"github.com/mnemohq/mnemo/sqlite"
)

// dataCommand runs `mnemo backup` and `mnemo restore`.
func dataCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if args[0] == "backup" {
		return backupCommand(ctx, args[1:], stdout, stderr)
	}
	return restoreCommand(ctx, args[1:], stdout, stderr)
}

func defaultDataDir() string {
	if d := os.Getenv("MNEMO_DATA_DIR"); d != "" {
		return d
	}
	return "./data"
}

// backupCommand writes a tar.gz of a data directory, the same archive as
// GET /backup. It is safe while a server runs on the directory: each
// database is copied inside a read transaction (VACUUM INTO) through a
// read-only connection of this process, and SQLite's WAL locking lets the
// server go on writing meanwhile. The archive is written to a temporary
// file beside --out and renamed when complete, so --out never holds a
// partial backup. With --logical it writes a logical backup (package
// archive), which restores into either backend, from such a copy (see
// logicalBackup). With --falkordb, or FALKORDB_HOST set (and no
// --data-dir), it writes a logical backup of that FalkorDB backend
// (logicalBackupFalkorDB), the only kind it has.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "data directory to back up (MNEMO_DATA_DIR)")
	falkorFlag := fs.String("falkordb", "", "back up the FalkorDB backend at host:port instead (default FALKORDB_HOST:FALKORDB_PORT when FALKORDB_HOST is set; password FALKORDB_PASSWORD); needs --logical")
	out := fs.String("out", "", `archive to write (default mnemo-backup-YYYYMMDD_HHMMSS.tar.gz in the current directory; "-" for stdout)`)
	logical := fs.Bool("logical", false, "write a logical backup (the registry and every tenant's export, with vectors), which restores into either backend")
	tmpDir := fs.String("tmp-dir", "", "with --logical, where the copy of the data directory it is written from, or a large member, is staged (default: beside --out, or $TMPDIR for stdout); needs room for the data directory (FalkorDB: the largest tenant's export)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: mnemo backup [--data-dir D | --falkordb HOST:PORT] [--logical [--tmp-dir T]] [--out F]\n\n"+
			"Writes a tar.gz of the data directory, or with --logical a logical backup; safe while a server runs on it.\n"+
			"With FALKORDB_HOST set (or --falkordb), backs up that FalkorDB backend: --logical only.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backup: unexpected arguments %v (use --out F)", fs.Args())
	}
	if *tmpDir != "" && !*logical {
		return fmt.Errorf("backup: --tmp-dir goes with --logical")
	}
	falkorAddr, err := selectFalkorDB(fs, *falkorFlag)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if falkorAddr != "" && !*logical {
		return fmt.Errorf("backup: the FalkorDB backend (at %s) has logical backups only: add --logical", falkorAddr)
	}
	now := time.Now().UTC()
	if *out == "" {
		*out = fmt.Sprintf("mnemo-backup-%s.tar.gz", now.Format("20060102_150405"))
	}
	kind, where, source := "backup", "skipped.json", *dataDir
	write := func(w io.Writer) (mnemo.BackupResult, error) { return sqlite.BackupDir(ctx, *dataDir, w, now) }
	if *logical {
		if *tmpDir == "" && *out != "-" {
			*tmpDir = filepath.Dir(*out)
		}
		kind, where = "logical backup", "end.json"
		write = func(w io.Writer) (mnemo.BackupResult, error) { return logicalBackup(ctx, *dataDir, *tmpDir, w, now) }
	}
	if falkorAddr != "" {
		source = "FalkorDB at " + falkorAddr
		write = func(w io.Writer) (mnemo.BackupResult, error) {
			return logicalBackupFalkorDB(ctx, falkorAddr, *tmpDir, w, now)
		}
	}
	if *out == "-" {
		res, err := write(stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s of %s: %d tenants\n", kind, source, res.Tenants)
		return skipped(res, stderr, where)
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("backup: %s exists; choose another --out", *out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	res, err := write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "%s of %s written to %s: %d tenants\n", kind, source, *out, res.Tenants)
	if len(res.Vanished) > 0 {
		fmt.Fprintf(stdout, "tenants deleted while the backup ran, left out: %v\n", res.Vanished)
	}
	return skipped(res, stderr, where)
}

// exitPartial is the exit status of a backup that saved every healthy
// tenant and skipped damaged ones: the archive is complete and usable, but
// the operator has tenants to restore. (2 is a backup that failed.)
const exitPartial = 3

// exitError is an error that ends mnemo with its own exit status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) ExitCode() int { return e.code }

// skipped names on stderr the tenants a backup skipped, and makes the
// command end with exitPartial; where is the archive's member naming them.
func skipped(res mnemo.BackupResult, stderr io.Writer, where string) error {
	if len(res.Skipped) == 0 {
		return nil
	}
	for _, d := range res.Skipped {
		fmt.Fprintf(stderr, "skipped tenant %s: its store is damaged: %s\n", d.TenantID, d.Reason)
	}
	return &exitError{code: exitPartial, msg: fmt.Sprintf("backup: %d damaged tenants skipped (listed above and in the archive's %s); every other tenant is saved", len(res.Skipped), where)}
}

// restoreCommand unpacks a backup archive into a new or empty directory:
// a physical one (the data directory's files) or a logical one (package
// archive), which it tells apart by the archive's manifest. A logical one
// loads into FalkorDB instead with --falkordb, or FALKORDB_HOST set (and
// no --data-dir).
func restoreCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "directory to restore into; must be missing or empty, unless --tenant (MNEMO_DATA_DIR)")
	falkorFlag := fs.String("falkordb", "", "load a logical backup into the FalkorDB backend at host:port instead, whose registry must be empty "+
		"(default FALKORDB_HOST:FALKORDB_PORT when FALKORDB_HOST is set; password FALKORDB_PASSWORD)")
	tenant := fs.String("tenant", "", "restore only this tenant's store into an existing data directory, replacing a damaged one; safe while the server runs")
	force := fs.Bool("force", false, "with --tenant, replace a store that is not damaged, rolling it back (refused while a server runs on D)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: mnemo restore [--data-dir D | --falkordb HOST:PORT] [--tenant ID [--force]] ARCHIVE\n\n"+
			"Unpacks a backup (from mnemo backup or GET /backup) into a new or empty directory; ARCHIVE \"-\" reads stdin.\n"+
			"A logical backup (mnemo backup --logical) is loaded through the backend's seams; its memories are checked\n"+
			"against the server's limits (MEMORY_CONTENT_HARD_LIMIT, MNEMO_MAX_TAGS...), read from the environment.\n"+
			"With FALKORDB_HOST set (or --falkordb), a logical backup loads into that FalkorDB, whose registry must be empty;\n"+
			"its tenants' graphs get a vector index for the server's model (EMBEDDING_PROVIDER, VECTOR_SIZE...).\n"+
			"With --tenant, puts back one damaged tenant's store from the backup while the server runs on D.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("restore: name one archive")
	}
	falkorAddr, err := selectFalkorDB(fs, *falkorFlag)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f := os.Stdin
	if name := fs.Arg(0); name != "-" {
		var err error
		if f, err = os.Open(name); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer f.Close()
	}
	logical, in, seekable := sniffLogical(f)
	if *force && *tenant == "" {
		return fmt.Errorf("restore: --force goes with --tenant")
	}
	if logical {
		if *tenant != "" {
			return fmt.Errorf("restore: --tenant puts back a store from a physical backup; a logical backup restores whole into an empty directory " +
				"(one tenant's memories can be imported from its export: POST /admin/tenants/{id}/import)")
		}
		c, err := parseConfig("restore", nil, stderr)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		lim, err := restoreLimits(c)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		var res archive.Result
		target := *dataDir
		if falkorAddr != "" {
			model, dim, err := restoreModel(c)
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			target = "FalkorDB at " + falkorAddr
			res, err = restoreLogicalFalkorDB(ctx, in, seekable, falkorAddr, lim, model, dim)
			if err != nil {
				return err
			}
		} else if res, err = restoreLogicalDir(ctx, in, seekable, *dataDir, lim); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "restored the logical backup of %s into %s: %d tenants, %d memories, %d relations, %d registry records\n",
			res.Manifest.CreatedAt, target, res.Tenants, res.Memories, res.Relations, res.RegistryRecords)
		if len(res.Vanished) > 0 {
			fmt.Fprintf(stdout, "tenants deleted while the backup ran, not restored: %v\n", res.Vanished)
		}
		for _, d := range res.Skipped {
			fmt.Fprintf(stderr, "tenant %s restored without its memories, and suspended: the backup could not read its store (%s)\n", d.TenantID, d.Reason)
		}
		return nil
	}
	if falkorAddr != "" {
		return fmt.Errorf("restore: this is a physical backup (of an embedded data directory), which restores only into a data directory; " +
			"FalkorDB takes a logical backup: restore this one into a directory, then `mnemo backup --logical --data-dir D` and restore that")
	}
	if *tenant != "" {
		res, err := sqlite.RestoreTenant(ctx, in, *dataDir, *tenant, *force)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "restored tenant %s (incarnation %d, created %s) from the backup of %s into %s; the damaged files are kept in %s\n",
			*tenant, res.Incarnation, mnemo.FormatTime(res.CreatedAt), res.Manifest.CreatedAt, *dataDir,
			filepath.Join(*dataDir, "tenants", ".orphan-"+*tenant+"-damaged-*"))
		return nil
	}
	man, err := sqlite.Restore(ctx, in, *dataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored the backup of %s into %s\n", man.CreatedAt, *dataDir)
	return nil
}

// selectFalkorDB is the FalkorDB a backup or restore works on (see
// falkorDBAddr), or "" for the data directory. An explicit --data-dir
// selects the directory over FALKORDB_HOST; with --falkordb it is an
// error.
func selectFalkorDB(fs *flag.FlagSet, falkorFlag string) (string, error) {
	dirGiven := false
	fs.Visit(func(f *flag.Flag) { dirGiven = dirGiven || f.Name == "data-dir" })
	switch {
	case dirGiven && falkorFlag != "":
		return "", fmt.Errorf("--data-dir and --falkordb name two backends: choose one")
	case dirGiven:
		return "", nil
	}
	return falkorDBAddr(falkorFlag), nil
}
