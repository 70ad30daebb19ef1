// Command mnemo is a multi-tenant long-term memory server for AI
// assistants that speaks AutoMem's HTTP API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/embed"
	mhttp "github.com/mnemohq/mnemo/http"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/service"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mnemo:", err)
		}
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			os.Exit(coded.ExitCode())
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "serve":
		cfg, err := parseConfig("serve", args[1:], stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr)
	case "bench":
		if len(args) < 2 {
			return fmt.Errorf("usage: mnemo bench locomo|assistant|ranking|load|mixed|abuse [flags]")
		}
		switch args[1] {
		case "locomo":
			return benchLocomo(ctx, args[2:], stdout, stderr)
		case "load":
			if flagGiven(args[2:], "url") {
				return benchLoadHTTP(ctx, args[2:], stdout, stderr)
			}
			return benchLoad(ctx, args[2:], stdout, stderr)
		case "mixed":
			return benchMixed(ctx, args[2:], stdout, stderr)
		case "abuse":
			return benchAbuse(ctx, args[2:], stdout, stderr)
		case "assistant":
			return benchAssistant(ctx, args[2:], stdout, stderr)
		case "ranking":
			return benchRanking(ctx, args[2:], stdout, stderr)
		}
		return fmt.Errorf("unknown benchmark %q (locomo, assistant, ranking, load, mixed, abuse)", args[1])
	case "backup", "restore":
		return dataCommand(ctx, args, stdout, stderr)
	case "mcp":
		return mcpBridge(ctx, args[1:], os.Stdin, stdout, stderr)
	case "config-docs":
		configDocs(stdout)
		return nil
	case "version", "--version":
		fmt.Fprintln(stdout, "mnemo", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, `Usage: mnemo <command>

Commands:
  serve         run the server (mnemo serve --help lists every setting)
  bench locomo  recall quality on LoCoMo against a running server, next to plain BM25
  bench assistant  recall quality on the assistant-style set (internal/evalset) by category, in process,
                next to plain BM25 (--compare shows ranking steps changed)
  bench ranking recall quality on both sets (assistant-style and LoCoMo), in process, with the defaults,
                without each default ranking step and with each opt-in one, next to plain BM25
  bench load    store throughput and recall latency of one tenant at 1k, 10k, 100k memories, in process;
                with --url URL --admin-token T, against a running server over HTTP: concurrent stores
                (--clients), recall latency at --sizes, and a quiet tenant's recall during another's burst
  bench mixed   many tenants, concurrent clients, 70% recall, 25% store, 5% patch/associate/delete against
                a running server (--url URL --admin-token T --tenants --clients --duration --seed):
                requests/s, errors, latency per operation, server CPU and RSS
  backup        write a tar.gz of a data directory, also while a server runs on it (--data-dir D --out F)
  restore       unpack a backup into a new or empty data directory (--data-dir D ARCHIVE)
  mcp           an MCP server on stdio that forwards to a mnemo server (MNEMO_API_KEY=KEY mnemo mcp --url URL,
                or --key-file FILE; never the key on the command line)
  config-docs   print docs/configuration.md
  version       print the version
`)
		return nil
	}
	return fmt.Errorf("unknown command %q (try mnemo help)", args[0])
}

func (c config) int(name string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(c[name]))
	if err != nil {
		return 0, fmt.Errorf("%s must be an integer, got %q", name, c[name])
	}
	return n, nil
}

func (c config) float(name string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(c[name]), 64)
	if err != nil {
		return 0, fmt.Errorf("%s must be a number, got %q", name, c[name])
	}
	return f, nil
}

func (c config) bool(name string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(c[name])) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s must be true or false, got %q", name, c[name])
}

// numbers reads many numeric settings, stopping at the first bad one.
type numbers struct {
	c   config
	err error
}

func (n *numbers) int(name string) int {
	v, err := n.c.int(name)
	if n.err == nil {
		n.err = err
	}
	return v
}

func (n *numbers) float(name string) float64 {
	v, err := n.c.float(name)
	if n.err == nil {
		n.err = err
	}
	return v
}

