package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRefusedTelemetryItemSetAside: a backend that refuses for good (400) every
// batch holding one particular item does not hold up the readings behind it:
// the gateway narrows the batch down to that item, sets it aside, tells the
// backend, and goes on. A backend that then refuses everything for a while
// costs at most one more item, never a stream of them.
func TestRefusedTelemetryItemSetAside(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	const poison = 5
	var refuseAll atomic.Bool
	proxyURL := interceptBackend(t, be, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/telemetry") {
			return false
		}
		_, seqs := telemetryBody(r)
		for _, seq := range seqs {
			if seq == poison || refuseAll.Load() {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":{"code":"bad-request","message":"record %d: this backend will not take it"}}`, seq)
				return true
			}
		}
		return false
	})

	gw := startGateway(t, gatewayConfig(t, t.TempDir(), proxyURL, emus))
	refusedEvents := func() []string {
		var out []string
		for _, e := range be.srv.Events("", 10000) {
			if e.Event == "telemetry-item-refused" {
				out = append(out, e.Detail)
			}
		}
		return out
	}
	eventually(t, 30*time.Second, "readings past the refused item, and its event", func() error {
		sc, _ := checkSequence(be.srv)
		if ev := refusedEvents(); len(ev) != 1 || !strings.Contains(ev[0], fmt.Sprintf(`"seq":%d`, poison)) {
			return fmt.Errorf("refused events %v", ev)
		}
		if sc.readings < 50 {
			return fmt.Errorf("%d readings", sc.readings)
		}
		return nil
	})

	// A backend that refuses everything for a while: the gateway waits.
	refuseAll.Store(true)
	time.Sleep(3 * time.Second)
	refuseAll.Store(false)
	var sc seqCheckLoose
	eventually(t, 30*time.Second, "outbox drained after the backend took batches again", func() error {
		var err error
		sc, err = looseSequence(be.srv)
		if err != nil {
			return err
		}
		var status struct {
			Outbox struct {
				Pending int `json:"pending"`
			} `json:"outbox"`
		}
		getJSON(t, "http://"+gw.api+"/api/v1/status", &status)
		if status.Outbox.Pending > 50 {
			return fmt.Errorf("%d items still pending", status.Outbox.Pending)
		}
		return nil
	})
	ev := refusedEvents()
	if len(ev) > 2 {
		t.Errorf("%d items set aside, want at most 2 (the poison, and one while the backend refused everything): %v", len(ev), ev)
	}
	if len(sc.missing) != len(ev) {
		t.Errorf("missing seqs %v, refused events %v: every gap must be a reported refusal", sc.missing, ev)
	}
	t.Logf("delivered seq 1..%d but %v; refused events %v", sc.max, sc.missing, ev)
}
