//go:build !(linux || darwin || freebsd)

package sqlite

import (
	"errors"
	"os"
)

// freeBytes is unknown here: the reserve itself tells when space is back.
func freeBytes(string) (int64, error) { return 0, errors.ErrUnsupported }

// volumeBytes is unknown here.
func volumeBytes(string) (int64, error) { return 0, errors.ErrUnsupported }

// allocatedBytes is the file's size: its blocks are not known here.
func allocatedBytes(fi os.FileInfo) int64 { return fi.Size() }
