package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// setting is one configuration value: an environment variable (AutoMem's
// name where one exists), a flag, a default and a description. The same
// table prints --help and docs/configuration.md.
type setting struct {
	Env, Flag, Default, Help string
	Secret                   bool // environment only: a flag would show in ps
}

var settings = []setting{
	{Env: "PORT", Flag: "port", Default: "8001", Help: "TCP port to listen on"},
	{Env: "HOST", Flag: "host", Default: "", Help: "address to bind; empty means every interface"},
	{Env: "MNEMO_PUBLIC_URL", Flag: "public-url", Default: "", Help: "base URL clients use, e.g. https://memory.example.com, the OAuth issuer in metadata; set it in production (default: each request's scheme and Host, answered with Cache-Control: no-store and Vary: Host)"},
	{Env: "MNEMO_DATA_DIR", Flag: "data-dir", Default: "./data", Help: "directory for registry.db and tenants/<id>/memories.db"},
	{Env: "FALKORDB_HOST", Flag: "falkordb-host", Default: "", Help: "FalkorDB server: set, it selects the shared backend (a graph memories_<id> per tenant, the registry and limits in Redis structures on the same server), which any number of replicas share; unset, the embedded store under MNEMO_DATA_DIR"},
	{Env: "FALKORDB_PORT", Flag: "falkordb-port", Default: "6379", Help: "FalkorDB's port"},
	{Env: "FALKORDB_PASSWORD", Default: "", Secret: true, Help: "FalkorDB's password (AUTH)"},
	{Env: "REDIS_URL", Default: "", Secret: true, Help: "with FALKORDB_HOST: a separate Redis for the shared state (registry, keys, audit, usage, OAuth, limits), redis://[:password@]host:port/db; unset, FalkorDB's server holds it"},
	{Env: "MNEMO_DISK_RESERVE", Flag: "disk-reserve", Default: "67108864", Help: "bytes (64 MiB) kept in a file in the data directory and released when the disk fills, so that deletes and usage still reach disk; new data resumes once this much and as much again (at least 1 MiB) is free; 0 keeps no reserve"},
	{Env: "ADMIN_API_TOKEN", Default: "", Secret: true, Help: "operator token for /admin routes; unset closes them (403)"},
	{Env: "AUTOMEM_API_TOKEN", Default: "", Secret: true, Help: "single-tenant migration: bind this token to a tenant named 'default'"},
	{Env: "EMBEDDING_PROVIDER", Flag: "embedding-provider", Default: "auto", Help: "hash, openai, or auto (openai when OPENAI_API_KEY or OPENAI_BASE_URL is set, else hash)"},
	{Env: "OPENAI_API_KEY", Default: "", Secret: true, Help: "key for the OpenAI-compatible embeddings endpoint"},
	{Env: "OPENAI_BASE_URL", Flag: "openai-base-url", Default: "https://api.openai.com/v1", Help: "OpenAI-compatible API base (OpenAI, Ollama, vLLM, TEI, LM Studio)"},
	{Env: "EMBEDDING_MODEL", Flag: "embedding-model", Default: "text-embedding-3-small", Help: "embedding model name for the openai provider"},
	{Env: "VECTOR_SIZE", Flag: "vector-size", Default: "768", Help: "embedding dimension"},
	{Env: "MEMORY_CONTENT_HARD_LIMIT", Flag: "content-limit", Default: "2000", Help: "maximum characters of memory content"},
	{Env: "MNEMO_BATCH_LIMIT", Flag: "batch-limit", Default: "500", Help: "maximum items in /memory/batch and batch /associate"},
	{Env: "MNEMO_MAX_BODY_BYTES", Flag: "max-body-bytes", Default: "8388608", Help: "maximum request body size (larger: 413)"},
	{Env: "MNEMO_MAX_TAGS", Flag: "max-tags", Default: "50", Help: "maximum tags of one memory"},
	{Env: "MNEMO_MAX_TAG_BYTES", Flag: "max-tag-bytes", Default: "256", Help: "maximum bytes of one tag"},
	{Env: "MNEMO_MAX_TAG_SEGMENTS", Flag: "max-tag-segments", Default: "10", Help: "maximum ':'- or '/'-separated segments of one tag (each is a stored prefix)"},
	{Env: "MNEMO_MAX_METADATA_BYTES", Flag: "max-metadata-bytes", Default: "65536", Help: "maximum bytes of a memory's metadata, and of a relation's properties, as JSON"},
	{Env: "MNEMO_MAX_METADATA_DEPTH", Flag: "max-metadata-depth", Default: "32", Help: "maximum nesting of metadata and relation properties"},
	{Env: "MNEMO_MAX_TYPE_LENGTH", Flag: "max-type-length", Default: "64", Help: "maximum characters of a memory's type"},
	{Env: "MNEMO_MAX_QUERY_LENGTH", Flag: "max-query-length", Default: "2000", Help: "maximum characters of a recall query, of each of its queries, and of its other text parameters"},
	{Env: "MNEMO_MAX_QUERY_TERMS", Flag: "max-query-terms", Default: "64", Help: "maximum search terms of a recall query and of each of its queries"},
	{Env: "MNEMO_MAX_LIST_ENTRIES", Flag: "max-list-entries", Default: "100", Help: "maximum entries of a list parameter (recall's tags, exclude_tags, context_tags, context_types, priority_ids; by-tag's tags; relationship_types)"},
	{Env: "MNEMO_DEFAULT_RATE_LIMIT_RPS", Flag: "default-rate-limit-rps", Default: "0", Help: "requests per second a new tenant may make (0 = no limit)"},
	{Env: "MNEMO_DEFAULT_RATE_LIMIT_BURST", Flag: "default-rate-limit-burst", Default: "0", Help: "burst of a new tenant's rate limit (0 = the rps, at least 1)"},
	{Env: "MNEMO_DEFAULT_MAX_MEMORIES", Flag: "default-max-memories", Default: "0", Help: "memory quota of a new tenant (0 = none)"},
	{Env: "MNEMO_DEFAULT_MAX_STORAGE_MB", Flag: "default-max-storage-mb", Default: "0", Help: "storage quota of a new tenant in MiB of stored data (0 = none)"},
	{Env: "MNEMO_TENANT_MAX_CONCURRENT", Flag: "tenant-max-concurrent", Default: "16", Help: "requests one tenant may have in flight (0 = no cap)"},
	{Env: "MNEMO_REQUEST_TIMEOUT", Flag: "request-timeout", Default: "10s", Help: "a tenant request's time budget: past it, recall and the store stop working on it and it answers 503 (0 = none)"},
	{Env: "MNEMO_TENANT_RUNNING", Flag: "tenant-running", Default: "0", Help: "requests one tenant may have running at once; more wait their turn behind that tenant's own, so its heaviest requests leave CPU to the others (0 = one less than the CPUs, at least 1)"},
	{Env: "MNEMO_AUTH_FAILURES_PER_MINUTE", Flag: "auth-failures-per-minute", Default: "30", Help: "failed authentications from one address (an IPv6 /64), or with one key prefix, before further failures get 429 for the rest of the minute (0 = never); a valid key of 24 characters or more is never refused"},
	{Env: "MNEMO_AUTH_THROTTLE_MAX_ENTRIES", Flag: "auth-throttle-max-entries", Default: "100000", Help: "addresses and key prefixes the failed-authentication throttle remembers; when full it forgets the oldest not yet throttled"},
	{Env: "MNEMO_MIN_CLIENT_TOKEN_LENGTH", Flag: "min-client-token-length", Default: "0", Help: "shortest api_token a client may choose when creating a tenant (0 = the built-in 8); one under 24 is accepted with a warning"},
	{Env: "MNEMO_OAUTH_REDIRECT_HOSTS", Flag: "oauth-redirect-hosts", Default: "claude.ai,claude.com,chatgpt.com", Help: "comma-separated hosts trusted to receive OAuth codes over https (Claude.ai's and ChatGPT's connectors by default); loopback (localhost, 127.0.0.1, ::1) is always trusted; a client redirecting anywhere else is shown as unverified on the consent page and never receives an error redirect"},
	{Env: "MNEMO_OAUTH_REFUSE_UNVERIFIED", Flag: "oauth-refuse-unverified", Default: "false", Help: "refuse to register OAuth clients whose redirect host is not in MNEMO_OAUTH_REDIRECT_HOSTS (or loopback)"},
	{Env: "MNEMO_OAUTH_REGISTRATIONS_PER_MINUTE", Flag: "oauth-registrations-per-minute", Default: "10", Help: "OAuth client registrations one client address (IPv6: its /64) may make in a minute before 429 (0 = no limit)"},
	{Env: "MNEMO_OAUTH_MAX_CLIENTS", Flag: "oauth-max-clients", Default: "10000", Help: "registered OAuth clients at most; at the cap the oldest never used make room, and when all have been used registration answers 429 (0 = no cap)"},
	{Env: "MNEMO_OAUTH_UNUSED_CLIENT_TTL", Flag: "oauth-unused-client-ttl", Default: "24h", Help: "an OAuth client that has not obtained a token this long after registering is deleted (0 = never)"},
	{Env: "MNEMO_TRUSTED_PROXIES", Flag: "trusted-proxies", Default: "", Help: "comma-separated CIDRs of proxies whose X-Forwarded-For names the client"},
	{Env: "MNEMO_ALLOW_QUERY_TOKEN", Flag: "allow-query-token", Default: "true", Help: "accept tenant keys in ?api_key= as AutoMem does (never logged; proxies in front may log URLs)"},
	{Env: "MNEMO_MCP_SESSION_TIMEOUT", Flag: "mcp-session-timeout", Default: "5m", Help: "close an MCP session after this long without a request (clients open a new one)"},
	{Env: "MNEMO_MCP_TENANT_MAX_SESSIONS", Flag: "mcp-tenant-max-sessions", Default: "32", Help: "MCP sessions one tenant may have open at once (0 = no cap)"},
	{Env: "MNEMO_MCP_MAX_SESSIONS", Flag: "mcp-max-sessions", Default: "1000", Help: "MCP sessions this process holds open at once over all tenants (0 = no cap)"},
	{Env: "MNEMO_MCP_MAX_BODY_BYTES", Flag: "mcp-max-body-bytes", Default: "1048576", Help: "maximum body of a request to /mcp (one that opens a session: 16 KiB)"},
	{Env: "RECALL_MAX_LIMIT", Flag: "recall-max-limit", Default: "100", Help: "upper clamp of /recall limit"},
	{Env: "RECALL_RELATION_LIMIT", Flag: "recall-relation-limit", Default: "5", Help: "default relation_limit of /recall"},
	{Env: "RECALL_EXPANSION_LIMIT", Flag: "recall-expansion-limit", Default: "25", Help: "default expansion_limit of /recall"},
	{Env: "RECALL_ADAPTIVE_FLOOR", Flag: "recall-adaptive-floor", Default: "true", Help: "cut recall results below a large score gap"},
	{Env: "RECALL_MIN_SCORE", Flag: "recall-min-score", Default: "0", Help: "default min_score of /recall (0 = off)"},
	{Env: "RECALL_RECENCY_BIAS", Flag: "recall-recency-bias", Default: "off", Help: "default recency_bias of /recall: on, off, or auto (when the query asks about the present)"},
	{Env: "RECALL_CONTEXT_WINDOW", Flag: "recall-context-window", Default: "3", Help: "top results whose neighbours join the candidates: the memories stored just before and after them in the same conversation (sharing a session: or conversation: tag, or a session_id or conversation_id in metadata; time alone makes none) (0 = off; per request: context_window)"},
	{Env: "RECALL_CONTEXT_MAX_GAP", Flag: "recall-context-max-gap", Default: "1h", Help: "how far in time a result's neighbour may be stored"},
	{Env: "RECALL_CONTEXT_WEIGHT", Flag: "recall-context-weight", Default: "0.7", Help: "share of a top result's score its time neighbours receive"},
	{Env: "SEARCH_WEIGHT_VECTOR", Flag: "weight-vector", Default: "0.35", Help: "recall weight of vector similarity"},
	{Env: "SEARCH_WEIGHT_KEYWORD", Flag: "weight-keyword", Default: "0.35", Help: "recall weight of keyword overlap"},
	{Env: "SEARCH_WEIGHT_TAG", Flag: "weight-tag", Default: "0.2", Help: "recall weight of query tokens matching tags"},
	{Env: "SEARCH_WEIGHT_IMPORTANCE", Flag: "weight-importance", Default: "0.1", Help: "recall weight of importance"},
	{Env: "SEARCH_WEIGHT_CONFIDENCE", Flag: "weight-confidence", Default: "0.05", Help: "recall weight of confidence"},
	{Env: "SEARCH_WEIGHT_RECENCY", Flag: "weight-recency", Default: "0", Help: "recall weight of recency, how new a memory is (AutoMem: 0.1; off here: it lowered the assistant-style set and helped neither, README \"Recall quality\")"},
	{Env: "SEARCH_WEIGHT_EXACT", Flag: "weight-exact", Default: "0.2", Help: "recall weight of an exact metadata match"},
	{Env: "SEARCH_WEIGHT_RELATION", Flag: "weight-relation", Default: "0.25", Help: "recall weight of relation expansion"},
	{Env: "SEARCH_WEIGHT_TEMPORAL", Flag: "weight-temporal", Default: "0.1", Help: "recall weight of recency_bias"},
	{Env: "SEARCH_WEIGHT_TIME_MENTION", Flag: "weight-time-mention", Default: "0.1", Help: "recall weight of a time mentioned in a memory when the query asks when"},
	{Env: "SEARCH_RECENCY_WINDOW_DAYS", Flag: "recency-window-days", Default: "180", Help: "age at which recency reaches 0"},
	{Env: "MNEMO_EMBED_RETRY_INTERVAL", Flag: "embed-retry-interval", Default: "30s", Help: "how often memories stored without a vector (embedder down) are retried"},
	{Env: "MNEMO_USAGE_FLUSH_INTERVAL", Flag: "usage-flush-interval", Default: "1s", Help: "how often usage counters, tenant counters and key last-use times are written to disk; a crash loses at most this much of them (a clean shutdown loses nothing)"},
	{Env: "MNEMO_STORE_IDLE_TIMEOUT", Flag: "store-idle-timeout", Default: "5m", Help: "close a tenant database after this long unused"},
	{Env: "MNEMO_AUDIT_RETENTION", Flag: "audit-retention", Default: "365d", Help: "how long audit events are kept (a duration, or days as 30d; 0 = forever)"},
	{Env: "MNEMO_USAGE_RETENTION", Flag: "usage-retention", Default: "400d", Help: "how long the daily usage counters billing reads are kept, a deleted tenant's included (0 = forever)"},
	{Env: "MNEMO_IDEMPOTENCY_RETENTION", Flag: "idempotency-retention", Default: "24h", Help: "how long the answer to an Idempotency-Key is kept; an older one counts as never sent (at least 1s)"},
	{Env: "MNEMO_OAUTH_GRANT_RETENTION", Flag: "oauth-grant-retention", Default: "24h", Help: "how long an expired OAuth code or token is kept, so that it is still told from one never issued (0 = forever)"},
	{Env: "MNEMO_OAUTH_IDLE_CLIENT_TTL", Flag: "oauth-idle-client-ttl", Default: "90d", Help: "an OAuth client with no code or token left is deleted this long after its last token (0 = never)"},
	{Env: "MNEMO_PRUNE_INTERVAL", Flag: "prune-interval", Default: "10m", Help: "how often records past their retention are removed"},
	{Env: "MNEMO_SET_ASIDE_RETENTION", Flag: "set-aside-retention", Default: "30d", Help: "tenant directories set aside (.orphan-*: an interrupted deletion's leftovers, a damaged store a restore replaced) are deleted at start once older than this (0 = kept forever)"},
	{Env: "MNEMO_PRUNE_BATCH", Flag: "prune-batch", Default: "500", Help: "rows removed per registry transaction when pruning, so that pruning never holds the registry's writer long"},
	{Env: "MNEMO_MAX_OPEN_STORES", Flag: "max-open-stores", Default: "0", Help: "tenant databases open at once; past it the least recently used idle one is closed, and with every one in use a request waits up to 2s, then gets 503 with Retry-After (0 = from the file limit: (limit - max(limit/4, 128)) / 11 descriptors per store)"},
	{Env: "MNEMO_VECTOR_MEMORY_MB", Flag: "vector-memory-mb", Default: "1024", Help: "MiB the in-memory vector indexes of open tenant databases may take; past it the least recently used idle database is closed (0 = no bound)"},
	{Env: "MNEMO_LOG_LEVEL", Flag: "log-level", Default: "info", Help: "debug, info, warn or error"},
}

