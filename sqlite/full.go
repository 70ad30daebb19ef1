package sqlite

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mnemohq/mnemo"
)

// Disk is the data directory's file system as the writes see it: whether
// it is full, and the reserve that lets deletes free space when it is.
//
// SQLite needs free space even to delete (the WAL grows before a
// checkpoint shrinks the file), so a disk filled to its last byte could
// not be emptied by the tenants themselves. A reserve file is kept in the
// data directory; when a write finds the disk full, the reserve is
// removed, and while the disk stays full only writes that free space or
// keep what was acknowledged run (deletes, the usage flush, access times,
// checkpoints): new data (stores, updates, imports, embeddings, new
// tenants) is refused with EFULL. Each refusal looks at the free space
// (one statfs); once the reserve and as much again are free (see
// resumeAt), the reserve is made again and writes resume, with no
// operator action.
//
// A nil *Disk watches nothing, but a write that fails on a full disk is
// still an EFULL.
type Disk struct {
	dir     string
	path    string // the reserve file
	reserve int64
	logger  *slog.Logger
	// free reports the bytes available to this process on the data
	// directory's file system (statfs); errors.ErrUnsupported where it
	// cannot. Tests replace it.
	free func() (int64, error)

	full atomic.Bool // read by every write: the common case takes no lock
	mu   sync.Mutex  // held by transitions
	// since is when the disk was found full; tried is the last attempt to
	// make the reserve where the free space is unknown.
	since, tried time.Time
}

// dataDisk is the disk of the registry's data directory, which its tenant
// stores share (nil: none watched).
func (r *Registry) dataDisk() *Disk {
	if r == nil {
		return nil
	}
	return r.db.disk.Load()
}

// reserveName is the reserve file in the data directory.
const reserveName = "disk-reserve"

// minFree is the free space below which an I/O error of SQLite counts as
// a full disk (SQLite reports a failed growth of its shared-memory file
// as an I/O error, whatever the cause), and the least free space at which
// writes resume when there is no reserve.
const minFree = 1 << 20

// fullMessage names nothing internal: the client only needs to know that
// writing is refused for now, and what still works.
const fullMessage = "The server's disk is full: new memories, updates, imports and new tenants are refused until space is freed, " +
	"and accepted again by themselves when it is. Reads and deletes still work."

// OpenDisk makes (or finds) the reserve of reserve bytes in dataDir; 0
// keeps none. A disk too full for the reserve is a disk full from the
// start: the server runs, refusing new data until there is space.
func OpenDisk(dataDir string, reserve int64, logger *slog.Logger) (*Disk, error) {
	if reserve < 0 {
		return nil, fmt.Errorf("disk reserve must be 0 or more bytes, got %d", reserve)
	}
	d := &Disk{dir: dataDir, path: filepath.Join(dataDir, reserveName), reserve: reserve, logger: logger,
		free: func() (int64, error) { return freeBytes(dataDir) }}
	if reserve == 0 {
		// One left by a run that kept a reserve would hold its space for
		// nothing.
		if err := os.Remove(d.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove the disk reserve: %w", err)
		}
		return d, nil
	}
	if size, err := volumeBytes(dataDir); err == nil && size < 4*d.resumeAt() {
		// Once full, writes resume only with resumeAt free: on a volume
		// not much larger, that may take freeing nearly everything.
		logger.Warn("the disk reserve is large for this volume: once the disk fills, writes resume only when this much is free; lower MNEMO_DISK_RESERVE",
			"volume_bytes", size, "resume_at_free_bytes", d.resumeAt(), "reserve_bytes", reserve)
	}
	if err := d.makeReserve(); err != nil {
		if !d.isFull(err) {
			return nil, fmt.Errorf("make the disk reserve %s: %w", d.path, err)
		}
		d.enter(err)
	}
	return d, nil
}

