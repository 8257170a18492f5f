//go:build unix

package server

import "golang.org/x/sys/unix"

// freeSpace is the bytes an unprivileged writer may still use on the file
// system holding path.
func freeSpace(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
