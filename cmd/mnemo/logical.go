package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/archive"
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/sqlite"
	"github.com/redis/go-redis/v9"
)

// logicalBackup writes a logical backup (package archive) of the embedded
// data directory dataDir to w.
//
// It never opens the live databases for writing, so it is as safe beside a
// running server as `mnemo backup`: a physical backup (sqlite.BackupDir:
// each database copied in one read transaction, the registry first) is
// unpacked into a private staging directory under tmpDir, opened there, and
// written out through the backend's seams. Opening the live directory with
// the registry and stores instead is not safe while a server runs: opening
// the stores reconciles and repairs the directory, and both would write.
// The staging directory needs room for a copy of the data directory; it is
// removed when the backup ends.
func logicalBackup(ctx context.Context, dataDir, tmpDir string, w io.Writer, now time.Time) (mnemo.BackupResult, error) {
	stage, err := os.MkdirTemp(tmpDir, ".mnemo-logical-backup-")
	if err != nil {
		return mnemo.BackupResult{}, fmt.Errorf("backup: staging directory: %w", err)
	}
	defer os.RemoveAll(stage)
	copyDir := filepath.Join(stage, "data")

	pr, pw := io.Pipe()
	physical := make(chan struct {
		res mnemo.BackupResult
		err error
	}, 1)
	go func() {
		res, err := sqlite.BackupDir(ctx, dataDir, pw, now)
		pw.CloseWithError(err)
		physical <- struct {
			res mnemo.BackupResult
			err error
		}{res, err}
	}()
	_, rerr := sqlite.Restore(ctx, pr, copyDir)
	pr.CloseWithError(errCopyStopped) // the backup ends, if the copy failed first
	copied := <-physical
	if copied.err != nil && !errors.Is(copied.err, errCopyStopped) {
		return copied.res, copied.err
	}
	if rerr != nil {
		return copied.res, fmt.Errorf("backup: copy the data directory: %w", rerr)
	}

	reg, stores, closeAll, err := openEmbedded(ctx, copyDir)
	if err != nil {
		return copied.res, fmt.Errorf("backup: open the copy: %w", err)
	}
	defer closeAll()
	// What the copy skipped is damaged in the live directory: skipped here
	// too, for the reason the copy found.
	reasons := map[string]string{}
	for _, d := range copied.res.Skipped {
		reasons[d.TenantID] = d.Reason
	}
	b := &archive.Backuper{Registry: reg, Stores: skippedStores{stores, reasons}, TempDir: stage}
	res, err := b.Backup(ctx, w, now)
	res.Vanished = append(slices.Clone(copied.res.Vanished), res.Vanished...)
	return res, err
}

// errCopyStopped ends a physical backup whose copy failed.
var errCopyStopped = errors.New("the copy of the data directory stopped")

// skippedStores answers for the tenants a physical copy skipped as for a
// damaged store, with the copy's reason.
type skippedStores struct {
	mnemo.Stores
	reasons map[string]string
}

func (s skippedStores) Open(ctx context.Context, id string) (mnemo.MemoryStore, func(), error) {
	if reason, ok := s.reasons[id]; ok {
		return nil, nil, mnemo.Errorf(mnemo.EUNAVAILABLE, "%s", reason)
	}
	return s.Stores.Open(ctx, id)
}

// openEmbedded opens the registry and stores of a data directory nothing
// else uses. The model and dimension only serve searches: a restore keeps
// every vector with its own model.
func openEmbedded(ctx context.Context, dir string) (*sqlite.Registry, *sqlite.Stores, func() error, error) {
	reg, err := sqlite.OpenRegistry(ctx, dir)
	if err != nil {
		return nil, nil, nil, err
	}
	stores, err := sqlite.NewStores(ctx, dir, "", 0, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		reg.Close()
		return nil, nil, nil, err
	}
	closed := false
	return reg, stores, func() error {
		if closed {
			return nil
		}
		closed = true
		err := stores.Close()
		if e := reg.Close(); err == nil {
			err = e
		}
		return err
	}, nil
}

// sniffLogical reads the start of in and reports whether it is a logical
// backup; r reads the whole archive again from its start (in itself, moved
// back, when it can seek), and seekable says whether r can be read twice.
func sniffLogical(in *os.File) (logical bool, r io.Reader, seekable bool) {
	var seen bytes.Buffer
	// Not a logical backup: a physical one, or no backup at all, which the
	// physical reader says.
	_, logical, _ = archive.ReadManifest(io.TeeReader(in, &seen))
	if _, err := in.Seek(0, io.SeekStart); err == nil {
		return logical, in, true
	}
	return logical, io.MultiReader(&seen, in), false
}