// config resolves settings: flag, then environment, then default.
type config map[string]string

func parseConfig(name string, args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	values := map[string]*string{}
	for _, s := range settings {
		if !s.Secret {
			values[s.Env] = fs.String(s.Flag, "", s.Help)
		}
	}
	fs.Usage = func() { printUsage(stderr, name) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	c := config{}
	for _, s := range settings {
		v := s.Default
		if e, ok := os.LookupEnv(s.Env); ok {
			v = e
		}
		if p := values[s.Env]; p != nil && *p != "" {
			v = *p
		}
		c[s.Env] = v
	}
	return c, nil
}

func printUsage(w io.Writer, name string) {
	fmt.Fprintf(w, "Usage: mnemo %s [flags]\n\nEvery setting is read from its flag, else its environment variable, else the default.\n\n", name)
	for _, s := range settings {
		flagName := "(environment only)"
		if !s.Secret {
			flagName = "--" + s.Flag
		}
		def := s.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  %-28s %-26s default %s\n      %s\n", s.Env, flagName, def, s.Help)
	}
}

// configDocs renders docs/configuration.md from the settings table.
func configDocs(w io.Writer) {
	fmt.Fprintln(w, "# Configuration")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Generated by `mnemo config-docs` from the table that also prints `mnemo serve --help`; do not edit by hand.")
	fmt.Fprintln(w, "A setting is read from its flag, else its environment variable, else the default. Secrets are read")
	fmt.Fprintln(w, "from the environment only, so they never show in a process listing.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Environment variable | Flag | Default | Meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, s := range settings {
		flagName := "(environment only)"
		if !s.Secret {
			flagName = "`--" + s.Flag + "`"
		}
		def := "`" + s.Default + "`"
		if s.Default == "" {
			def = "(empty)"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", s.Env, flagName, def, s.Help)
	}
}
