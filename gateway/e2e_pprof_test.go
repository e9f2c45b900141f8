package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestPprofOnlyWhenConfigured: /debug/pprof/ is not served by default, and is
// when the config sets api.pprof. /api/v1/status counts the values polled.
func TestPprofOnlyWhenConfigured(t *testing.T) {
	b := newRefBackend(t)
	emus := startEmulators(t)
	for _, on := range []bool{false, true} {
		cfg := gatewayConfig(t, t.TempDir(), b.url(), emus)
		cfg.API.Pprof = on
		gw := startGateway(t, cfg)
		resp, err := http.Get("http://" + gw.api + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("pprof %v: GET /debug/pprof/ = %s, want %d", on, resp.Status, want)
		}
		if on {
			eventually(t, 20*time.Second, "values polled in /api/v1/status", func() error {
				var st struct {
					Polled struct{ Polls, Values uint64 } `json:"polled"`
				}
				getJSON(t, "http://"+gw.api+"/api/v1/status", &st)
				if st.Polled.Polls == 0 || st.Polled.Values < st.Polled.Polls {
					return fmt.Errorf("polled = %+v", st.Polled)
				}
				return nil
			})
		}
		gw.stop()
	}
}
