package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

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
		return nil
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
	return nil
}

// restoreCommand unpacks a backup archive into a new or empty directory.
func restoreCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "directory to restore into; must be missing or empty (MNEMO_DATA_DIR)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: mnemo restore [--data-dir D] ARCHIVE\n\nUnpacks a backup (from mnemo backup or GET /backup) into a new or empty directory; ARCHIVE \"-\" reads stdin.")
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
	man, err := sqlite.Restore(ctx, in, *dataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored the backup of %s into %s\n", man.CreatedAt, *dataDir)
	return nil
}
