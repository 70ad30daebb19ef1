package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mnemohq/mnemo/service"
)

// retentionConfig reads how long records are kept and how they are
// pruned. The unused-client TTL is the OAuth server's (oauthConfig).
func retentionConfig(c config, unusedClients time.Duration) (r service.Retention, interval time.Duration, batch int, err error) {
	r.OAuthUnusedClients = unusedClients
	for name, dst := range map[string]*time.Duration{"MNEMO_AUDIT_RETENTION": &r.Audit, "MNEMO_USAGE_RETENTION": &r.Usage,
		"MNEMO_IDEMPOTENCY_RETENTION": &r.Idempotency, "MNEMO_OAUTH_GRANT_RETENTION": &r.OAuthGrants, "MNEMO_OAUTH_IDLE_CLIENT_TTL": &r.OAuthIdleClients} {
		if *dst, err = parseRetention(c[name]); err != nil {
			return r, 0, 0, fmt.Errorf("%s must be a duration (1h30m) or days (30d), 0 or more, got %q", name, c[name])
		}
	}
	if r.Idempotency < time.Second {
		// A retry must find the first answer: forever is not an option,
		// the table would only grow.
		return r, 0, 0, fmt.Errorf("MNEMO_IDEMPOTENCY_RETENTION must be at least 1s, got %q", c["MNEMO_IDEMPOTENCY_RETENTION"])
	}
	if interval, err = parseRetention(c["MNEMO_PRUNE_INTERVAL"]); err != nil || interval < 10*time.Millisecond {
		return r, 0, 0, fmt.Errorf("MNEMO_PRUNE_INTERVAL must be a duration of at least 10ms, got %q", c["MNEMO_PRUNE_INTERVAL"])
	}
	if batch, err = strconv.Atoi(c["MNEMO_PRUNE_BATCH"]); err != nil || batch < 1 || batch > 100000 {
		return r, 0, 0, fmt.Errorf("MNEMO_PRUNE_BATCH must be an integer from 1 to 100000, got %q", c["MNEMO_PRUNE_BATCH"])
	}
	return r, interval, batch, nil
}

// parseRetention reads a Go duration, or a whole number of days ("400d"):
// retentions are counted in days, which Go durations lack.
func parseRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("bad number of days %q", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err == nil && d < 0 {
		err = fmt.Errorf("negative duration %q", v)
	}
	return d, err
}
