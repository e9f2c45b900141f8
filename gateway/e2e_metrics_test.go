package gateway_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/coapemu"
)

// TestMetricsScrape scrapes /metrics of a running gateway (Modbus TCP
// emulators and a CoAP device, the reference backend) after polls, a scan,
// uploads and two operations, checks the series that say so, checks the
// whole scrape against the text format's rules (lintScrape) plus one label
// set per family, and lints it with `promtool check metrics`.
func TestMetricsScrape(t *testing.T) {
	emus := startEmulators(t)
	specs, err := coapemu.DecodeSpecs([]byte(coapDevice))
	if err != nil {
		t.Fatal(err)
	}
	coapDev, err := coapemu.Listen(context.Background(), specs[0], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = coapDev.Close() })
	be := newRefBackend(t)
	cfg := gatewayConfig(t, t.TempDir(), be.url(), emus)
	coapCfg := testConfig(t, "gw-test", cfg.Gateway.StateDir, be.url(), fmt.Sprintf(`
  - name: coap
    protocol: coap
    settings:
      hosts: [%q]
      timeout: 1s
`, coapDev.Addr()))
	cfg.Buses = append(cfg.Buses, coapCfg.Buses...)
	started := time.Now()
	gw := startGatewayWith(t, gateway.Options{Config: cfg, Commit: "0123abc"})
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	waitRunning(t, gw.api, th1, "acme-th100@1.0.0")

	// Two operations: one that succeeds, one refused by the model's limits.
	dev, _ := deviceByLocalID(be.srv.Devices(), th1)
	for _, input := range []string{`{"setpoint": 21.5}`, `{"setpoint": 45}`} {
		id, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: dev.ID, Name: "write", Input: json.RawMessage(input)})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "operation "+input+" final", func() error {
			rec, _ := be.srv.Operation(id)
			if rec.Status != backendclient.OpSucceeded && rec.Status != backendclient.OpFailed {
				return fmt.Errorf("status %s", rec.Status)
			}
			return nil
		})
	}

	var scrape string
	value := func(series string) (float64, bool) {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[1], 64)
		return v, err == nil
	}
	// What must hold once readings have been uploaded and the CoAP link seen.
	eventually(t, 30*time.Second, "metrics after poll, operations and upload", func() error {
		scrape = getText(t, "http://"+gw.api+"/metrics")
		for _, s := range []string{`fieldgate_last_upload_timestamp_seconds`, `fieldgate_backend_request_duration_seconds_count{call="telemetry",code="200"}`,
			`fieldgate_link_up{bus="coap",link="` + coapDev.Addr() + `"}`} {
			if v, ok := value(s); !ok || v < 1 {
				return fmt.Errorf("%s: %v (present: %v)", s, v, ok)
			}
		}
		return nil
	})
	now := float64(time.Now().Unix()) + 1
	checks := []struct {
		series   string
		min, max float64
	}{
		{`fieldgate_operations_total{status="SUCCEEDED"}`, 1, 1},
		{`fieldgate_operations_total{status="FAILED"}`, 1, 1},
		{`fieldgate_last_upload_timestamp_seconds`, float64(started.Unix()), now},
		{`fieldgate_last_scan_timestamp_seconds`, float64(started.Unix()), now},
		{`fieldgate_backend_request_duration_seconds_count{call="hello",code="200"}`, 1, 10},
		{`fieldgate_backend_request_duration_seconds_count{call="register",code="200"}`, 4, 100},
		{`fieldgate_backend_request_duration_seconds_count{call="model",code="200"}`, 1, 10},
		{`fieldgate_backend_request_duration_seconds_count{call="operation",code="200"}`, 2, 100},
		{`fieldgate_backend_request_duration_seconds_bucket{call="telemetry",code="200",le="+Inf"}`, 1, 1e6},
		{`fieldgate_bus_transactions_total{bus="tcp"}`, 10, 1e6},
		{`fieldgate_bus_timeouts_total{bus="tcp"}`, 0, 1e6},
		{`fieldgate_bus_crc_errors_total{bus="tcp"}`, 0, 0},
		{`fieldgate_bus_exceptions_total{bus="tcp"}`, 0, 1e6},
		{`fieldgate_bus_transactions_total{bus="coap"}`, 1, 1e6},
		{`fieldgate_bus_timeouts_total{bus="coap"}`, 0, 1e6},
		{`fieldgate_bus_exceptions_total{bus="coap"}`, 0, 1e6},
		{`fieldgate_devices{status="assigned"}`, 3, 4}, // the Modbus devices, and the CoAP one once registered
		{`fieldgate_devices{status="rejected"}`, 0, 0},
		{`fieldgate_devices{status="unassigned"}`, 0, 0},
		{`fieldgate_devices{status="new"}`, 0, 10},
		{`fieldgate_devices{status="pending"}`, 0, 10},
		{`fieldgate_link_up{bus="coap",link="` + coapDev.Addr() + `"}`, 1, 1},
		{`fieldgate_link_downs_total{bus="coap",link="` + coapDev.Addr() + `"}`, 0, 0},
	}
	for _, c := range checks {
		v, ok := value(c.series)
		switch {
		case !ok:
			t.Errorf("/metrics lacks %s", c.series)
		case v < c.min || v > c.max:
			t.Errorf("%s = %v, want %v..%v", c.series, v, c.min, c.max)
		}
	}
	info := regexp.MustCompile(`(?m)^fieldgate_build_info\{commit="0123abc",goversion="go[^"]+",version="test"\} 1$`)
	if !info.MatchString(scrape) {
		t.Errorf("no fieldgate_build_info with version, commit and goversion:\n%s", grepLines(scrape, "build_info"))
	}

	t.Logf("scrape (fieldgate_ families):\n%s", grepLines(scrape, "fieldgate_"))
	for _, p := range lintScrape(scrape) {
		t.Error(p)
	}
	for _, p := range labelSetProblems(scrape) {
		t.Error(p)
	}
	promtoolCheck(t, scrape)
	checkMetricsEncodings(t, "http://"+gw.api+"/metrics")
}

