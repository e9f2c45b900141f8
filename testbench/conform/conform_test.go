package conform

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
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
	srv, err := backend.Open(backend.Config{DBPath: filepath.Join(t.TempDir(), "b.db"), Binders: []models.Binder{modbus.ModelBinder()}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
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

func clauseByID(id string) Clause {
	for _, c := range Clauses() {
		if c.ID == id {
			return c
		}
	}
	return Clause{}
}
