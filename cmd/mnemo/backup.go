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
// partial backup.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "data directory to back up (MNEMO_DATA_DIR)")
	out := fs.String("out", "", `archive to write (default mnemo-backup-YYYYMMDD_HHMMSS.tar.gz in the current directory; "-" for stdout)`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: mnemo backup [--data-dir D] [--out F]\n\nWrites a tar.gz of the data directory; safe while a server runs on it.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backup: unexpected arguments %v (use --out F)", fs.Args())
	}
	now := time.Now().UTC()
	if *out == "" {
		*out = fmt.Sprintf("mnemo-backup-%s.tar.gz", now.Format("20060102_150405"))
	}
	if *out == "-" {
		res, err := sqlite.BackupDir(ctx, *dataDir, stdout, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "backup of %s: %d tenants\n", *dataDir, res.Tenants)
		return skipped(res, stderr)
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("backup: %s exists; choose another --out", *out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	res, err := sqlite.BackupDir(ctx, *dataDir, tmp, now)
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
	fmt.Fprintf(stdout, "backup of %s written to %s: %d tenants\n", *dataDir, *out, res.Tenants)
	if len(res.Vanished) > 0 {
		fmt.Fprintf(stdout, "tenants deleted while the backup ran, left out: %v\n", res.Vanished)
	}
	return skipped(res, stderr)
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
// command end with exitPartial.
func skipped(res mnemo.BackupResult, stderr io.Writer) error {
	if len(res.Skipped) == 0 {
		return nil
	}
	for _, d := range res.Skipped {
		fmt.Fprintf(stderr, "skipped tenant %s: its store is damaged: %s\n", d.TenantID, d.Reason)
	}
	return &exitError{code: exitPartial, msg: fmt.Sprintf("backup: %d damaged tenants skipped (listed above and in the archive's skipped.json); every other tenant is saved", len(res.Skipped))}
}

// restoreCommand unpacks a backup archive into a new or empty directory.
func restoreCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "directory to restore into; must be missing or empty, unless --tenant (MNEMO_DATA_DIR)")
	tenant := fs.String("tenant", "", "restore only this tenant's store into an existing data directory, replacing a damaged one; safe while the server runs")
	force := fs.Bool("force", false, "with --tenant, replace a store that is not damaged, rolling it back (refused while a server runs on D)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: mnemo restore [--data-dir D] [--tenant ID [--force]] ARCHIVE\n\n"+
			"Unpacks a backup (from mnemo backup or GET /backup) into a new or empty directory; ARCHIVE \"-\" reads stdin.\n"+
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
	var in io.Reader = os.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer f.Close()
		in = f
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
	if *force {
		return fmt.Errorf("restore: --force goes with --tenant")
	}
	man, err := sqlite.Restore(ctx, in, *dataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored the backup of %s into %s\n", man.CreatedAt, *dataDir)
	return nil
}
