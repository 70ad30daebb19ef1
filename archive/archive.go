// Package archive is mnemo's logical backup: a consistent archive of the
// registry and of every tenant, written from the seams of any backend and
// read back into an empty one, so that a backup of a FalkorDB deployment
// restores into an embedded data directory and back. (sqlite's backup is
// physical: its database files, for the embedded backend only.)
//
// The archive is a tar.gz of regular files, in this order:
//
//	manifest.json          {"format":"mnemo-logical-backup","version":1,"created_at":"…"}
//	registry.ndjson        one registry record per line, in dump order (mnemo.RegistryArchiver):
//	                       {"kind":"incarnation"|"tenant"|"key"|"oauth_client"|"oauth_grant"|"audit"|"usage", …}
//	tenants/<id>.ndjson    per tenant of the registry: its export (package export), with vectors
//	end.json               {"tenants":N,"registry_records":M,"vanished":[…],"skipped":[…]}
//
// Keys and OAuth grants are there as the SHA-256 of their secrets, never
// the secrets. end.json comes last: an archive without it is truncated. A
// tenant of the registry without its file is named there, as vanished
// (deleted while the backup ran: a restore leaves it out) or skipped (its
// store could not be read: a restore keeps its keys and suspends it, with
// an empty store, until its data is put back).
package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/export"
)

// The format this package writes and reads.
const (
	Format  = "mnemo-logical-backup"
	Version = 1
)

// Member names.
const (
	manifestName = "manifest.json"
	registryName = "registry.ndjson"
	tenantPrefix = "tenants/"
	tenantSuffix = ".ndjson"
	endName      = "end.json"
)

// Manifest is manifest.json, the first member.
type Manifest struct {
	Format    string `json:"format"`
	Version   int    `json:"version"`
	CreatedAt string `json:"created_at"`
}

// End is end.json, the last member.
type End struct {
	Tenants         int                  `json:"tenants"`
	RegistryRecords int64                `json:"registry_records"`
	Vanished        []string             `json:"vanished"`
	Skipped         []mnemo.DamagedStore `json:"skipped"`
}

// Source is what a backup reads: the registry's dump, and its tenants, to
// tell one deleted while the backup ran.
type Source interface {
	mnemo.RegistryArchiver
	Tenant(ctx context.Context, id string) (*mnemo.Tenant, error)
}

// Backuper writes logical backups of a backend; it is a mnemo.Backuper, so
// GET /backup can serve this format on any backend.
type Backuper struct {
	Registry Source
	Stores   mnemo.Stores
	// TempDir is where a member too large to hold in memory is staged
	// until its size is known, as tar needs (default os.TempDir()). The
	// space needed is that of the largest tenant's export.
	TempDir string
}

var _ mnemo.Backuper = (*Backuper)(nil)

// Write writes a logical backup of reg and stores to w; see Backuper.Backup.
func Write(ctx context.Context, w io.Writer, reg Source, stores mnemo.Stores, now time.Time) (mnemo.BackupResult, error) {
	return (&Backuper{Registry: reg, Stores: stores}).Backup(ctx, w, now)
}

// retryOpen is the longest refusal (EUNAVAILABLE with a Retry-After) a
// backup waits out once before it skips a tenant: a pool busy for a moment
// is not a damaged store.
const retryOpen = 2 * time.Second