func (n *numbers) bool(name string) bool {
	v, err := n.c.bool(name)
	if n.err == nil {
		n.err = err
	}
	return v
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("MNEMO_LOG_LEVEL: %w", err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func newEmbedder(c config, dim int) (mnemo.Embedder, error) {
	provider := strings.ToLower(c["EMBEDDING_PROVIDER"])
	if provider == "auto" {
		provider = "hash"
		if c["OPENAI_API_KEY"] != "" || os.Getenv("OPENAI_BASE_URL") != "" {
			provider = "openai"
		}
	}
	switch provider {
	case "hash":
		return embed.NewHash(dim), nil
	case "openai":
		return embed.NewOpenAI(c["OPENAI_BASE_URL"], c["OPENAI_API_KEY"], c["EMBEDDING_MODEL"], dim), nil
	}
	return nil, fmt.Errorf("EMBEDDING_PROVIDER must be hash, openai or auto, got %q", c["EMBEDDING_PROVIDER"])
}

// recallConfig is recall's configuration from the settings: with none set,
// recall.DefaultConfig, the ranking the benchmarks measure.
func recallConfig(c config) (recall.Config, error) {
	n := &numbers{c: c}
	rcfg := recall.DefaultConfig
	rcfg.MaxLimit = n.int("RECALL_MAX_LIMIT")
	rcfg.RelationLimit = n.int("RECALL_RELATION_LIMIT")
	rcfg.ExpansionLimit = n.int("RECALL_EXPANSION_LIMIT")
	rcfg.AdaptiveFloor = n.bool("RECALL_ADAPTIVE_FLOOR")
	rcfg.MinScore = n.float("RECALL_MIN_SCORE")
	rcfg.Weights.Vector = n.float("SEARCH_WEIGHT_VECTOR")
	rcfg.Weights.Keyword = n.float("SEARCH_WEIGHT_KEYWORD")
	rcfg.Weights.Tag = n.float("SEARCH_WEIGHT_TAG")
	rcfg.Weights.Importance = n.float("SEARCH_WEIGHT_IMPORTANCE")
	rcfg.Weights.Confidence = n.float("SEARCH_WEIGHT_CONFIDENCE")
	rcfg.Weights.Recency = n.float("SEARCH_WEIGHT_RECENCY")
	rcfg.Weights.Exact = n.float("SEARCH_WEIGHT_EXACT")
	rcfg.Weights.Relation = n.float("SEARCH_WEIGHT_RELATION")
	rcfg.Weights.RecencyWindowDays = n.float("SEARCH_RECENCY_WINDOW_DAYS")
	rcfg.Weights.TimeMention = n.float("SEARCH_WEIGHT_TIME_MENTION")
	rcfg.Weights.Temporal = n.float("SEARCH_WEIGHT_TEMPORAL")
	switch rcfg.RecencyBias = strings.ToLower(c["RECALL_RECENCY_BIAS"]); rcfg.RecencyBias {
	case "on", "off", "auto":
	default:
		return recall.Config{}, fmt.Errorf("RECALL_RECENCY_BIAS must be on, off or auto, got %q", c["RECALL_RECENCY_BIAS"])
	}
	rcfg.ContextWindow = n.int("RECALL_CONTEXT_WINDOW")
	rcfg.ContextWeight = n.float("RECALL_CONTEXT_WEIGHT")
	if n.err != nil {
		return recall.Config{}, n.err
	}
	if rcfg.MaxLimit < 1 {
		return recall.Config{}, fmt.Errorf("out-of-range setting: RECALL_MAX_LIMIT must be at least 1")
	}
	var err error
	if rcfg.ContextMaxGap, err = time.ParseDuration(c["RECALL_CONTEXT_MAX_GAP"]); err != nil || rcfg.ContextMaxGap < 0 {
		return recall.Config{}, fmt.Errorf("RECALL_CONTEXT_MAX_GAP must be a duration, got %q", c["RECALL_CONTEXT_MAX_GAP"])
	}
	return rcfg, nil
}

func serve(ctx context.Context, c config, stderr io.Writer) error {
	logger, err := newLogger(stderr, c["MNEMO_LOG_LEVEL"])
	if err != nil {
		return err
	}
	n := &numbers{c: c}
	port := n.int("PORT")
	dim := n.int("VECTOR_SIZE")
	limits := mnemo.Limits{ContentHardLimit: n.int("MEMORY_CONTENT_HARD_LIMIT"), BatchLimit: n.int("MNEMO_BATCH_LIMIT"),
		MaxTags: n.int("MNEMO_MAX_TAGS"), MaxTagBytes: n.int("MNEMO_MAX_TAG_BYTES"), MaxTagSegments: n.int("MNEMO_MAX_TAG_SEGMENTS"),
		MaxMetadataBytes: n.int("MNEMO_MAX_METADATA_BYTES"), MaxMetadataDepth: n.int("MNEMO_MAX_METADATA_DEPTH"),
		MaxTypeLength: n.int("MNEMO_MAX_TYPE_LENGTH"), MaxQueryLength: n.int("MNEMO_MAX_QUERY_LENGTH"),
		MaxQueryTerms: n.int("MNEMO_MAX_QUERY_TERMS"), MaxListEntries: n.int("MNEMO_MAX_LIST_ENTRIES")}
	maxBody := n.int("MNEMO_MAX_BODY_BYTES")
	allowQuery := n.bool("MNEMO_ALLOW_QUERY_TOKEN")
	rps, burst := n.float("MNEMO_DEFAULT_RATE_LIMIT_RPS"), n.int("MNEMO_DEFAULT_RATE_LIMIT_BURST")
	maxMemories, maxStorage := int64(n.int("MNEMO_DEFAULT_MAX_MEMORIES")), n.float("MNEMO_DEFAULT_MAX_STORAGE_MB")
	concurrency, authFailures := n.int("MNEMO_TENANT_MAX_CONCURRENT"), n.int("MNEMO_AUTH_FAILURES_PER_MINUTE")
	minToken := n.int("MNEMO_MIN_CLIENT_TOKEN_LENGTH")
	mcpPerTenant, mcpTotal, mcpBody := n.int("MNEMO_MCP_TENANT_MAX_SESSIONS"), n.int("MNEMO_MCP_MAX_SESSIONS"), n.int("MNEMO_MCP_MAX_BODY_BYTES")
	if n.err != nil {
		return n.err
	}
	if port < 0 || port > 65535 || dim < 1 || dim > 8192 || limits.ContentHardLimit < 1 || limits.BatchLimit < 1 || maxBody < 1024 {
		return fmt.Errorf("out-of-range setting: PORT 0-65535, VECTOR_SIZE 1-8192, limits positive, MNEMO_MAX_BODY_BYTES >= 1024")
	}
	if err := positive(limits); err != nil {
		return err
	}
	if minToken < 0 || minToken > 512 || mcpPerTenant < 0 || mcpTotal < 0 || mcpBody < 1024 {
		return fmt.Errorf("out-of-range setting: MNEMO_MIN_CLIENT_TOKEN_LENGTH 0-512, MCP session caps >= 0, MNEMO_MCP_MAX_BODY_BYTES >= 1024")
	}
	mcpIdle, err := time.ParseDuration(c["MNEMO_MCP_SESSION_TIMEOUT"])
	if err != nil || mcpIdle <= 0 {
		return fmt.Errorf("MNEMO_MCP_SESSION_TIMEOUT must be a positive duration, got %q", c["MNEMO_MCP_SESSION_TIMEOUT"])
	}
	retry, err := time.ParseDuration(c["MNEMO_EMBED_RETRY_INTERVAL"])
	if err != nil || retry <= 0 {
		return fmt.Errorf("MNEMO_EMBED_RETRY_INTERVAL must be a positive duration, got %q", c["MNEMO_EMBED_RETRY_INTERVAL"])
	}
	rcfg, err := recallConfig(c)
	if err != nil {
		return err
	}
	embedder, err := newEmbedder(c, dim)
	if err != nil {
		return err
	}

	timeout, err := time.ParseDuration(c["MNEMO_REQUEST_TIMEOUT"])
	if err != nil || timeout < 0 {
		return fmt.Errorf("MNEMO_REQUEST_TIMEOUT must be a duration (0 = none), got %q", c["MNEMO_REQUEST_TIMEOUT"])
	}
	running := n.int("MNEMO_TENANT_RUNNING")
	if running < 0 {
		return fmt.Errorf("MNEMO_TENANT_RUNNING must be 0 or more, got %d", running)
	}
	if running == 0 {
		running = max(1, runtime.GOMAXPROCS(0)-1) // leave a CPU to the other tenants
	}

	var proxies []netip.Prefix
	for _, c := range strings.Split(c["MNEMO_TRUSTED_PROXIES"], ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return fmt.Errorf("MNEMO_TRUSTED_PROXIES: %q is not a CIDR", c)
		}
		proxies = append(proxies, p)
	}
	oauth, err := oauthConfig(c)
	if err != nil {
		return err
	}
	publicURL, err := parsePublicURL(c["MNEMO_PUBLIC_URL"])
	if err != nil {
		return err
	}
	retention, pruneEvery, pruneBatch, err := retentionConfig(c, oauth.UnusedClientTTL)
	if err != nil {
		return err
	}
	scfg := service.Config{IdempotencyTTL: retention.Idempotency, Limits: limits, Recall: rcfg, AdminToken: c["ADMIN_API_TOKEN"], TenantConcurrency: concurrency,
		AuthFailuresPerMinute: authFailures, RequestTimeout: timeout, TenantRunning: running, OAuth: oauth, MinClientTokenLength: minToken,
		MCPSessionsPerTenant: mcpPerTenant, MCPMaxSessions: mcpTotal, MCPSessionTimeout: mcpIdle, Version: version}
	if rps > 0 {
		if burst <= 0 {
			burst = max(1, int(math.Ceil(rps)))
		}
		scfg.DefaultRateLimit = &mnemo.RateLimit{RequestsPerSecond: rps, Burst: burst}
	}
	if maxMemories > 0 {
		scfg.DefaultQuotas.MaxMemories = &maxMemories
	}
	if maxStorage > 0 {
		scfg.DefaultQuotas.MaxStorageMB = &maxStorage
	}

	b, err := openBackend(ctx, c, embedder.Model(), dim, limits, logger)
	if err != nil {
		return err
	}
	defer b.close()
	scfg.Backend, scfg.DiskFull, scfg.Ping = b.name, b.diskFull, b.ping
	// Records left pointing at nothing are removed before anything reads
	// them; those past their retention, by the pruner in the background.
	pruner := &service.Pruner{Store: b.pruner, Retention: retention, Interval: pruneEvery, Batch: pruneBatch, Logger: logger}
	// Background work is owned here: it stops, and is awaited, before the
	// backend closes.
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	defer func() {
		stopBackground()
		background.Wait()
	}()
	if err := retryInBackground(bg, b, "clean orphaned registry records", logger, &background, pruner.CleanOrphans); err != nil {
		return fmt.Errorf("clean orphaned registry records: %w", err)
	}
	backfill := &service.Backfill{Registry: b.parts.Tenants, Stores: b.parts.Stores, Leases: b.leases, Embedder: embedder, Logger: logger, Interval: retry, Batch: 64}
	scfg.Backlog = backfill.Backlog
	svc, err := service.New(b.parts, embedder, scfg, logger)
	if err != nil {
		return err
	}
	if token := c["AUTOMEM_API_TOKEN"]; token != "" {
		if len(token) < max(mnemo.MinClientTokenLength, minToken) {
			return fmt.Errorf("AUTOMEM_API_TOKEN: must be at least %d characters (MNEMO_MIN_CLIENT_TOKEN_LENGTH)", max(mnemo.MinClientTokenLength, minToken))
		}
		if len(token) < mnemo.StrongTokenLength {
			logger.Warn("AUTOMEM_API_TOKEN is shorter than 24 characters: it could be guessed, and from an address that keeps failing authentication it is refused (429)")
		}
		bind := func(ctx context.Context) error { return bindDefaultTenant(ctx, b.registry, b.parts.Stores, token) }
		if err := retryInBackground(bg, b, "bind AUTOMEM_API_TOKEN to tenant 'default'", logger, &background, bind); err != nil {
			return fmt.Errorf("AUTOMEM_API_TOKEN: %w", err)
		}
	}
	srv, err := mhttp.NewServer(mhttp.Services{Auth: svc, Gate: svc, Memories: svc, Recall: svc, Health: svc, Tenants: svc,
		Keys: svc, Reports: svc, Portability: svc, OAuth: svc},
		mhttp.Config{AllowQueryToken: allowQuery, MaxBodyBytes: int64(maxBody), TrustedProxies: proxies,
			PublicURL: publicURL, MCPSessionTimeout: mcpIdle, MCPMaxBodyBytes: int64(mcpBody),
			Version: version, Pruned: pruner.Removed}, logger)
	if err != nil {
		return err
	}

	background.Go(func() { backfill.Run(bg) })
	background.Go(func() { pruner.Run(bg) })
	for _, run := range b.run {
		background.Go(func() { run(bg) })
	}

	addr := net.JoinHostPort(c["HOST"], strconv.Itoa(port))
	if c["ADMIN_API_TOKEN"] == "" {
		logger.Warn("ADMIN_API_TOKEN is not set: admin routes answer 403")
	} else if len(c["ADMIN_API_TOKEN"]) < mnemo.StrongTokenLength {
		logger.Warn("ADMIN_API_TOKEN is shorter than 24 characters: it could be guessed, and from an address that keeps failing authentication it is refused (429)")
	}
	return srv.ListenAndServe(ctx, addr, func(a net.Addr) {
		logger.Info("mnemo listening", "addr", a.String(), "backend", b.name, "storage", b.where, "embedder", embedder.Model(), "version", version)
	})
}

// oauthConfig reads the settings of the OAuth server.
func oauthConfig(c config) (service.OAuthConfig, error) {
	n := &numbers{c: c}
	o := service.OAuthConfig{RefuseUnverified: n.bool("MNEMO_OAUTH_REFUSE_UNVERIFIED"),
		RegistrationsPerMinute: n.int("MNEMO_OAUTH_REGISTRATIONS_PER_MINUTE"), MaxClients: n.int("MNEMO_OAUTH_MAX_CLIENTS")}
	if n.err != nil {
		return o, n.err
	}
	if o.RegistrationsPerMinute < 0 || o.MaxClients < 0 {
		return o, fmt.Errorf("MNEMO_OAUTH_REGISTRATIONS_PER_MINUTE and MNEMO_OAUTH_MAX_CLIENTS must be 0 or more")
	}
	ttl, err := time.ParseDuration(c["MNEMO_OAUTH_UNUSED_CLIENT_TTL"])
	if err != nil || ttl < 0 || (ttl > 0 && ttl < 10*time.Minute) {
		// A client registers, then authorizes and exchanges its code
		// within minutes; less would expire clients mid-flow.
		return o, fmt.Errorf("MNEMO_OAUTH_UNUSED_CLIENT_TTL must be 0 or a duration of at least 10m, got %q", c["MNEMO_OAUTH_UNUSED_CLIENT_TTL"])
	}
	o.UnusedClientTTL = ttl
	for _, h := range strings.Split(c["MNEMO_OAUTH_REDIRECT_HOSTS"], ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h == "" {
			continue
		}
		if strings.ContainsAny(h, "/:*@ ") {
			return o, fmt.Errorf("MNEMO_OAUTH_REDIRECT_HOSTS: %q is not a host name (no scheme, port, path or wildcard)", h)
		}
		o.RedirectHosts = append(o.RedirectHosts, h)
	}
	return o, nil
}

// parsePublicURL checks MNEMO_PUBLIC_URL: the OAuth issuer, which clients
// compare exactly, so it must be an absolute http(s) URL without a query.
func parsePublicURL(raw string) (string, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("MNEMO_PUBLIC_URL must be an absolute http(s) URL without query or fragment, such as https://memory.example.com; got %q", raw)
	}
	return raw, nil
}

