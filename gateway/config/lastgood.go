package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fieldgate/fieldgate/adapters"
)

// LastGoodName is the file in a gateway's state directory that keeps a copy of
// the last config the gateway started with: the daemon falls back to it when
// its config file has become unusable (a bad push), rather than stay down.
const LastGoodName = "config.last-good.yaml"

// LoadSource reads and parses the config file at path, and returns the
// config with the bytes it was parsed from.
func LoadSource(path string, table adapters.Table) (*Config, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data, table)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, data, nil
}

// SaveLastGood keeps src, the bytes cfg was parsed from, as LastGoodName in
// cfg's state directory (written whole, synced, then renamed into place).
func SaveLastGood(cfg *Config, src []byte) error {
	path := filepath.Join(cfg.Gateway.StateDir, LastGoodName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("keep last good config: %w", err)
	}
	_, err = f.Write(src)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("keep last good config: %w", err)
	}
	return nil
}

// LoadLastGood parses the last good config kept in the first of dirs that has
// one, and returns it with its bytes and path.
func LoadLastGood(dirs []string, table adapters.Table) (*Config, []byte, string, error) {
	var errs []error
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		cfg, src, err := LoadSource(filepath.Join(dir, LastGoodName), table)
		if err == nil {
			return cfg, src, filepath.Join(dir, LastGoodName), nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, nil, "", errors.New("no state directory to look for a last good config in")
	}
	return nil, nil, "", errors.Join(errs...)
}
