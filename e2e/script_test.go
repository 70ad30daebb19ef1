package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMultitenantScript runs scripts/test_multitenant.sh, the check the seed
// document names, against the real binary.
func TestMultitenantScript(t *testing.T) {
	t.Parallel()
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

// TestBenchLocomoCommand runs `mnemo bench locomo` against the real server
// on a tiny data set in LoCoMo's format, so the benchmark itself stays
// working: it creates a tenant per conversation, stores every turn, asks the
// questions and removes its tenants.
func TestBenchLocomoCommand(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	data := filepath.Join(t.TempDir(), "locomo.json")
	os.WriteFile(data, []byte(`[{"sample_id":"conv-t","conversation":{"speaker_a":"Ann","speaker_b":"Bob",
 "session_1_date_time":"1:56 pm on 8 May, 2023",
 "session_1":[{"speaker":"Ann","dia_id":"D1:1","text":"I adopted a puppy named Biscuit"},
   {"speaker":"Bob","dia_id":"D1:2","text":"Lovely, what breed is Biscuit?"},
   {"speaker":"Ann","dia_id":"D1:3","text":"A beagle, very loud"}]},
 "qa":[{"question":"What is the name of Ann's puppy?","answer":"Biscuit","evidence":["D1:1"],"category":4},
       {"question":"What breed is the puppy?","answer":"beagle","evidence":["D1:3"],"category":4}]}]`), 0o600)
	out, err := exec.Command(binary, "bench", "locomo", "--url", s.URL, "--admin-token", adminToken, "--data", data).CombinedOutput()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	for _, want := range []string{"1 conversations, 3 turns, 2 questions", "4 single-hop     2 |       0.500 1.000 1.000"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if r := s.Admin("GET", "/admin/tenants", nil).Expect(t, 200); r.Body["total"] != float64(0) {
		t.Fatalf("benchmark tenants left behind: %s", r.Raw)
	}
}
