package http

import (
	"net/http"

	"github.com/mnemohq/mnemo"
)

// handleBackup streams a tar.gz of the whole data directory (AutoMem's
// GET /backup). TODO(backup): implemented by the data-movement work.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	writeError(w, mnemo.Errorf(501, "backup is not implemented yet"))
}
