//go:build linux || darwin || freebsd

package sqlite

import (
	"os"
	"syscall"
)

// freeBytes is what statfs says this process may still write under dir.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), nil
}

// volumeBytes is the size of the file system that holds dir.
func volumeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(uint64(st.Blocks) * uint64(st.Bsize)), nil
}

// allocatedBytes is the space a file's blocks take, which a file whose
// writes a crash lost lacks whatever its size says.
func allocatedBytes(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
