package mnemo

import (
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var generatedToken = regexp.MustCompile(`^mnemo_[A-Za-z0-9_-]{43}$`)

func TestGenerateToken(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		tok := GenerateToken()
		if !generatedToken.MatchString(tok) {
			t.Fatalf("GenerateToken() = %q, want mnemo_ + 43 base64url characters", tok)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, TokenPrefix))
		if err != nil || len(raw) != 32 {
			t.Fatalf("GenerateToken() = %q does not decode to 32 bytes (%d, %v)", tok, len(raw), err)
		}
		if seen[tok] {
			t.Fatalf("GenerateToken() repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestHashToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(HashToken(tt.in)); got != tt.want {
			t.Errorf("HashToken(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	tok := GenerateToken()
	if a, b := HashToken(tok), HashToken(tok); string(a) != string(b) || len(a) != 32 {
		t.Errorf("HashToken is not a stable 32-byte digest: %x vs %x", a, b)
	}
	if string(HashToken("test-token")) == string(HashToken("test-tokem")) {
		t.Error("different tokens hash alike")
	}
}

func TestDisplayPrefix(t *testing.T) {
	gen := GenerateToken()
	tests := []struct {
		name      string
		token     string
		generated bool
		want      string
	}{
		{"generated: 8 characters", gen, true, gen[:8]},
		{"generated: fixed", "mnemo_AbCdEfGh", true, "mnemo_Ab"},
		{"supplied: 4 characters", "test-token", false, "test"},
		{"supplied long", "sk-live-0123456789", false, "sk-l"},
		{"supplied shorter than 4", "abc", false, "abc"},
		{"generated shorter than 8", "mnemo_", true, "mnemo_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DisplayPrefix(tt.token, tt.generated); got != tt.want {
				t.Errorf("DisplayPrefix(%q, %v) = %q, want %q", tt.token, tt.generated, got, tt.want)
			}
		})
	}
}

// Client-supplied tokens may contain any characters (the admin API only
// checks length and surrounding spaces). The shown prefix must still be text:
// at most 4 characters, never a cut UTF-8 sequence.
func TestDisplayPrefixKeepsWholeCharacters(t *testing.T) {
	for _, tok := range []string{"aéééééééé", "ab€€€€€€€", "🔑secret-token"} {
		got := DisplayPrefix(tok, false)
		if !utf8.ValidString(got) {
			t.Errorf("DisplayPrefix(%q) = %q, not valid UTF-8", tok, got)
		}
		if n := utf8.RuneCountInString(got); n > 4 || n == 0 {
			t.Errorf("DisplayPrefix(%q) = %q has %d characters, want 1..4", tok, got, n)
		}
		if !strings.HasPrefix(tok, got) {
			t.Errorf("DisplayPrefix(%q) = %q, not a prefix", tok, got)
		}
	}
}

func TestValidateTenantID(t *testing.T) {
	valid := []string{"a", "0", "acme", "acme-corp_1", "0abc", "default", strings.Repeat("a", 63), "a" + strings.Repeat("-", 62)}
	for _, id := range valid {
		if err := ValidateTenantID(id); err != nil {
			t.Errorf("ValidateTenantID(%q) = %v, want nil", id, err)
		}
	}
	const msg = "'tenant_id' must match ^[a-z0-9][a-z0-9_-]{0,62}$ (lower-case letters, digits, '_' and '-', 1-63 characters, starting with a letter or digit)"
	invalid := []string{
		"", "-a", "_a", "Acme", "acmE", "a.b", "a/b", "../x", "..", "a b", " a", "a\n", "é", "a:b",
		strings.Repeat("a", 64), "memories_x;DROP",
	}
	for _, id := range invalid {
		wantErr(t, ValidateTenantID(id), msg)
	}
}
