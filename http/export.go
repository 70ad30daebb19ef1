package http

import (
	"net/http"

	"github.com/mnemohq/mnemo"
)

// handleExport streams a tenant as NDJSON. TODO(export).
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	writeError(w, mnemo.Errorf(501, "export is not implemented yet"))
}

// handleImport loads a tenant export. TODO(import).
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	writeError(w, mnemo.Errorf(501, "import is not implemented yet"))
}
