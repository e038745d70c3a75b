package cameras

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// FindFFmpeg resolves the ffmpeg executable that analysis and snapshots decode with: path when set, else
// "ffmpeg" on PATH. When there is none it returns why, for the API to show ("ffmpeg not found on PATH").
func FindFFmpeg(path string) (resolved, reason string) {
	if path == "" {
		p, err := exec.LookPath("ffmpeg")
		if err != nil {
			return "", "ffmpeg not found on PATH"
		}
		return p, ""
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Sprintf("ffmpeg not found at %q", path)
	case err != nil:
		return "", fmt.Sprintf("ffmpeg at %q: %v", path, err)
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return "", fmt.Sprintf("ffmpeg at %q is not an executable file", path)
	}
	return path, ""
}
