package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Writes that wait while another commits are committed together; when one
// of them fails it changes nothing, the others are kept, and each gets its
// own outcome. The committed hooks of the writes that succeed run before
// their write returns, in the order of the commits.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	d, err := openDB(ctx, filepath.Join(t.TempDir(), "g.db"), 2, 0, []migration{execAll(`CREATE TABLE t (n INTEGER PRIMARY KEY); CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER)`)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()

	// The first write holds the transaction until the others wait.
	release := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- d.write(ctx, func(tx *txn) error {
			<-release
			_, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (0)`)
			return err
		})
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			d.wmu.Lock()
			ok := cond()
			d.wmu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
		}
	}
	waitFor("the first write commits", func() bool { return d.committing && len(d.queue) == 0 })
	const n = 12
	errs := make([]error, n)
	runs := make([]int, n)
	var hookMu sync.Mutex
	var hooked []int
	hookedBeforeReturn := make([]bool, n)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			errs[i-1] = d.writeThen(ctx, func(tx *txn) error {
				runs[i-1]++
				if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?); INSERT INTO log (n) VALUES (?)`, i, i); err != nil {
					return err
				}
				if i%4 == 0 {
					return fmt.Errorf("write %d fails after its insert", i)
				}
				return nil
			}, func() {
				hookMu.Lock()
				hooked = append(hooked, i)
				hookMu.Unlock()
			})
			hookMu.Lock()
			hookedBeforeReturn[i-1] = slices.Contains(hooked, i)
			hookMu.Unlock()
		})
	}
	waitFor("the others wait", func() bool { return len(d.queue) == n })
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	rows, err := d.reader.QueryContext(ctx, `SELECT n FROM t ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var v int
		rows.Scan(&v)
		got = append(got, v)
	}
	want := []int{0}
	for i := 1; i <= n; i++ {
		if i%4 == 0 {
			if errs[i-1] == nil || errs[i-1].Error() != fmt.Sprintf("write %d fails after its insert", i) {
				t.Errorf("write %d: %v, want its own error", i, errs[i-1])
			}
			continue
		}
		if errs[i-1] != nil {
			t.Errorf("write %d: %v", i, errs[i-1])
		}
		want = append(want, i)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	var committed []int
	logRows, err := d.reader.QueryContext(ctx, `SELECT n FROM log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for logRows.Next() {
		var v int
		logRows.Scan(&v)
		committed = append(committed, v)
	}
	logRows.Close()
	if fmt.Sprint(hooked) != fmt.Sprint(committed) {
		t.Fatalf("committed hooks ran in the order %v; the writes committed in the order %v", hooked, committed)
	}
	for i := 1; i <= n; i++ {
		if hookedBeforeReturn[i-1] != (i%4 != 0) {
			t.Errorf("write %d (error %v): its hook had run when it returned: %v", i, errs[i-1], hookedBeforeReturn[i-1])
		}
	}
	// They were tried together first, until the first failure, and then
	// each alone: a write runs once or twice, and some ran twice.
	twice := 0
	for i, r := range runs {
		if r < 1 || r > 2 {
			t.Errorf("write %d ran %d times", i+1, r)
		}
		if r == 2 {
			twice++
		}
	}
	if twice == 0 {
		t.Error("no write ran in a group before running alone")
	}

	// A write that panics fails alone, and the writes after it still run.
	err = d.write(ctx, func(*txn) error { panic("boom") })
	if err == nil || !strings.HasPrefix(err.Error(), "write panicked: boom") {
		t.Fatalf("panicking write: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- d.write(ctx, func(tx *txn) error { _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (100)`); return err })
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write after a panic never ran")
	}

	// A write whose context is done before it starts is refused.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.write(cancelled, func(*txn) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v", err)
	}
}
