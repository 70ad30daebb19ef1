//go:build !(linux || darwin || freebsd)

package sqlite

import "errors"

// freeBytes is unknown here: the reserve itself tells when space is back.
func freeBytes(string) (int64, error) { return 0, errors.ErrUnsupported }
