package e2e

import (
	"fmt"
	"os/exec"
	"testing"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends (after the servers started later have stopped), or
// skips the test where mounting is refused (not root).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mounting a tmpfs was refused (the full-disk test needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// startOnWith runs mnemo on an existing data directory with extra
// settings, which a restart keeps.
func startOnWith(t *testing.T, dataDir string, env map[string]string) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: dataDir, Env: map[string]string{"ADMIN_API_TOKEN": adminToken, "MNEMO_AUTH_FAILURES_PER_MINUTE": "0"}}
	for k, v := range env {
		s.Env[k] = v
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}
