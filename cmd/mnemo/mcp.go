package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mnemohq/mnemo/mcp"
)

// mcpBridge serves MCP over stdio by relaying every message to a remote
// mnemo's /mcp with a tenant key: the job AutoMem's npm bridge does, for
// clients that only speak stdio (Claude Desktop). The key comes from the
// environment or a file, never from the command line, where every user of
// the machine could read it in ps.
func mcpBridge(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("MNEMO_URL", envOr("AUTOMEM_API_URL", "http://127.0.0.1:8001")), "mnemo server URL ($MNEMO_URL, $AUTOMEM_API_URL)")
	keyFile := fs.String("key-file", os.Getenv("MNEMO_API_KEY_FILE"), "file holding the tenant key ($MNEMO_API_KEY_FILE); else $MNEMO_API_KEY or $AUTOMEM_API_KEY")
	every := time.Minute
	if v := os.Getenv("MNEMO_MCP_KEEPALIVE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("mcp: MNEMO_MCP_KEEPALIVE: %w", err)
		}
		every = d
	}
	keepalive := fs.Duration("keepalive", every, "ping the server this often so that an idle session stays open (0 = never; $MNEMO_MCP_KEEPALIVE); keep it under the server's MNEMO_MCP_SESSION_TIMEOUT")
	token := fs.String("token", "", "refused: a key on the command line shows in ps; use $MNEMO_API_KEY or --key-file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token != "" {
		return errors.New("mcp: --token is refused: a key on the command line is visible to every user of this machine (ps). " +
			"Set MNEMO_API_KEY in the environment (Claude Desktop: the \"env\" of the server's entry) or pass --key-file")
	}
	key, err := bridgeKey(*keyFile, stderr)
	if err != nil {
		return err
	}
	return mcp.Relay(ctx, *url, key, *keepalive, stdin, stdout)
}

// bridgeKey reads the tenant key from keyFile, or else the environment.
func bridgeKey(keyFile string, stderr io.Writer) (string, error) {
	if keyFile == "" {
		if key := envOr("MNEMO_API_KEY", os.Getenv("AUTOMEM_API_KEY")); key != "" {
			return key, nil
		}
		return "", errors.New("mcp: set MNEMO_API_KEY to a tenant key, or pass --key-file")
	}
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		return "", fmt.Errorf("mcp: --key-file: %w", err)
	}
	key := strings.TrimSpace(string(raw))
	if key == "" || strings.ContainsAny(key, "\r\n") {
		return "", fmt.Errorf("mcp: --key-file %s must hold one tenant key", keyFile)
	}
	if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "mnemo mcp: warning: %s is readable by other users (%v): chmod 600 it\n", keyFile, fi.Mode().Perm())
	}
	return key, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
