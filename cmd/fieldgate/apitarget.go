package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/fieldgate/fieldgate/gateway/config"
)

// apiTarget is where the commissioning commands find a running daemon's local
// API and the token it wants.
type apiTarget struct {
	addr      string
	token     string
	tokenPath string // the file token was read from
	tokenErr  error  // why no token could be read (reported when the daemon asks for one)
}

// findAPI finds the local API the way the daemon is configured: the config
// (--config, else the packaged one when readable) gives api.listen and the
// token file (api.tokenFile, else api.token in gateway.stateDir); without a
// config, the token is looked for in the embedded demo config's state
// directory and those systemd and the package use. --api and --token-file
// override.
func findAPI(cfgPath, api, tokenFile string) (apiTarget, error) {
	var cfg *config.Config
	switch {
	case cfgPath != "":
		c, _, err := loadConfig(cfgPath)
		if err != nil {
			return apiTarget{}, err
		}
		cfg = c
	default:
		if c, _, err := loadConfig(DefaultConfigPath); err == nil {
			cfg = c
		}
	}
	t := apiTarget{addr: api}
	if t.addr == "" {
		t.addr = defaultAPI
		if cfg != nil && cfg.API.Listen != config.APIOff {
			t.addr = dialable(cfg.API.Listen)
		}
	}
	var paths []string
	switch {
	case tokenFile != "":
		paths = []string{tokenFile}
	case cfg != nil:
		paths = []string{cfg.APITokenPath()}
	default:
		// No config: the embedded demo config's state directory (what
		// `fieldgate run` without --config uses), then the packaged ones.
		if demo, _, err := loadConfig(""); err == nil {
			paths = append(paths, demo.APITokenPath())
		}
		for _, d := range stateDirs() {
			if d != "" {
				paths = append(paths, filepath.Join(d, config.APITokenName))
			}
		}
	}
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			t.token, t.tokenPath = strings.TrimSpace(string(b)), p
			return t, nil
		}
		if tokenFile == "" && errors.Is(err, fs.ErrNotExist) && len(paths) > 1 {
			continue
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, fmt.Errorf("no %s in %s", config.APITokenName, strings.Join(paths, ", ")))
	}
	t.tokenErr = errors.Join(errs...)
	return t, nil
}

// dialable turns a listen address into one to call: an unspecified host
// (all interfaces) is called on loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
