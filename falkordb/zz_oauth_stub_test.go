package falkordb_test

// The contract's Registry includes OAuth and idempotency, which oauth.go and
// idempotency.go add to *falkordb.Registry on another branch. Until they
// are merged, the registry is handed over with stand-ins that no contract
// of this branch calls; once they are, contractRegistry hands over the
// registry itself, and this file can go with zz_oauth_stub.go.

import (
	"context"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/registrytest"
)

func contractRegistry(r *falkordb.Registry) registrytest.Registry {
	if full, ok := any(r).(registrytest.Registry); ok {
		return full
	}
	return withoutOAuth{r}
}

type withoutOAuth struct{ *falkordb.Registry }

const notHere = "falkordb: OAuth and idempotency are not on this branch"

func (withoutOAuth) ReserveIdempotency(context.Context, string, string, []byte, time.Time, time.Duration, time.Duration) (bool, *mnemo.IdempotentAnswer, error) {
	panic(notHere)
}
func (withoutOAuth) CompleteIdempotency(context.Context, string, string, mnemo.IdempotentAnswer) error {
	panic(notHere)
}
func (withoutOAuth) ReleaseIdempotency(context.Context, string, string) error { panic(notHere) }
func (withoutOAuth) RegisterOAuthClient(context.Context, *mnemo.OAuthClient, time.Time, int) error {
	panic(notHere)
}
func (withoutOAuth) OAuthClient(context.Context, string) (*mnemo.OAuthClient, error) { panic(notHere) }
func (withoutOAuth) SaveOAuthGrant(context.Context, *mnemo.OAuthGrant) error         { panic(notHere) }
func (withoutOAuth) ConsumeOAuthGrant(context.Context, string, []byte, time.Time) (*mnemo.OAuthGrant, error) {
	panic(notHere)
}
func (withoutOAuth) IssueOAuthTokens(context.Context, *mnemo.OAuthGrant, *mnemo.OAuthGrant, time.Time) error {
	panic(notHere)
}
func (withoutOAuth) AccessGrant(context.Context, []byte, time.Time) (*mnemo.OAuthGrant, error) {
	panic(notHere)
}
func (withoutOAuth) OAuthToken(context.Context, []byte) (*mnemo.OAuthGrant, error) { panic(notHere) }
func (withoutOAuth) RevokeOAuthFamily(context.Context, string) error               { panic(notHere) }