// positive refuses an input bound that is not positive: zero would not
// mean "no limit" but the default, which would surprise.
func positive(l mnemo.Limits) error {
	for _, s := range []struct {
		name string
		v    int
	}{{"MNEMO_MAX_TAGS", l.MaxTags}, {"MNEMO_MAX_TAG_BYTES", l.MaxTagBytes}, {"MNEMO_MAX_TAG_SEGMENTS", l.MaxTagSegments},
		{"MNEMO_MAX_METADATA_BYTES", l.MaxMetadataBytes}, {"MNEMO_MAX_METADATA_DEPTH", l.MaxMetadataDepth},
		{"MNEMO_MAX_TYPE_LENGTH", l.MaxTypeLength}, {"MNEMO_MAX_QUERY_LENGTH", l.MaxQueryLength},
		{"MNEMO_MAX_QUERY_TERMS", l.MaxQueryTerms}, {"MNEMO_MAX_LIST_ENTRIES", l.MaxListEntries}} {
		if s.v < 1 {
			return fmt.Errorf("%s must be a positive integer, got %d", s.name, s.v)
		}
	}
	return nil
}

// bindDefaultTenant makes AUTOMEM_API_TOKEN a key of the tenant "default",
// creating the tenant on first start, so an AutoMem client keeps working.
func bindDefaultTenant(ctx context.Context, registry interface {
	mnemo.TenantRegistry
	mnemo.KeyRegistry
}, stores mnemo.Stores, token string) error {
	if len(token) < mnemo.MinClientTokenLength {
		return fmt.Errorf("must be at least %d characters", mnemo.MinClientTokenLength)
	}
	hash := mnemo.HashToken(token)
	if _, t, err := registry.KeyByHash(ctx, hash); err == nil {
		if t.ID != "default" {
			return fmt.Errorf("the token already belongs to tenant %q", t.ID)
		}
		return nil
	}
	now := time.Now().UTC()
	key := &mnemo.Key{ID: mnemo.NewKeyID(), TenantID: "default", Label: "AUTOMEM_API_TOKEN", Prefix: mnemo.DisplayPrefix(token, false),
		Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: now}
	if _, err := registry.Tenant(ctx, "default"); err == nil {
		return registry.AddKey(ctx, key, hash)
	}
	t := &mnemo.Tenant{ID: "default", Name: "default", Status: mnemo.TenantActive, CreatedAt: now, UpdatedAt: now}
	if err := registry.CreateTenant(ctx, t, key, hash); err != nil {
		return err
	}
	return stores.Create(ctx, "default")
}
