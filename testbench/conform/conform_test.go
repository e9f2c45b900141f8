package conform

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// The wire clauses alone (no fieldgate binary) against the reference
// backend: they pass, the gateway clauses are skipped saying why, and so are
// the test-control clauses when the control API is switched off.
func TestWireClausesAgainstReferenceBackend(t *testing.T) {
	hs := serveBackend(t, backend.Config{Binders: []models.Binder{modbus.ModelBinder()}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	results, err := Run(ctx, Options{Backend: hs.URL, Control: "none", Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, r := range results {
		c := clauseByID(r.ID)
		switch {
		case r.ID == "auth":
			if r.Verdict != Skip {
				t.Errorf("auth without a token: %s", r.Verdict)
			}
		case c.Gateway:
			if r.Verdict != Skip || !strings.Contains(r.Evidence, "--fieldgate") {
				t.Errorf("%s without a fieldgate binary: %s %q", r.ID, r.Verdict, r.Evidence)
			}
		case r.Verdict != Pass:
			t.Errorf("%s: %s: %s", r.ID, r.Verdict, r.Evidence)
		}
	}
	if _, err := Run(ctx, Options{Backend: hs.URL, Only: []string{"no-such-clause"}}); err == nil || !strings.Contains(err.Error(), "no-such-clause") {
		t.Errorf("unknown clause id: %v", err)
	}
	results, err = Run(ctx, Options{Backend: hs.URL, Control: "none", Fieldgate: "/nonexistent", Only: []string{"gateway.operation"}})
	if err != nil || len(results) != 1 || results[0].Verdict != Skip || !strings.Contains(results[0].Evidence, "test-control") {
		t.Errorf("control clause without the control API: %+v %v", results, err)
	}
}

// TestControlTokenIsAskedFor: a test-control API that asks for a token is no
// reason to skip its clauses quietly: the run says which flag is missing, or
// that its token is refused.
func TestControlTokenIsAskedFor(t *testing.T) {
	hs := serveBackend(t, backend.Config{AdminToken: "adm"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	for name, tok := range map[string]string{"right": "adm\n", "wrong": "nope\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	only := []string{"hello"}
	if _, err := Run(ctx, Options{Backend: hs.URL, Only: only}); err == nil || !strings.Contains(err.Error(), "--control-token") {
		t.Errorf("no control token: %v, want an error naming --control-token", err)
	}
	if _, err := Run(ctx, Options{Backend: hs.URL, Only: only, ControlTokenFile: filepath.Join(dir, "wrong")}); err == nil || !strings.Contains(err.Error(), "refuses") {
		t.Errorf("wrong control token: %v, want it refused", err)
	}
	if _, err := Run(ctx, Options{Backend: hs.URL, Only: only, ControlTokenFile: filepath.Join(dir, "right")}); err != nil {
		t.Errorf("right control token: %v", err)
	}
}

// serveBackend serves a reference backend configured as cfg (on a fresh
// database) on loopback until the test ends.
func serveBackend(t *testing.T, cfg backend.Config) *httptest.Server {
	t.Helper()
	cfg.DBPath = filepath.Join(t.TempDir(), "b.db")
	srv, err := backend.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	return hs
}

func clauseByID(id string) Clause {
	for _, c := range Clauses() {
		if c.ID == id {
			return c
		}
	}
	return Clause{}
}
