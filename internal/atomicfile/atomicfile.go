// Package atomicfile replaces a file so that a reader, a crash or a power
// cut leaves either the old content or the new, never a fragment.
//
// github.com/google/renameio writes the temporary file beside the target,
// syncs and renames it; it does not sync the directory, without which a
// power cut can undo a rename that had returned. Write adds that step.
package atomicfile

import (
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// Write replaces path with data (mode perm), creating its directory.
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := renameio.WriteFile(path, data, perm, renameio.WithTempDir(dir)); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the renames and removals in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
