package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startServer builds this command and runs `mnemo serve` as its own
// process on a free loopback port, as the HTTP benchmarks expect, and
// returns its URL. The server is stopped when the test ends.
func startServer(t *testing.T, admin string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "mnemo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "HOST=127.0.0.1", "PORT=0",
		"MNEMO_DATA_DIR=" + filepath.Join(dir, "data"), "ADMIN_API_TOKEN=" + admin}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	addr := make(chan string, 1)
	var logs bytes.Buffer
	go func() {
		defer close(done)
		// Read every line, so that the access log never fills the pipe.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &entry) == nil && entry.Msg == "mnemo listening" {
				addr <- entry.Addr
			} else if logs.Len() < 64<<10 {
				logs.Write(sc.Bytes())
				logs.WriteByte('\n')
			}
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case <-done:
		t.Fatalf("mnemo exited before listening:\n%s", logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("mnemo did not start")
	}
	return ""
}

// TestBenchHTTP runs both HTTP benchmarks briefly against a real server:
// they must finish without an error, print their rows, and leave no tenant
// behind.
func TestBenchHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	const admin = "bench-test-admin-token"
	base := startServer(t, admin)
	ctx := context.Background()

	var out, errOut bytes.Buffer
	err := run(ctx, []string{"bench", "load", "--url", base, "--admin-token", admin, "--sizes", "150,300",
		"--clients", "3", "--queries", "20", "--stores", "30", "--quiet-size", "100"}, &out, &errOut)
	if err != nil {
		t.Fatalf("bench load --url: %v\n%s%s", err, out.String(), errOut.String())
	}
	// One row per size in each table: size, memories, then numbers.
	for _, size := range []string{"150", "300"} {
		rows := regexp.MustCompile(`(?m)^\s+`+size+`\s+(\d+) \|`).FindAllStringSubmatch(out.String(), -1)
		if len(rows) != 2 {
			t.Fatalf("want a load row and a fairness row for size %s, got %d:\n%s", size, len(rows), out.String())
		}
		n, _ := strconv.Atoi(size)
		if got, _ := strconv.Atoi(rows[0][1]); got < n+30 {
			t.Errorf("size %s: %d memories at recall time, want at least %d", size, got, n+30)
		}
	}

	out.Reset()
	errOut.Reset()
	err = run(ctx, []string{"bench", "mixed", "--url", base, "--admin-token", admin, "--tenants", "3",
		"--clients", "4", "--duration", "2s", "--seed", "50"}, &out, &errOut)
	// A run with errors still prints its report, then fails.
	if err != nil && !strings.HasSuffix(err.Error(), "requests failed") {
		t.Fatalf("bench mixed: %v\n%s%s", err, out.String(), errOut.String())
	}
	m := regexp.MustCompile(`requests (\d+) in [\d.]+s: [\d.]+ requests/s; errors (\d+);`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no summary line:\n%s", out.String())
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Fatalf("no requests:\n%s", out.String())
	}
	if errs, _ := strconv.Atoi(m[2]); errs != 0 {
		t.Fatalf("%d errors:\n%s", errs, out.String())
	}
	for _, op := range append(opNames[:], "all") {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(op) + `\s+\d+\s+0\s+\d+ \|`).MatchString(out.String()) {
			t.Errorf("no row for %s, or errors on it:\n%s", op, out.String())
		}
	}
	if !strings.Contains(out.String(), "MiB after seeding") {
		t.Errorf("no RSS line:\n%s", out.String())
	}

	// Both benchmarks delete the tenants they made.
	req, _ := http.NewRequest("GET", base+"/admin/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Total int }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if list.Total != 0 {
		t.Fatalf("%d tenants left after the benchmarks", list.Total)
	}
}
