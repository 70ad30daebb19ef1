package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMultitenantScript runs scripts/test_multitenant.sh, the check the seed
// document names, against the real binary.
func TestMultitenantScript(t *testing.T) {
	s := Start(t, nil)
	cmd := exec.Command("bash", "../scripts/test_multitenant.sh")
	cmd.Env = append(os.Environ(), "BASE_URL="+s.URL, "ADMIN_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "36 passed, 0 failed") {
		t.Fatalf("unexpected script summary:\n%s", out)
	}
	// The script cleans up after itself.
	r := s.Admin("GET", "/admin/tenants", nil).Expect(t, 200)
	if r.Body["total"] != float64(0) {
		t.Fatalf("tenants left behind: %s", r.Raw)
	}
}
