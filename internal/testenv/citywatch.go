package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// BuildCitywatch builds ./cmd/citywatch of the module the test runs in, with -race when race is true, and
// returns the binary's path. The binary lives at a fixed path per module checkout and flavour under the
// test dependency cache (CacheBin's parent), so `go build` finds it up to date and does not even link when
// nothing changed since the last test run, and the end-to-end packages of one run share it. A file lock
// serialises builds of one binary across test processes (go test runs packages in parallel). Tests only
// run the binary, never change it.
func BuildCitywatch(race bool) (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" {
		return "", fmt.Errorf("not inside the citywatch module (GOMOD %q)", gomod)
	}
	sum := sha256.Sum256([]byte(root))
	flavour := "plain"
	if race {
		flavour = "race"
	}
	dir := filepath.Join(filepath.Dir(CacheBin()), "e2e", hex.EncodeToString(sum[:6])+"-"+flavour)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too
	bin := filepath.Join(dir, "citywatch")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/citywatch")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return bin, nil
}