// loadLogical restores a logical backup into the empty backend (reg,
// stores), whichever it is: a restore into any backend is this one call.
// When the archive can be read twice (seekable: a file), it is verified
// whole before anything is written, so a bad archive changes nothing;
// otherwise a failed restore leaves what it wrote, and the destination
// must be emptied (the embedded restore loads into a staging directory).
func loadLogical(ctx context.Context, r io.Reader, seekable bool, reg archive.Target, stores mnemo.Stores, lim mnemo.Limits) (archive.Result, error) {
	if seekable {
		if _, err := archive.Verify(ctx, r, lim); err != nil {
			return archive.Result{}, err
		}
		if _, err := r.(io.Seeker).Seek(0, io.SeekStart); err != nil {
			return archive.Result{}, fmt.Errorf("restore: %w", err)
		}
	}
	return archive.Read(ctx, r, reg, stores, lim)
}

// restoreLogicalDir restores a logical backup into the embedded data
// directory dataDir, which must be missing or empty: it is loaded through
// the seams into a staging directory, and moved into place only once it
// is whole (sqlite.FillDataDir), so a failed restore leaves dataDir as it
// found it.
func restoreLogicalDir(ctx context.Context, r io.Reader, seekable bool, dataDir string, lim mnemo.Limits) (res archive.Result, err error) {
	err = sqlite.FillDataDir(ctx, dataDir, func(reg *sqlite.Registry, stores *sqlite.Stores) error {
		res, err = loadLogical(ctx, r, seekable, reg, stores, lim)
		return err
	})
	return res, err
}

// falkorDBAddr is the FalkorDB a backup or restore works on: flag
// (--falkordb host:port), else FALKORDB_HOST and FALKORDB_PORT (6379 by
// default) from the environment, as they select the backend of `mnemo
// serve`; "" when neither names one (the embedded data directory).
func falkorDBAddr(flag string) string {
	if flag != "" || os.Getenv("FALKORDB_HOST") == "" {
		return flag
	}
	return benchFalkorDBAddr()
}

// dialFalkorDB connects to the FalkorDB at addr with FALKORDB_PASSWORD and
// waits for its answer. Protocol 3: the graph replies are typed in it. No
// retries: a graph write that reached the server before the connection
// broke would apply twice.
func dialFalkorDB(ctx context.Context, addr string) (*redis.Client, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: os.Getenv("FALKORDB_PASSWORD"), Protocol: 3, MaxRetries: -1})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("FalkorDB at %s: %w", addr, err)
	}
	return rdb, nil
}