// Backup writes the archive to w. The registry is dumped first, whole, so
// nothing is written to w when that fails; then each tenant of the dump,
// from one Snapshot of its store (consistent per tenant; writes go on
// meanwhile). A tenant deleted while the backup runs (its store is not
// found, or the registry no longer has that incarnation of it once its
// snapshot is read) is left out and reported in Vanished; one whose store
// cannot be read (EUNAVAILABLE: damaged) is Skipped with its reason, and
// every other tenant is still saved. Any other error ends the backup.
func (b *Backuper) Backup(ctx context.Context, w io.Writer, now time.Time) (mnemo.BackupResult, error) {
	var res mnemo.BackupResult
	reg := newSpool(b.TempDir)
	defer reg.Close()
	var tenants []*mnemo.Tenant
	var records int64
	enc := json.NewEncoder(reg)
	enc.SetEscapeHTML(false)
	for rec, err := range b.Registry.DumpRegistry(ctx) {
		if err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
		line, err := encodeRecord(rec)
		if err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
		if err := enc.Encode(line); err != nil {
			return res, fmt.Errorf("backup: stage the registry: %w", err)
		}
		records++
		if rec.Tenant != nil {
			tenants = append(tenants, rec.Tenant)
		}
	}

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	manifest, _ := json.Marshal(Manifest{Format: Format, Version: Version, CreatedAt: mnemo.FormatTime(now)})
	if err := addBytes(tw, manifestName, manifest, now); err != nil {
		return res, err
	}
	if err := addSpool(tw, registryName, reg, now); err != nil {
		return res, err
	}
	reg.Close()
	for _, t := range tenants {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		skip, err := b.tenant(ctx, tw, t, now)
		switch {
		case err != nil:
			return res, err
		case skip == nil:
			res.Tenants++
		case skip.Reason == "":
			res.Vanished = append(res.Vanished, t.ID)
		default:
			res.Skipped = append(res.Skipped, *skip)
		}
	}
	end, _ := json.Marshal(End{Tenants: res.Tenants, RegistryRecords: records, Vanished: orEmpty(res.Vanished), Skipped: orEmpty(res.Skipped)})
	if err := addBytes(tw, endName, end, now); err != nil {
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

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// tenant writes tenants/<id>.ndjson. It returns nil when the tenant is
// saved; a DamagedStore without a reason when it vanished; one with the
// reason when its store could not be read.
func (b *Backuper) tenant(ctx context.Context, tw *tar.Writer, t *mnemo.Tenant, now time.Time) (*mnemo.DamagedStore, error) {
	data := newSpool(b.TempDir)
	defer func() { data.Close() }()
	err := b.export(ctx, t.ID, data, now)
	if err != nil && mnemo.ErrorCode(err) == mnemo.EUNAVAILABLE && mnemo.RetryAfter(err) <= retryOpen && ctx.Err() == nil {
		// Refused for a moment (every open store in use): once more.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(mnemo.RetryAfter(err)):
		}
		data.Close()
		data = newSpool(b.TempDir)
		err = b.export(ctx, t.ID, data, now)
	}
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case mnemo.ErrorCode(err) == mnemo.ENOTFOUND:
		return &mnemo.DamagedStore{TenantID: t.ID}, nil
	case mnemo.ErrorCode(err) == mnemo.EUNAVAILABLE:
		return &mnemo.DamagedStore{TenantID: t.ID, Reason: mnemo.ErrorMessage(err), Since: now}, nil
	case err != nil:
		return nil, fmt.Errorf("backup tenant %s: %w", t.ID, err)
	}
	// Read after the snapshot: this incarnation of the tenant still exists,
	// so it existed when the snapshot was taken, and the data is its own.
	live, err := b.Registry.Tenant(ctx, t.ID)
	if mnemo.ErrorCode(err) == mnemo.ENOTFOUND || (err == nil && live.Incarnation != t.Incarnation) {
		return &mnemo.DamagedStore{TenantID: t.ID}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup tenant %s: %w", t.ID, err)
	}
	return nil, addSpool(tw, tenantPrefix+t.ID+tenantSuffix, data, now)
}

// export writes one tenant's export, with vectors, from one snapshot.
func (b *Backuper) export(ctx context.Context, id string, w io.Writer, now time.Time) error {
	store, release, err := b.Stores.Open(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	sn, err := store.Snapshot(ctx, true)
	if err != nil {
		return err
	}
	defer sn.Close()
	return export.Write(w, sn, export.Header{TenantID: id, ExportedAt: now, WithVectors: true})
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

func addSpool(tw *tar.Writer, name string, s *spool, at time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: s.n, ModTime: at}); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := s.copyTo(tw); err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	return nil
}

// spoolMemory is how much of a member a spool holds in memory before it
// moves to a file.
const spoolMemory = 16 << 20

// spool holds a member until its size is known: in memory while small,
// then in an unlinked temporary file, which the system reclaims whatever
// happens to the process.
type spool struct {
	dir string
	buf bytes.Buffer
	f   *os.File
	n   int64
	err error
}

func newSpool(dir string) *spool { return &spool{dir: dir} }

func (s *spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.f == nil && s.buf.Len()+len(p) > spoolMemory {
		f, err := os.CreateTemp(s.dir, ".mnemo-archive-")
		if err != nil {
			s.err = err
			return 0, err
		}
		os.Remove(f.Name()) // kept open: gone when closed, or the process ends
		s.f = f
		if _, err := s.buf.WriteTo(f); err != nil {
			s.err = err
			return 0, err
		}
	}
	var n int
	if s.f != nil {
		n, s.err = s.f.Write(p)
	} else {
		n, s.err = s.buf.Write(p)
	}
	s.n += int64(n)
	return n, s.err
}

// copyTo writes what the spool holds to w.
func (s *spool) copyTo(w io.Writer) error {
	if s.err != nil {
		return s.err
	}
	if s.f == nil {
		_, err := w.Write(s.buf.Bytes())
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(w, s.f)
	if err == nil && n != s.n {
		err = fmt.Errorf("staged %d bytes, read back %d", s.n, n)
	}
	return err
}

func (s *spool) Close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	s.buf = bytes.Buffer{}
}
