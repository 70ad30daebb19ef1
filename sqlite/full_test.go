package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// codedError is an error of the SQLite driver: a result code.
type codedError int

func (c codedError) Error() string { return fmt.Sprintf("sqlite error (%d)", int(c)) }
func (c codedError) Code() int     { return int(c) }

// testDisk is a Disk on dir whose free space the test sets.
func testDisk(t *testing.T, dir string, reserve int64, free *int64) (*Disk, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	d, err := OpenDisk(dir, reserve, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatalf("OpenDisk: %v", err)
	}
	d.free = func() (int64, error) { return *free, nil }
	return d, &log
}

func TestDiskIsFull(t *testing.T) {
	plenty, little := int64(1<<30), int64(minFree-1)
	for _, c := range []struct {
		name string
		err  error
		free int64
		want bool
	}{
		{"SQLITE_FULL", fmt.Errorf("commit: %w", codedError(13)), plenty, true},
		{"SQLITE_FULL extended", codedError(13 | 1<<8), plenty, true},
		{"ENOSPC from a file", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, plenty, true},
		{"EDQUOT from a directory", &fs.PathError{Op: "mkdir", Path: "x", Err: syscall.EDQUOT}, plenty, true},
		{"I/O error on a full file system", codedError(10 | 19<<8), little, true}, // SQLITE_IOERR_SHMSIZE
		{"I/O error with space left", codedError(10 | 3<<8), plenty, false},
		{"constraint", codedError(19), little, false},
		{"busy", codedError(5), little, false},
		{"other", errors.New("disk on fire"), little, false},
		{"permission", &fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, little, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			free := c.free
			d, _ := testDisk(t, t.TempDir(), 0, &free)
			if got := d.isFull(c.err); got != c.want {
				t.Fatalf("isFull(%v) = %v, want %v", c.err, got, c.want)
			}
			err := d.check(c.err)
			if got := mnemo.ErrorCode(err) == mnemo.EFULL; got != c.want {
				t.Fatalf("check(%v) = %v, want EFULL: %v", c.err, err, c.want)
			}
			if c.want && (mnemo.ErrorMessage(err) != fullMessage || !errors.Is(err, c.err)) {
				t.Fatalf("check(%v) = %v: want the full message, wrapping its cause", c.err, err)
			}
			if d.Full() != (c.want && free < minFree) {
				t.Fatalf("Full() = %v after %v with %d bytes free", d.Full(), c.err, free)
			}
		})
	}
	// Without a Disk, a full disk is still an EFULL, and nothing else is.
	var none *Disk
	if err := none.check(codedError(13)); mnemo.ErrorCode(err) != mnemo.EFULL {
		t.Fatalf("nil Disk: check(SQLITE_FULL) = %v", err)
	}
	if err := none.check(codedError(10)); mnemo.ErrorCode(err) != mnemo.EINTERNAL {
		t.Fatalf("nil Disk: check(SQLITE_IOERR) = %v", err)
	}
	if none.Full() || none.refuse() != nil {
		t.Fatal("a nil Disk refuses writes")
	}
}

