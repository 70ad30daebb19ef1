package main

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// The defaults trust Claude.ai's and ChatGPT's connectors and bound
// registration.
func TestOAuthConfigDefaults(t *testing.T) {
	c, err := parseConfig("serve", nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := oauthConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.RedirectHosts, []string{"claude.ai", "claude.com", "chatgpt.com"}) || o.RefuseUnverified ||
		o.RegistrationsPerMinute != 10 || o.MaxClients != 10000 || o.UnusedClientTTL != 24*time.Hour {
		t.Fatalf("defaults: %+v", o)
	}
	c["MNEMO_OAUTH_REDIRECT_HOSTS"] = " Claude.AI , ,chatgpt.com"
	if o, err := oauthConfig(c); err != nil || !slices.Equal(o.RedirectHosts, []string{"claude.ai", "chatgpt.com"}) {
		t.Fatalf("hosts are trimmed and lowered: %+v, %v", o.RedirectHosts, err)
	}
}
