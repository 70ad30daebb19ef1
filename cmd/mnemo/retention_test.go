package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo/service"
)

// The documented defaults are the service's; days are accepted as "30d";
// a bad value is refused naming its variable.
func TestRetentionConfig(t *testing.T) {
	c, err := parseConfig("serve", nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	r, every, batch, err := retentionConfig(c, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r != service.DefaultRetention || every != 10*time.Minute || batch != 500 {
		t.Fatalf("defaults: %+v every %v batch %d; want %+v every 10m batch 500", r, every, batch, service.DefaultRetention)
	}
	c["MNEMO_AUDIT_RETENTION"], c["MNEMO_USAGE_RETENTION"], c["MNEMO_OAUTH_GRANT_RETENTION"] = "30d", "0", "90m"
	if r, _, _, err := retentionConfig(c, 0); err != nil || r.Audit != 30*24*time.Hour || r.Usage != 0 || r.OAuthGrants != 90*time.Minute || r.OAuthUnusedClients != 0 {
		t.Fatalf("30d, 0, 90m: %+v, %v", r, err)
	}
	for name, bad := range map[string]string{"MNEMO_AUDIT_RETENTION": "-1h", "MNEMO_USAGE_RETENTION": "a year", "MNEMO_OAUTH_IDLE_CLIENT_TTL": "1.5d",
		"MNEMO_IDEMPOTENCY_RETENTION": "0", "MNEMO_PRUNE_INTERVAL": "0", "MNEMO_PRUNE_BATCH": "0"} {
		c2 := config{}
		for k, v := range c {
			c2[k] = v
		}
		c2[name] = bad
		if _, _, _, err := retentionConfig(c2, 0); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v; want an error naming it", name, bad, err)
		}
	}
}