// makeReserve writes the reserve file unless it is there, whole. It is
// written with random bytes, not allocated: a file system that compresses
// would store zeros in no space at all. It goes to a temporary name
// first, and one whose blocks a crash left unwritten is written again.
func (d *Disk) makeReserve() error {
	if fi, err := os.Stat(d.path); err == nil && fi.Size() == d.reserve && allocatedBytes(fi) >= d.reserve {
		return nil
	}
	tmp := d.path + ".tmp"
	err := writeRandom(tmp, d.reserve)
	if err == nil {
		err = os.Rename(tmp, d.path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func writeRandom(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, min(size, 1<<20))
	r := rand.NewChaCha8([32]byte{})
	r.Read(buf)
	// No fsync: written, the space is taken (a file system that delays
	// allocation still reserves it), and a reserve a crash cut short is
	// made again at the next start (see makeReserve).
	for left := size; left > 0 && err == nil; left -= int64(len(buf)) {
		_, err = f.Write(buf[:min(left, int64(len(buf)))])
	}
	if e := f.Close(); err == nil {
		err = e
	}
	return err
}

// Full reports whether new data is refused. Asking looks at the free
// space, so a disk that has space again stops being full without a write.
func (d *Disk) Full() bool { return d.refuse() != nil }

// refuse returns EFULL while the disk is full; it is called before every
// write that adds data, and not before deletes.
func (d *Disk) refuse() error {
	if d == nil || !d.full.Load() || d.recover() {
		return nil
	}
	return fullError(nil)
}

// resumeAt is the free space at which writes resume: the reserve, to make
// it again, and as much again left for writes (at least minFree), so that
// resuming does not fill the disk at once.
func (d *Disk) resumeAt() int64 { return d.reserve + max(d.reserve, minFree) }

// recover ends the full state when there is resumeAt free. It reports
// whether writes may go on.
func (d *Disk) recover() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.full.Load() {
		return true
	}
	free, err := d.free()
	switch {
	case err == nil && free < d.resumeAt():
		return false
	case err != nil:
		// The free space is unknown here: making the reserve proves it, at
		// most once a second, since each try writes the whole reserve.
		// Without a reserve, writes just try again.
		if d.reserve > 0 && time.Since(d.tried) < time.Second {
			return false
		}
		d.tried = time.Now()
	}
	if d.reserve > 0 {
		if err := d.makeReserve(); err != nil {
			return false
		}
	}
	d.full.Store(false)
	d.logger.Info("the disk has space again: writes resume", "dir", d.dir, "free_bytes", free,
		"full_for", time.Since(d.since).Round(time.Millisecond).String())
	return true
}

// enter makes the disk full, once: the reserve is removed, so that
// deletes, flushes and checkpoints have room, and the transition is
// logged (a flood of refused requests is not).
func (d *Disk) enter(cause error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.full.Load() {
		return
	}
	released := false
	if d.reserve > 0 {
		released = os.Remove(d.path) == nil
		os.Remove(d.path + ".tmp")
	}
	d.since = time.Now()
	d.full.Store(true)
	d.logger.Error("the disk is full: new data is refused (507) until space returns; reads and deletes go on",
		"dir", d.dir, "reserve_bytes", d.reserve, "reserve_released", released, "err", cause.Error())
}

// check turns err into EFULL when it says the disk is full, entering the
// full state; other errors go through as they are. Every write's outcome
// passes here (see db.commit).
func (d *Disk) check(err error) error {
	if err == nil || mnemo.ErrorCode(err) == mnemo.EFULL || !d.isFull(err) {
		return err
	}
	if d != nil {
		d.enter(err)
	}
	return fullError(err)
}

// Codes of SQLite's result codes (their low byte).
const (
	sqliteIOErr = 10
	sqliteFull  = 13
)

// isFull says whether err comes from a full disk: SQLITE_FULL (SQLite's
// own word for ENOSPC on its files), ENOSPC or EDQUOT from the operating
// system (files and directories mnemo makes itself), or an I/O error of
// SQLite while the file system has less than minFree left.
func (d *Disk) isFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var coded interface{ Code() int }
	if !errors.As(err, &coded) {
		return false
	}
	switch coded.Code() & 0xff {
	case sqliteFull:
		return true
	case sqliteIOErr:
		if d == nil {
			return false
		}
		free, ferr := d.free()
		return ferr == nil && free < minFree
	}
	return false
}

// fullError is the client's EFULL, carrying its cause for the log.
func fullError(cause error) error {
	e := &mnemo.Error{Code: mnemo.EFULL, Message: fullMessage}
	if cause == nil {
		return e
	}
	return fmt.Errorf("%w: %w", e, cause)
}