// openFalkorDBBackend opens the registry and tenant stores of the FalkorDB
// at addr; the stores create a tenant's graph for the embedding model of
// dim dimensions (its vector index), as the server's would.
func openFalkorDBBackend(ctx context.Context, addr, model string, dim int) (*falkordb.Registry, *falkordb.Stores, func() error, error) {
	rdb, err := dialFalkorDB(ctx, addr)
	if err != nil {
		return nil, nil, nil, err
	}
	c := falkordb.New(rdb)
	u := os.Getenv("REDIS_URL")
	if u == "" {
		return falkordb.NewRegistry(c), falkordb.NewStores(c, model, dim), rdb.Close, nil
	}
	// The registry is in the separate Redis the replicas share.
	opt, err := redis.ParseURL(u)
	if err != nil {
		rdb.Close()
		return nil, nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.MaxRetries = -1
	state := redis.NewClient(opt)
	if err := state.Ping(ctx).Err(); err != nil {
		rdb.Close()
		state.Close()
		return nil, nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return falkordb.NewRegistryOn(c, state), falkordb.NewStores(c, model, dim), func() error { return errors.Join(state.Close(), rdb.Close()) }, nil
}

// logicalBackupFalkorDB writes a logical backup of the FalkorDB at addr to
// w, through the backend's seams as GET /backup does: nothing is staged
// first, since the registry's dump is one consistent read and each
// tenant's export one snapshot, while the server and its replicas go on.
// tmpDir is where a member too large for memory is staged.
func logicalBackupFalkorDB(ctx context.Context, addr, tmpDir string, w io.Writer, now time.Time) (mnemo.BackupResult, error) {
	reg, stores, closeFn, err := openFalkorDBBackend(ctx, addr, "", 0) // reads only: the model serves no search
	if err != nil {
		return mnemo.BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	defer closeFn()
	return (&archive.Backuper{Registry: reg, Stores: stores, TempDir: tmpDir}).Backup(ctx, w, now)
}

// restoreLogicalFalkorDB restores a logical backup into the FalkorDB at
// addr, whose registry must be empty: that is checked before the archive
// is read. A failed restore may leave part of the archive in FalkorDB
// (there is no staging directory to throw away), and says so.
func restoreLogicalFalkorDB(ctx context.Context, r io.Reader, seekable bool, addr string, lim mnemo.Limits, model string, dim int) (archive.Result, error) {
	reg, stores, closeFn, err := openFalkorDBBackend(ctx, addr, model, dim)
	if err != nil {
		return archive.Result{}, fmt.Errorf("restore: %w", err)
	}
	defer closeFn()
	// A load of nothing refuses a registry that is not empty, and writes
	// nothing.
	empty := func() error { return reg.LoadRegistry(ctx, func(func(mnemo.RegistryRecord, error) bool) {}) }
	if err := empty(); mnemo.ErrorCode(err) == mnemo.ECONFLICT {
		return archive.Result{}, fmt.Errorf("restore: the registry of FalkorDB at %s is not empty (it holds tenants, keys, audit, usage or OAuth state); "+
			"a logical backup restores only into an empty one", addr)
	} else if err != nil {
		return archive.Result{}, fmt.Errorf("restore: %w", err)
	}
	res, err := loadLogical(ctx, r, seekable, reg, stores, lim)
	if err != nil && mnemo.ErrorCode(empty()) == mnemo.ECONFLICT {
		return res, fmt.Errorf("%w\nFalkorDB at %s now holds part of the archive: remove its mnemo:* keys and memories_* graphs (or FLUSHALL a server of its own) before restoring again", err, addr)
	}
	return res, err
}

// restoreModel is the embedding model and dimension of the server's
// settings (EMBEDDING_PROVIDER, EMBEDDING_MODEL, VECTOR_SIZE): a restore
// into FalkorDB creates each tenant's graph with a vector index of that
// dimension, as the server would. The vectors restored keep their own
// model, as in an embedded restore.
func restoreModel(c config) (string, int, error) {
	n := &numbers{c: c}
	dim := n.int("VECTOR_SIZE")
	if n.err != nil {
		return "", 0, n.err
	}
	if dim < 1 || dim > 8192 {
		return "", 0, fmt.Errorf("out-of-range setting: VECTOR_SIZE 1-8192")
	}
	e, err := newEmbedder(c, dim)
	if err != nil {
		return "", 0, err
	}
	return e.Model(), dim, nil
}

// restoreLimits are the input limits a restore checks every memory and
// relation against: the server's settings (MEMORY_CONTENT_HARD_LIMIT,
// MNEMO_MAX_TAGS...), from the environment, so that what a server with
// raised limits stored restores under the same settings.
func restoreLimits(c config) (mnemo.Limits, error) {
	n := &numbers{c: c}
	lim := mnemo.Limits{ContentHardLimit: n.int("MEMORY_CONTENT_HARD_LIMIT"), BatchLimit: n.int("MNEMO_BATCH_LIMIT"),
		MaxTags: n.int("MNEMO_MAX_TAGS"), MaxTagBytes: n.int("MNEMO_MAX_TAG_BYTES"), MaxTagSegments: n.int("MNEMO_MAX_TAG_SEGMENTS"),
		MaxMetadataBytes: n.int("MNEMO_MAX_METADATA_BYTES"), MaxMetadataDepth: n.int("MNEMO_MAX_METADATA_DEPTH"),
		MaxTypeLength: n.int("MNEMO_MAX_TYPE_LENGTH"), MaxQueryLength: n.int("MNEMO_MAX_QUERY_LENGTH"),
		MaxQueryTerms: n.int("MNEMO_MAX_QUERY_TERMS"), MaxListEntries: n.int("MNEMO_MAX_LIST_ENTRIES")}
	if n.err != nil {
		return lim, n.err
	}
	return lim, positive(lim)
}
