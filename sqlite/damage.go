package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/mnemohq/mnemo"
)

// damage is why a tenant's store is out of service, and which file was
// found so: when the operator puts another file in its place, the next
// request checks that one instead.
type damage struct {
	reason string
	since  time.Time
	file   fileID
}

// fileID tells one version of a file from another cheaply.
type fileID struct {
	exists  bool
	size    int64
	modTime time.Time
}

func identify(path string) fileID {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}
	}
	return fileID{exists: true, size: fi.Size(), modTime: fi.ModTime()}
}

// DamagedRetryAfter is the Retry-After of a damaged tenant's answers: it
// will not heal by itself, so clients need not hammer it.
const DamagedRetryAfter = time.Minute

func damagedError(id string) error {
	return &mnemo.Error{Code: mnemo.EUNAVAILABLE, RetryAfter: DamagedRetryAfter,
		Message: fmt.Sprintf("The data store of tenant '%s' is damaged and out of service until the operator restores it; nothing was read or changed", id)}
}

// markDamaged takes the tenant out of service and says so in the log.
func (p *Stores) markDamaged(id, path, reason string) error {
	p.mu.Lock()
	_, known := p.damaged[id]
	p.damaged[id] = &damage{reason: reason, since: time.Now().UTC(), file: identify(path)}
	delete(p.verified, id)
	p.mu.Unlock()
	if !known {
		p.logger.Error("tenant store is damaged: its requests answer 503 until the operator restores it (docs/operations.md, Faults)",
			"tenant", id, "reason", reason)
	}
	return damagedError(id)
}

// damagedInUse marks a tenant damaged whose open store met damage: the
// store leaves the pool at once, so the next request gets the damaged
// answer, and closes when its last request releases it. The request that
// met the damage gets that answer too, when the error reached it through
// the pool's check (a row's error read after the first row does not).
func (p *Stores) damagedInUse(e *entry, path string, err error) {
	p.mu.Lock()
	if _, known := p.damaged[e.id]; known || e.dropped {
		p.mu.Unlock()
		return
	}
	p.removeLocked(e)
	e.dropped = true // closed at its last release, and its counters no longer reported
	closeNow := e.refs == 0
	p.mu.Unlock()
	p.markDamaged(e.id, path, "SQLite met damage in use: "+err.Error())
	if closeNow {
		go p.closeEntry(e) // not under the caller's statement
	}
}

// stillDamaged returns the damaged answer while the file found damaged is
// still in place. Once another file is there (the operator restored it),
// the mark is cleared and the store is checked again as it opens.
func (p *Stores) stillDamaged(id string) error {
	p.mu.Lock()
	d := p.damaged[id]
	p.mu.Unlock()
	if d == nil {
		return nil
	}
	if identify(p.storePath(id)) == d.file {
		return damagedError(id)
	}
	p.mu.Lock()
	if p.damaged[id] == d {
		delete(p.damaged, id)
	}
	p.mu.Unlock()
	p.logger.Warn("the damaged store of a tenant was replaced; checking it again", "tenant", id)
	return nil
}

func (p *Stores) storePath(id string) string {
	return p.tenantDir(id) + string(os.PathSeparator) + storeName
}

// sqliteMagic opens every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// checkFile is the check of a tenant's database made before SQLite opens
// it, cheap enough for every open: it reads the 100-byte header. It
// returns why the file is damaged, or "".
//
// A missing or empty file is a new store, unless holdsData says the
// registry counts memories or relations for the tenant, or a write-ahead
// log is left: then SQLite would silently make a new empty database over
// lost data. A file shorter than its header says is truncated, unless a
// write-ahead log remains, which may hold the missing pages of an
// interrupted checkpoint.
func checkFile(path string, holdsData func() bool) (string, error) {
	walBytes := int64(0)
	if fi, err := os.Stat(path + "-wal"); err == nil {
		walBytes = fi.Size()
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if walBytes > 0 || holdsData() {
			return "its database file is missing, but it held data", nil
		}
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if fi.Size() == 0 {
		if walBytes > 0 || holdsData() {
			return "its database file is empty (0 bytes), but it held data", nil
		}
		return "", nil
	}
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Sprintf("its database file is truncated: %d bytes, shorter than a SQLite header", fi.Size()), nil
		}
		return "", err
	}
	if string(h[:16]) != sqliteMagic {
		return "its database file does not start with SQLite's header: overwritten or not a database", nil
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fmt.Sprintf("its database header is damaged: page size %d", pageSize), nil
	}
	// The header's page count is valid when its "version valid for"
	// matches the change counter (SQLite file format, section 1.3.7).
	if binary.BigEndian.Uint32(h[92:96]) == binary.BigEndian.Uint32(h[24:28]) && walBytes == 0 {
		if want := int64(binary.BigEndian.Uint32(h[28:32])) * pageSize; fi.Size() < want {
			return fmt.Sprintf("its database file is truncated: %d bytes, its header says %d", fi.Size(), want), nil
		}
	}
	return "", nil
}

// verify runs SQLite's quick_check on an opened store: every page and
// index is read, so a damaged page is found before a request trips on it.
// It returns why the store is damaged, or "".
func verify(ctx context.Context, d *db) (string, error) {
	var result string
	if err := d.writer.QueryRowContext(ctx, `PRAGMA quick_check(1)`).Scan(&result); err != nil {
		return "", err
	}
	if result != "ok" {
		return "SQLite's quick_check failed: " + result, nil
	}
	return "", nil
}