// checkMetricsEncodings scrapes url plain and gzipped (as Prometheus asks)
// and checks the headers and that each body is a clean page.
func checkMetricsEncodings(t *testing.T, url string) {
	t.Helper()
	for _, enc := range []string{"identity", "gzip"} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept-Encoding", enc) // set: the transport leaves the body as it comes
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = resp.Body
		if got := resp.Header.Get("Content-Encoding"); (enc == "gzip") != (got == "gzip") {
			t.Errorf("Accept-Encoding %s: Content-Encoding %q", enc, got)
		}
		if enc == "gzip" {
			if body, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatalf("gzip: %v", err)
			}
		}
		page, err := io.ReadAll(body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatalf("Accept-Encoding %s: %v", enc, err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("Accept-Encoding %s: Content-Type %q", enc, ct)
		}
		if !strings.Contains(string(page), "\nfieldgate_backend_up ") {
			t.Errorf("Accept-Encoding %s: no fieldgate_backend_up in %d bytes", enc, len(page))
		}
		for _, p := range lintScrape(string(page)) {
			t.Errorf("Accept-Encoding %s: %s", enc, p)
		}
	}
}

// promtoolCheck runs `promtool check metrics` on the scrape: the binary
// $PROMTOOL names (make unit sets it), else bin/promtool of the repository
// (make promtool puts it there), else none.
func promtoolCheck(t *testing.T, scrape string) {
	t.Helper()
	bin := os.Getenv("PROMTOOL")
	if bin == "" {
		if fi, err := os.Stat("../bin/promtool"); err == nil && fi.Mode()&0o111 != 0 {
			bin = "../bin/promtool"
		}
	}
	if bin == "" {
		t.Log("no promtool (make promtool; or set PROMTOOL): checked with lintScrape only")
		return
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// labelSetProblems lists the families of a text-format scrape whose series
// do not all have the same label names (a histogram's le and a summary's
// quantile aside).
func labelSetProblems(scrape string) []string {
	labelName := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)
	sets := map[string]map[string]bool{}
	family := ""
	for _, line := range strings.Split(scrape, "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			family = strings.Fields(f)[0]
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var names []string
		if i := strings.IndexByte(line, '{'); i >= 0 {
			for _, m := range labelName.FindAllStringSubmatch(line[i:strings.LastIndexByte(line, '}')], -1) {
				if m[1] != "le" && m[1] != "quantile" {
					names = append(names, m[1])
				}
			}
		}
		sort.Strings(names)
		if sets[family] == nil {
			sets[family] = map[string]bool{}
		}
		sets[family][strings.Join(names, ",")] = true
	}
	var out []string
	for f, s := range sets {
		if len(s) > 1 {
			out = append(out, fmt.Sprintf("family %s has series with different label names: %v", f, s))
		}
	}
	sort.Strings(out)
	return out
}

// TestLabelSetProblems: the check above finds what it is for.
func TestLabelSetProblems(t *testing.T) {
	bad := "# TYPE x_total counter\nx_total{bus=\"a\"} 1\nx_total{bus=\"b\",link=\"l\"} 1\n" +
		"# TYPE h histogram\nh_bucket{call=\"a\",le=\"1\"} 1\nh_sum{call=\"a\"} 1\nh_count{call=\"a\"} 1\n"
	if got := labelSetProblems(bad); len(got) != 1 || !strings.Contains(got[0], "x_total") {
		t.Errorf("got %v, want one problem, for x_total", got)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