func TestDiskReserve(t *testing.T) {
	dir := t.TempDir()
	const reserve = 64 << 10
	free := int64(10 * reserve)
	d, log := testDisk(t, dir, reserve, &free)
	path := filepath.Join(dir, reserveName)
	if fi, err := os.Stat(path); err != nil || fi.Size() != reserve {
		t.Fatalf("reserve after OpenDisk: %v, %v", fi, err)
	}
	if d.Full() {
		t.Fatal("full with the reserve made")
	}

	// A write finds the disk full: the reserve goes, new data is refused.
	free = 0
	if err := d.check(codedError(13)); mnemo.ErrorCode(err) != mnemo.EFULL {
		t.Fatalf("check = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the reserve is kept on a full disk: %v", err)
	}
	free = reserve // what the removed reserve gave back
	for range 3 {
		if err := d.refuse(); mnemo.ErrorCode(err) != mnemo.EFULL || mnemo.ErrorMessage(err) != fullMessage {
			t.Fatalf("refuse with the reserve's space free = %v", err)
		}
		d.check(codedError(13)) // more writes failing: no new transition
	}
	if n := strings.Count(log.String(), "the disk is full"); n != 1 {
		t.Fatalf("the full disk was logged %d times, want once:\n%s", n, log)
	}
	if !strings.Contains(log.String(), "level=ERROR") {
		t.Fatalf("the full disk is not an ERROR:\n%s", log)
	}

	// Just under the reserve and 1 MiB: still full. At that: the reserve
	// is made again and writes resume.
	free = reserve + minFree - 1
	if !d.Full() {
		t.Fatal("writes resumed before the reserve could be made again with room left")
	}
	free = reserve + minFree
	if d.Full() || d.refuse() != nil {
		t.Fatal("writes did not resume with the reserve and 1 MiB free")
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != reserve {
		t.Fatalf("reserve after recovery: %v, %v", fi, err)
	}
	if !strings.Contains(log.String(), "writes resume") {
		t.Fatalf("the recovery is not logged:\n%s", log)
	}

	// Opened again: the reserve is kept, unless a crash left it without
	// its blocks (sparse); with 0, it is removed.
	if _, err := OpenDisk(dir, reserve, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, reserve); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDisk(dir, reserve, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || allocatedBytes(fi) < reserve {
		t.Fatalf("a sparse reserve is kept: %v, %v", fi, err)
	}
	if _, err := OpenDisk(dir, 0, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a reserve of 0 leaves the old reserve: %v", err)
	}
	if _, err := OpenDisk(dir, -1, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a negative reserve is accepted")
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, or skips the
// test where mounting is not allowed.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestStoreOnFullDisk fills a real file system: the write that finds it
// full is an EFULL, reads and a delete work on the released reserve, new
// data is refused until space returns, and every acknowledged write is
// there after a reopen.
func TestStoreOnFullDisk(t *testing.T) {
	dir := mountTmpfs(t, 6<<20)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	d, err := OpenDisk(dir, 256<<10, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "memories.db")
	st, err := OpenStore(ctx, path, "m1", 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // before the file system is unmounted
	st.db.disk.Store(d)
	at := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	memory := func(i int) *mnemo.Memory {
		return &mnemo.Memory{ID: fmt.Sprintf("m%05d", i), Content: fmt.Sprintf("%05d %s", i, strings.Repeat("x", 3000)), Tags: []string{},
			Importance: 0.5, Type: "Context", Confidence: 0.9, Timestamp: at, TValid: at, UpdatedAt: at, LastAccessed: at, Metadata: map[string]any{}}
	}
	acked := 0
	for ; acked < 5000; acked++ {
		err = create(ctx, st, []*mnemo.Memory{memory(acked)})
		if err != nil {
			break
		}
	}
	if mnemo.ErrorCode(err) != mnemo.EFULL || mnemo.ErrorMessage(err) != fullMessage {
		t.Fatalf("after %d writes: %v, want EFULL", acked, err)
	}
	if !d.Full() {
		t.Fatal("the disk is not full after a write found it full")
	}
	if err := create(ctx, st, []*mnemo.Memory{memory(acked)}); mnemo.ErrorCode(err) != mnemo.EFULL {
		t.Fatalf("a write on the full disk: %v", err)
	}
	if m, err := st.Memory(ctx, memory(0).ID); err != nil || m.Content != memory(0).Content {
		t.Fatalf("read on the full disk: %v", err)
	}
	for i := range 3 {
		if err := st.Delete(ctx, memory(i).ID); err != nil {
			t.Fatalf("delete on the full disk: %v", err)
		}
	}
	if n := strings.Count(log.String(), "the disk is full"); n != 1 {
		t.Fatalf("the full disk was logged %d times:\n%s", n, log.String())
	}

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if d.Full() {
		free, _ := freeBytes(dir)
		t.Fatalf("still full with %d bytes free", free)
	}
	if err := create(ctx, st, []*mnemo.Memory{memory(acked)}); err != nil {
		t.Fatalf("write after space returned: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = OpenStore(ctx, path, "m1", 4)
	if err != nil {
		t.Fatal(err)
	}
	for i := 3; i <= acked; i++ {
		if _, err := st.Memory(ctx, memory(i).ID); err != nil {
			t.Fatalf("acknowledged memory %d of %d after reopening: %v", i, acked, err)
		}
	}
	if s, err := st.Stats(ctx); err != nil || s.Memories != int64(acked-2) {
		t.Fatalf("stats after reopening: %+v, %v; want %d memories", s, err, acked-2)
	}
}

// fillDisk writes a file in dir until the file system is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestRegistryFlushOnFullDisk: usage a flush cannot write is kept, shown,
// and written by a later flush, and Close writes it even when it is the
// one that finds the disk full.
func TestRegistryFlushOnFullDisk(t *testing.T) {
	ctx := context.Background()
	// Enough rows that the flush needs new pages, not those of a WAL
	// written before.
	rows := make([]mnemo.Usage, 5000)
	for i := range rows {
		rows[i] = mnemo.Usage{TenantID: "acme", Day: "2026-12-06", Kind: fmt.Sprintf("kind-%05d", i), Count: int64(i + 1)}
	}
	open := func(t *testing.T) (string, *Registry, *Disk) {
		dir := mountTmpfs(t, 12<<20)
		d, err := OpenDisk(dir, 4<<20, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		r, err := OpenRegistry(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() }) // before the file system is unmounted
		// No background flush: the test decides when one runs.
		close(r.stop)
		<-r.done
		r.stop = make(chan struct{})
		r.SetDisk(d)
		fillDisk(t, dir)
		if err := r.AddUsage(ctx, rows); err != nil {
			t.Fatal(err)
		}
		return dir, r, d
	}
	onDisk := func(t *testing.T, dir string) {
		t.Helper()
		r, err := OpenRegistry(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := r.Usage(ctx, "acme", 0, "2026-12-06", "2026-12-06")
		if err != nil || len(got) != len(rows) || got[0] != rows[0] || got[len(rows)-1] != rows[len(rows)-1] {
			t.Fatalf("usage after reopening: %d rows, %v", len(got), err)
		}
	}

	t.Run("flush", func(t *testing.T) {
		dir, r, d := open(t)
		if err := r.Flush(ctx); mnemo.ErrorCode(err) != mnemo.EFULL {
			t.Fatalf("flush on the full disk: %v", err)
		}
		if !d.Full() {
			t.Fatal("the disk is not full after the flush found it full")
		}
		if got, err := r.Usage(ctx, "acme", 0, "2026-12-06", "2026-12-06"); err != nil || len(got) != len(rows) {
			t.Fatalf("usage after a failed flush: %d rows, %v", len(got), err)
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatalf("flush on the released reserve: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		onDisk(t, dir)
	})
	t.Run("close", func(t *testing.T) {
		dir, r, d := open(t)
		if err := r.Close(); err != nil {
			t.Fatalf("close on the full disk: %v", err)
		}
		if !d.Full() {
			t.Fatal("the disk is not full after closing on it")
		}
		onDisk(t, dir)
	})
}

// A reserve so large for its volume that writes, once the disk fills,
// resume only when most of it is free again is warned of at start; one
// in proportion is not.
func TestDiskReserveLargeForTheVolume(t *testing.T) {
	dir := mountTmpfs(t, 16<<20)
	var free int64
	_, log := testDisk(t, dir, 2<<20, &free) // resumes at 4 MiB free: a quarter of the volume
	if strings.Contains(log.String(), "large for this volume") {
		t.Fatalf("a 2 MiB reserve on 16 MiB was warned of:\n%s", log)
	}
	_, log = testDisk(t, dir, 3<<20, &free) // resumes at 6 MiB free
	if !strings.Contains(log.String(), "large for this volume") || !strings.Contains(log.String(), "resume_at_free_bytes=6291456") {
		t.Fatalf("a 3 MiB reserve on 16 MiB was not warned of:\n%s", log)
	}
}
