package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/archive"
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/local"
	"github.com/mnemohq/mnemo/service"
	"github.com/mnemohq/mnemo/sqlite"
)

// backend is the storage the service runs on: the embedded SQLite one
// (the default) or FalkorDB, which replicas share.
type backend struct {
	name  string // "sqlite" or "falkordb", for /health and the log
	where string // the data directory or FalkorDB's address, for the log
	parts service.Backend
	// registry is parts' tenant registry and keys, for AUTOMEM_API_TOKEN.
	registry interface {
		mnemo.TenantRegistry
		mnemo.KeyRegistry
	}
	pruner   mnemo.RecordPruner
	leases   mnemo.Leases
	diskFull func() bool
	// ping reports a dependency's health (nil: none to report).
	ping func(ctx context.Context) error
	// shared is true when other processes share the state: start-up work
	// that needs it goes on in the background until it is reachable.
	shared bool
	// run is the backend's own background work; close releases it, last.
	run   []func(ctx context.Context)
	close func()
}

// openBackend opens the backend the configuration selects: FalkorDB when
// FALKORDB_HOST is set, the embedded store under MNEMO_DATA_DIR otherwise.
func openBackend(ctx context.Context, c config, model string, dim int, limits mnemo.Limits, logger *slog.Logger) (*backend, error) {
	if c["FALKORDB_HOST"] != "" {
		return openFalkorDB(c, model, dim, logger)
	}
	return openSQLite(ctx, c, model, dim, limits, logger)
}

// openSQLite opens the embedded backend under MNEMO_DATA_DIR.
func openSQLite(ctx context.Context, c config, model string, dim int, limits mnemo.Limits, logger *slog.Logger) (_ *backend, err error) {
	n := &numbers{c: c}
	throttleEntries := n.int("MNEMO_AUTH_THROTTLE_MAX_ENTRIES")
	maxOpen, vectorMB := n.int("MNEMO_MAX_OPEN_STORES"), n.int("MNEMO_VECTOR_MEMORY_MB")
	if n.err != nil {
		return nil, n.err
	}
	if throttleEntries < 1 {
		return nil, fmt.Errorf("out-of-range setting: MNEMO_AUTH_THROTTLE_MAX_ENTRIES >= 1")
	}
	idle, err := time.ParseDuration(c["MNEMO_STORE_IDLE_TIMEOUT"])
	if err != nil {
		return nil, fmt.Errorf("MNEMO_STORE_IDLE_TIMEOUT: %w", err)
	}
	if maxOpen < 0 || vectorMB < 0 {
		return nil, fmt.Errorf("MNEMO_MAX_OPEN_STORES and MNEMO_VECTOR_MEMORY_MB must be 0 or more, got %d and %d", maxOpen, vectorMB)
	}
	if maxOpen == 0 {
		maxOpen = sqlite.DefaultMaxOpen()
	}
	setAside, err := parseRetention(c["MNEMO_SET_ASIDE_RETENTION"])
	if err != nil {
		return nil, fmt.Errorf("MNEMO_SET_ASIDE_RETENTION must be a duration (1h30m) or days (30d), 0 or more, got %q", c["MNEMO_SET_ASIDE_RETENTION"])
	}
	flush, err := time.ParseDuration(c["MNEMO_USAGE_FLUSH_INTERVAL"])
	if err != nil || flush <= 0 || flush > time.Minute {
		return nil, fmt.Errorf("MNEMO_USAGE_FLUSH_INTERVAL must be a duration from 1ms to 1m, got %q", c["MNEMO_USAGE_FLUSH_INTERVAL"])
	}
	dataDir := c["MNEMO_DATA_DIR"]
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if fi, err := os.Stat(dataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// Made by someone else (a volume, an older mnemo): its files are
		// 0600, but other users can list the tenants.
		logger.Warn("the data directory is open to other users: chmod 700 it", "data_dir", dataDir, "mode", fi.Mode().Perm().String())
	}
	// The disk reserve comes first: a full disk found from here on has room
	// for deletes and the registry's flush (see sqlite.Disk).
	reserve, err := c.int("MNEMO_DISK_RESERVE")
	if err != nil || reserve < 0 {
		return nil, fmt.Errorf("MNEMO_DISK_RESERVE must be 0 or more bytes, got %q", c["MNEMO_DISK_RESERVE"])
	}
	disk, err := sqlite.OpenDisk(dataDir, int64(reserve), logger)
	if err != nil {
		return nil, err
	}
	registry, err := sqlite.OpenRegistry(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	// Closed in reverse order: the stores report their counters to the
	// registry, which writes what it buffers last.
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	closers = append(closers, func() {
		if err := registry.Close(); err != nil { // its last flush: usage, counters, key touches
			logger.Error("close the registry", "err", err)
		}
	})
	registry.SetDisk(disk) // before NewStores: the stores it opens share it
	registry.SetFlushInterval(flush)
	registry.SetLogger(logger)
	stores, err := sqlite.NewStores(ctx, dataDir, model, dim, registry, logger)
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() {
		if err := stores.Close(); err != nil {
			logger.Error("close the tenant stores", "err", err)
		}
	})
	if setAside > 0 {
		if _, err := stores.RemoveSetAside(time.Now().Add(-setAside)); err != nil {
			return nil, fmt.Errorf("remove set-aside tenant directories: %w", err)
		}
	}
	stores.IdleTimeout = idle
	stores.Limits = limits
	stores.MaxOpen, stores.VectorBudget = maxOpen, int64(vectorMB)<<20
	logger.Info("tenant store bound", "max_open_stores", maxOpen, "vector_memory_mb", vectorMB)
	limiter := &local.Limits{MaxThrottleEntries: throttleEntries}
	return &backend{name: "sqlite", where: dataDir, registry: registry, pruner: registry, leases: &local.Leases{}, diskFull: disk.Full,
		parts: service.Backend{Tenants: registry, Keys: registry, Audit: registry, Usage: registry,
			Idempotency: registry, OAuth: registry, Backup: registry, Stores: stores,
			Rate: limiter, Concurrency: limiter, Throttle: limiter, Registrations: &local.Registrations{}},
		run: []func(context.Context){stores.Run}, close: closeAll}, nil
}

