package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestConfigDocsUpToDate keeps docs/configuration.md generated from the
// same table as --help.
func TestConfigDocsUpToDate(t *testing.T) {
	var buf bytes.Buffer
	configDocs(&buf)
	got, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != buf.String() {
		t.Fatal("docs/configuration.md is stale: run `go run ./cmd/mnemo config-docs > docs/configuration.md`")
	}
}

func TestServeHelpListsEverySetting(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--help"}, &stdout, &stderr)
	if err == nil {
		t.Fatal("--help should end the command")
	}
	for _, s := range settings {
		if !strings.Contains(stderr.String(), s.Env) {
			t.Errorf("--help does not list %s", s.Env)
		}
		if !s.Secret && !strings.Contains(stderr.String(), "--"+s.Flag) {
			t.Errorf("--help does not list --%s", s.Flag)
		}
	}
}

func TestParseConfigPrecedence(t *testing.T) {
	t.Setenv("PORT", "9000")
	t.Setenv("VECTOR_SIZE", "64")
	c, err := parseConfig("serve", []string{"--port", "9100"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c["PORT"] != "9100" || c["VECTOR_SIZE"] != "64" || c["MNEMO_DATA_DIR"] != "./data" {
		t.Fatalf("flag > env > default violated: %v", c)
	}
	if _, err := parseConfig("serve", []string{"--admin-api-token", "x"}, &bytes.Buffer{}); err == nil {
		t.Fatal("secrets must not be accepted as flags")
	}
}

func TestServeRejectsBadSettings(t *testing.T) {
	for name, env := range map[string][2]string{
		"port":     {"PORT", "abc"},
		"vector":   {"VECTOR_SIZE", "0"},
		"provider": {"EMBEDDING_PROVIDER", "magic"},
		"bool":     {"RECALL_ADAPTIVE_FLOOR", "maybe"},
		"duration": {"MNEMO_STORE_IDLE_TIMEOUT", "soon"},
		// The OAuth issuer is compared exactly by clients.
		"public url without scheme": {"MNEMO_PUBLIC_URL", "memory.example.com"},
		"public url with query":     {"MNEMO_PUBLIC_URL", "https://memory.example.com/?a=b"},
		"redirect host with scheme": {"MNEMO_OAUTH_REDIRECT_HOSTS", "https://claude.ai"},
		"redirect host wildcard":    {"MNEMO_OAUTH_REDIRECT_HOSTS", "*.example.com"},
		"unused client ttl":         {"MNEMO_OAUTH_UNUSED_CLIENT_TTL", "1m"},
		"negative client cap":       {"MNEMO_OAUTH_MAX_CLIENTS", "-1"},
		"refuse unverified":         {"MNEMO_OAUTH_REFUSE_UNVERIFIED", "perhaps"},
		"limit":                     {"MNEMO_MAX_TAGS", "0"},
		"negative store bound":      {"MNEMO_MAX_OPEN_STORES", "-1"},
		"vector budget":             {"MNEMO_VECTOR_MEMORY_MB", "lots"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("MNEMO_DATA_DIR", t.TempDir())
			t.Setenv(env[0], env[1])
			err := run(context.Background(), []string{"serve"}, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), env[0]) {
				t.Fatalf("got %v, want an error naming %s", err, env[0])
			}
		})
	}
}
