package http

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// backuper is what GET /backup needs of the registry: *sqlite.Registry
// writes a tar.gz of the whole data directory, each database a consistent
// snapshot, while the server keeps serving.
type backuper interface {
	Backup(ctx context.Context, w io.Writer, now time.Time) (tenants int, vanished []string, err error)
}

// handleBackup streams a tar.gz of the whole data directory (AutoMem's
// GET /backup): manifest.json, tenants/<id>/memories.db for every tenant,
// then registry.db. `mnemo restore` unpacks it. AutoMem's ?include= is
// accepted with its values; the archive always holds everything, since
// the embedded store keeps graph and vectors in the same files.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("include"); v != "" {
		for _, part := range strings.Split(v, ",") {
			if p := strings.TrimSpace(strings.ToLower(part)); p != "falkordb" && p != "qdrant" {
				writeError(w, mnemo.Errorf(mnemo.EINVALID, "include must be a comma-separated subset of: falkordb,qdrant"))
				return
			}
		}
	}
	b, ok := s.Registry.(backuper)
	if !ok {
		writeError(w, mnemo.Errorf(501, "This storage backend has no file backup; back up its servers with their own tools"))
		return
	}
	now := s.Now()
	name := fmt.Sprintf("mnemo-backup-%s.tar.gz", now.UTC().Format("20060102_150405"))
	// A large data directory takes longer than the write timeout.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	sw := &startedWriter{w: w}
	tenants, vanished, err := b.Backup(r.Context(), sw, now)
	s.audit(r, "backup", "", name, err)
	if err != nil {
		if !sw.started {
			w.Header().Del("Content-Disposition")
			w.Header().Del("Cache-Control")
			writeError(w, err)
			return
		}
		s.abortStream(r, "backup", err)
	}
	s.Logger.Info("backup", "request_id", requestID(r.Context()), "file", name, "tenants", tenants, "deleted_during_backup", vanished)
}
