package gateway

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/gateway/config"
)

// Preflight checks what Run needs of the machine before anything starts: the
// files the config names are readable and hold what they must (token files,
// and what a bus's adapter reads at Open: see adapters.Preflighter), and the
// state directory can be created or written. Run refuses to start on the same
// problems (it calls Preflight first), so `fieldgate check` (which calls it
// too) passes only a config that run takes: a first install does not
// restart-loop on a missing token file. It binds the local API's address
// for a moment (see checkListen). Every problem is reported, each named
// by its config field. It creates nothing: a state directory that does not
// exist yet is checked through the directory it would be created in.
func Preflight(cfg *config.Config, table adapters.Table) error {
	var errs []error
	add := func(field string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	if f := cfg.Backend.TokenFile; f != "" {
		_, err := readTokenFile(f, 1)
		add("backend.tokenFile", err)
	}
	add("gateway.stateDir", checkStateDir(cfg.Gateway.StateDir))
	for i, b := range cfg.Buses {
		if p, ok := table[b.Protocol].(adapters.Preflighter); ok && !b.Disabled {
			add(fmt.Sprintf("buses[%d].settings", i), p.Preflight(b.Settings))
		}
	}
	if cfg.API.Listen != config.APIOff {
		add("api.listen", checkListen(cfg.API.Listen))
		switch f := cfg.APITokenPath(); {
		case cfg.API.TokenFile != "":
			_, err := readTokenFile(f, minAPITokenLen)
			add("api.tokenFile", err)
		default:
			// Created at the first start when absent; one that is there must be usable.
			if _, err := os.Stat(f); err == nil {
				_, err := readTokenFile(f, minAPITokenLen)
				add("api.tokenFile (default "+f+")", err)
			}
		}
	}
	return errors.Join(errs...)
}

// readTokenFile reads a bearer token: one line, surrounding space trimmed, at
// least minLen bytes and at most maxTokenBytes.
func readTokenFile(path string, minLen int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %w", path, unwrapPath(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %w", path, unwrapPath(err))
	}
	if len(b) > maxTokenBytes {
		return "", fmt.Errorf("%q: longer than %d bytes", path, maxTokenBytes)
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return "", fmt.Errorf("%q: empty (it must hold the token)", path)
	case strings.ContainsAny(tok, "\r\n"):
		return "", fmt.Errorf("%q: must hold one line", path)
	case len(tok) < minLen:
		return "", fmt.Errorf("%q: the token must be at least %d characters, got %d", path, minLen, len(tok))
	}
	return tok, nil
}

// maxTokenBytes bounds a token file.
const maxTokenBytes = 4096

// unwrapPath drops the *PathError's own "open <path>:" (the caller names the path).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkStateDir checks that dir is (or can be created as) a writable
// directory, and that a state file already in it can be opened for writing.
func checkStateDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// The nearest existing ancestor must be a directory we may create in.
		parent := filepath.Dir(dir)
		for {
			pfi, perr := os.Stat(parent)
			if perr == nil {
				if !pfi.IsDir() {
					return fmt.Errorf("cannot create %q: %q is not a directory", dir, parent)
				}
				if err := unix.Access(parent, unix.W_OK|unix.X_OK); err != nil {
					return fmt.Errorf("cannot create %q: %q is not writable: %w", dir, parent, err)
				}
				return nil
			}
			if !errors.Is(perr, fs.ErrNotExist) {
				return fmt.Errorf("cannot create %q: %w", dir, perr)
			}
			if next := filepath.Dir(parent); next != parent {
				parent = next
				continue
			}
			return fmt.Errorf("cannot create %q: no existing parent directory", dir)
		}
	case err != nil:
		return fmt.Errorf("cannot use %q: %w", dir, unwrapPath(err))
	case !fi.IsDir():
		return fmt.Errorf("%q is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%q is not writable: %w", dir, err)
	}
	db := filepath.Join(dir, "state.db")
	if fi, err := os.Stat(db); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%q is not a regular file", db)
		}
		if err := unix.Access(db, unix.R_OK|unix.W_OK); err != nil {
			return fmt.Errorf("state file %q is not readable and writable: %w", db, err)
		}
	}
	return nil
}

// checkListen checks that the local API can listen on addr: it binds and
// closes at once. An address in use is fine when a fieldgate answers there
// (the running daemon, while its config is checked or reloaded).
func checkListen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln.Close()
	}
	if errors.Is(err, unix.EADDRINUSE) && answersHealth(addr) {
		return nil
	}
	return fmt.Errorf("cannot listen on %q: %w", addr, unwrapOp(err))
}

// answersHealth says whether a fieldgate local API answers on addr.
func answersHealth(addr string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16))
	return resp.StatusCode == http.StatusOK && string(b) == "ok\n"
}

// unwrapOp drops the *net.OpError's own "listen tcp <addr>:" (the caller names the address).
func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err
		}
		return oe.Err
	}
	return err
}
