package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/sqlite"
)

// BenchmarkPruneWhileWriting prunes a year of audit rows while another
// writer appends audit events, and reports how long that writer waited at
// most: in batches it goes on between two; in one transaction it waits for
// the whole prune.
//
//	go test ./sqlite -run '^$' -bench PruneWhileWriting -benchtime 1x
func BenchmarkPruneWhileWriting(b *testing.B) {
	const rows = 200000
	for _, batch := range []int{500, rows} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				ctx := context.Background()
				dir := b.TempDir()
				// The schema, then the rows, then the registry as a server
				// opens it: the rows are on disk, not in a WAL to checkpoint.
				r, err := sqlite.OpenRegistry(ctx, dir)
				if err != nil {
					b.Fatal(err)
				}
				r.Close()
				fillAudit(b, dir, rows, time.Now().Add(-400*24*time.Hour))
				if r, err = sqlite.OpenRegistry(ctx, dir); err != nil {
					b.Fatal(err)
				}
				var waits []time.Duration
				stop, done := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					for {
						select {
						case <-stop:
							return
						default:
						}
						began := time.Now()
						if err := r.AppendAudit(ctx, &mnemo.AuditEvent{At: time.Now(), Actor: "admin", TenantID: "acme", Action: "key.create", Outcome: "success"}); err != nil {
							b.Error(err)
							return
						}
						waits = append(waits, time.Since(began))
					}
				}()
				b.StartTimer()
				removed, err := r.Prune(ctx, mnemo.PruneCutoffs{Audit: time.Now().Add(-365 * 24 * time.Hour)}, batch)
				b.StopTimer()
				close(stop)
				<-done
				if err != nil || removed["audit"] != rows {
					b.Fatalf("Prune: %v, %v", removed, err)
				}
				b.ReportMetric(float64(slices.Max(waits).Milliseconds()), "max-write-wait-ms")
				r.Close()
			}
		})
	}
}

// fillAudit plants n audit events from at on, in one transaction.
func fillAudit(b *testing.B, dir string, n int, at time.Time) {
	d, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "registry.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	tx, err := d.Begin()
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.Prepare(`INSERT INTO audit (at, actor, tenant_id, action, target, request_id, outcome, incarnation)
		VALUES (?, 'k', 'acme', 'memory.delete', 'x', 'r', 'success', 1)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := st.Exec(at.UnixMicro() + int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
