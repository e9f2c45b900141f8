package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fieldgate/fieldgate/gateway/config"
)

// minAPITokenLen is the shortest local API token accepted from a token file.
const minAPITokenLen = 16

// loadAPIToken returns the local API's bearer token. api.tokenFile, when set,
// must hold one (the installer made it). Otherwise the token is
// config.APITokenName in the state directory, created at the first start:
// 32 random bytes in hex, mode 0600, written whole to a temporary file,
// synced, and linked into place only if no token is there yet (a token
// another process wrote first wins), so the file is never seen half-written.
func loadAPIToken(cfg *config.Config) (string, error) {
	path := cfg.APITokenPath()
	if cfg.API.TokenFile != "" {
		tok, err := readTokenFile(path, minAPITokenLen)
		if err != nil {
			return "", fmt.Errorf("api.tokenFile: %w", err)
		}
		return tok, nil
	}
	if _, err := os.Stat(path); err == nil {
		return readTokenFile(path, minAPITokenLen)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("api token %q: %w", path, unwrapPath(err))
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	tok := hex.EncodeToString(b[:])
	if err := writeNew(path, []byte(tok+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readTokenFile(path, minAPITokenLen)
		}
		return "", fmt.Errorf("api token: %w", err)
	}
	return tok, nil
}

// writeNew writes data to path, mode 0600, atomically and only if path does
// not exist (fs.ErrExist then).
func writeNew(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