// openFalkorDB opens the shared backend on FalkorDB at FALKORDB_HOST. It
// does not wait for the server: mnemo starts while FalkorDB is down, and
// every request that needs it gets a 503 until it is back.
func openFalkorDB(c config, model string, dim int, logger *slog.Logger) (*backend, error) {
	port, err := strconv.Atoi(c["FALKORDB_PORT"])
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("FALKORDB_PORT must be a port number, got %q", c["FALKORDB_PORT"])
	}
	addr := net.JoinHostPort(c["FALKORDB_HOST"], strconv.Itoa(port))
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: c["FALKORDB_PASSWORD"], Protocol: 3,
		// A graph write retried after a lost reply would apply twice.
		MaxRetries: -1,
		// Requests carry their own deadline (MNEMO_REQUEST_TIMEOUT); these
		// bound the work that has none.
		ContextTimeoutEnabled: true, DialTimeout: 2 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		// A recall reads up to six things at once; tenants' requests run
		// side by side. A request that finds no free connection waits at
		// most PoolTimeout (or its own deadline), then gets a 503.
		PoolSize: 64, PoolTimeout: 5 * time.Second})
	state := redis.UniversalClient(rdb)
	if u := c["REDIS_URL"]; u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			rdb.Close()
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		opt.MaxRetries, opt.ContextTimeoutEnabled = -1, true
		state = redis.NewClient(opt)
	}
	client := falkordb.New(rdb)
	registry := falkordb.NewRegistryOn(client, state)
	limiter := falkordb.NewLimits(state)
	stores := falkordb.NewStores(client, model, dim)
	where := addr
	if state != redis.UniversalClient(rdb) {
		where += " (shared state: REDIS_URL)"
	}
	b := &backend{name: "falkordb", where: where, registry: registry, pruner: registry, leases: falkordb.NewLeases(state), shared: true,
		parts: service.Backend{Tenants: registry, Keys: registry, Audit: registry, Usage: registry,
			Idempotency: registry, OAuth: registry, Backup: &archive.Backuper{Registry: registry, Stores: stores}, Stores: stores,
			Rate: limiter, Concurrency: limiter, Throttle: limiter, Registrations: limiter},
		ping: func(ctx context.Context) error { return falkordb.Ping(ctx, client, state) },
		close: func() {
			if state != redis.UniversalClient(rdb) {
				state.Close()
			}
			rdb.Close()
		}}
	b.run = append(b.run, func(ctx context.Context) { checkFalkorDB(ctx, rdb, logger) })
	return b, nil
}

// checkFalkorDB checks, once FalkorDB answers, the settings a 2xx's
// durability rests on, and warns about each one that is off. It retries
// until the server answers or ctx ends.
func checkFalkorDB(ctx context.Context, rdb *redis.Client, logger *slog.Logger) {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 30*time.Second) {
		settings, err := falkordb.CheckServer(ctx, rdb)
		if err == nil {
			for _, w := range settings.Warnings() {
				logger.Warn("FalkorDB: "+w, "addr", rdb.Options().Addr)
			}
			logger.Info("FalkorDB connected", "addr", rdb.Options().Addr, "module_version", settings.ModuleVersion,
				"appendonly", settings.AppendOnly, "appendfsync", settings.AppendFsync, "maxmemory_policy", settings.MaxMemoryPolicy)
			return
		}
		logger.Warn("FalkorDB not reachable yet; requests that need it answer 503 until it is", "addr", rdb.Options().Addr, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// retryInBackground runs f now, and when the shared state is not
// reachable yet, again every few seconds until it is: a replica starts
// while FalkorDB is down.
func retryInBackground(ctx context.Context, b *backend, what string, logger *slog.Logger, wg *sync.WaitGroup, f func(context.Context) error) error {
	err := f(ctx)
	if err == nil || !b.shared || mnemo.ErrorCode(err) != mnemo.EUNAVAILABLE {
		return err
	}
	logger.Warn(what+": the backend is not reachable yet; retrying in the background", "err", err)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
			err := f(ctx)
			if err == nil {
				logger.Info(what + ": done")
				return
			}
			if mnemo.ErrorCode(err) != mnemo.EUNAVAILABLE {
				logger.Error(what, "err", err)
				return
			}
		}
	})
	return nil
}
