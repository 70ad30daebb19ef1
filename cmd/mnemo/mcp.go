package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mnemohq/mnemo/mcp"
)

// mcpBridge serves MCP over stdio by relaying every message to a remote
// mnemo's /mcp with the given key: the job AutoMem's npm bridge does, for
// clients that only speak stdio (Claude Desktop).
func mcpBridge(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("MNEMO_URL", envOr("AUTOMEM_API_URL", "http://127.0.0.1:8001")), "mnemo server URL ($MNEMO_URL, $AUTOMEM_API_URL)")
	token := fs.String("token", envOr("MNEMO_API_KEY", os.Getenv("AUTOMEM_API_KEY")), "tenant key ($MNEMO_API_KEY, $AUTOMEM_API_KEY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return fmt.Errorf("mcp: set --token or MNEMO_API_KEY to a tenant key")
	}
	return mcp.Relay(ctx, *url, *token, stdin, stdout)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
