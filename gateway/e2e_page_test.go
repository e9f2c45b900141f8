package gateway_test

import (
	"github.com/fieldgate/fieldgate/testbench/webdriver"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCommissioningPage opens the gateway's page in a headless Chromium at a
// phone's width (360 px), as an installer on site would: it asks for the
// token, lists the demo devices (the pending one with its reason), scans,
// refuses a setpoint the model does not allow before sending it, and a
// setpoint written from the form reaches the emulated thermostat's register,
// as does an operation's input. Screenshots are kept (see webdriver.ArtifactDir).
// Skipped when Chromium is not installed, unless CI is set.
func TestCommissioningPage(t *testing.T) {
	chromium, driver := webdriver.FindBrowser(t)
	emus := startEmulators(t)
	be := newRefBackend(t)
	state := t.TempDir()
	gw := startGateway(t, gatewayConfig(t, state, be.url(), emus))
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	pm3 := "modbus-tcp/" + emus[1].Addr() + "/1"
	mystery := "modbus-tcp/" + emus[1].Addr() + "/7"
	waitRunning(t, gw.api, th1, "acme-th100@1.0.0")
	waitRunning(t, gw.api, pm3, "")
	token := readAPIToken(t, state)

	// The page is static, secret-free and locked down.
	resp, err := http.Get("http://" + gw.api + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET /: %s, CSP %q, X-Content-Type-Options %q", resp.Status, csp, resp.Header.Get("X-Content-Type-Options"))
	}

	var listed []struct {
		LocalID string `json:"localId"`
	}
	getJSON(t, "http://"+gw.api+"/api/v1/devices", &listed)

	b := webdriver.Start(t, chromium, driver, 360, 780, true)
	b.Navigate("http://" + gw.api + "/")
	b.WaitFor(30*time.Second, "token form", `return document.getElementById("login").hidden ? "token form hidden" : ""`)
	// A wrong token is refused and asked for again.
	b.TypeInto("#token-input", strings.Repeat("0", len(token)))
	b.Click("#token-submit")
	b.WaitFor(30*time.Second, "wrong token refused", `const e = document.getElementById("login-error");
		return !e.hidden && /refused/.test(e.textContent) ? "" : "no refusal shown: " + e.textContent`)
	b.TypeInto("#token-input", token)
	b.Click("#token-submit")

	// Every device the API lists, with health and model; the pending one with
	// its reason; the backend's state.
	wantIDs := []string{}
	for _, d := range listed {
		wantIDs = append(wantIDs, d.LocalID)
	}
	b.WaitFor(30*time.Second, "the devices listed", `const want = arguments[0];
		const cards = Array.from(document.querySelectorAll("article.device-card"));
		const ids = cards.map(c => c.dataset.localId);
		const missing = want.filter(id => !ids.includes(id));
		if (missing.length) return "missing " + missing.join(", ") + "; listed " + ids.join(", ");
		const th = cards.find(c => c.dataset.localId === arguments[1]);
		if (!/online/.test(th.textContent) || !/acme-th100@1\.0\.0/.test(th.textContent) || !/setpoint\s*[\d.]+ °C \d+ s ago/.test(th.textContent))
			return "thermostat card without health, model or setpoint reading with unit and age: " + th.textContent;
		if (document.getElementById("backend-state").textContent !== "reachable") return "backend not shown reachable";
		return "";`, wantIDs, th1)
	b.WaitFor(30*time.Second, "the pending device's reason", `const c = document.querySelector('article.device-card[data-local-id="' + arguments[0] + '"]');
		return c && c.dataset.status === "pending" && /pending: \S/.test(c.querySelector(".reason").textContent) ? "" : "no pending reason: " + (c && c.textContent)`, mystery)
	var overflow string
	b.Must(b.Script(`return window.innerWidth !== 360 ? "viewport " + window.innerWidth + " px wide, want 360" :
		document.documentElement.scrollWidth > window.innerWidth ?
		"page " + document.documentElement.scrollWidth + " px wide in a " + window.innerWidth + " px viewport" : ""`, &overflow), "width")
	if overflow != "" {
		t.Errorf("not readable on a phone: %s", overflow)
	}
	b.Screenshot("overview-360px")

	// A scan from the page: busy, then the result per bus.
	b.Click("#scan-button")
	b.WaitFor(60*time.Second, "the scan's result", `const s = document.getElementById("scan-state").textContent;
		const r = document.getElementById("scan-result").textContent;
		return /Scan done in [\d.]+ s: \d+ devices, 0 new/.test(s) && /tcp: \d+ devices \(0 new, \d+ known\)/.test(r) &&
			!document.getElementById("scan-button").disabled ? "" : "scan state: " + s + " / " + r`)
	// Where the gateway streams the scan's progress, each bus ends "scanned".
	var progress string
	b.Must(b.Script(`const li = Array.from(document.querySelectorAll("#scan-progress li")).map(l => l.textContent);
		if (li.some(t => !/: scanned, \d+ found/.test(t))) throw new Error("a bus not scanned: " + li.join("; "));
		return li.join("; ")`, &progress), "scan progress")
	t.Logf("scan progress shown: %q", progress)
	b.Must(b.Script(`document.getElementById("scan").scrollIntoView(); return ""`, nil), "scroll")
	b.Screenshot("scan-360px")
	b.Must(b.Script(`document.getElementById("devices").scrollIntoView(); return ""`, nil), "scroll")
	b.Screenshot("devices-360px")

	// The thermostat's write form: a setpoint beyond the model's max is
	// refused on the page; one within it is written to the device.
	b.Click(`article.device-card[data-local-id="` + th1 + `"] button.open`)
	b.WaitFor(30*time.Second, "the write form", `const s = document.getElementById("write-prop");
		return s && Array.from(s.options).some(o => o.value === "setpoint") && document.getElementById("write-value") ? "" : "no setpoint in the write form"`)
	// Read now: fresh values where the gateway reads on demand; where it
	// cannot, the page says so and keeps the polled values.
	b.Click("#read-now")
	b.WaitFor(30*time.Second, "read now answered", `const s = document.getElementById("read-state").textContent;
		return /^Read \d+ values|cannot read on demand/.test(s) ? "" : "read state: " + s`)
	b.Click(`#write-prop option[value="setpoint"]`)
	b.WaitFor(10*time.Second, "the setpoint's limits shown", `return /5 … 30/.test(document.getElementById("write-hint").textContent) ? "" : document.getElementById("write-hint").textContent`)
	b.TypeInto("#write-value", "99")
	b.Click("#write-submit")
	b.WaitFor(10*time.Second, "out-of-range setpoint refused on the page", `const r = document.getElementById("write-result");
		return r.dataset.status === "invalid" && /maximum 30/.test(r.textContent) ? "" : "result: " + r.dataset.status + " " + r.textContent`)
	if got := emus[0].Unit(1).Holding(10); got != 215 {
		t.Fatalf("setpoint register %d after a refused write, want 215 (untouched)", got)
	}
	b.TypeInto("#write-value", "23.5")
	b.Click("#write-submit")
	b.WaitFor(60*time.Second, "the write succeeded", `const r = document.getElementById("write-result");
		return r.dataset.status === "SUCCEEDED" ? "" : "result: " + r.dataset.status + " " + r.textContent`)
	if got := emus[0].Unit(1).Holding(10); got != 235 {
		t.Fatalf("setpoint register %d after writing 23.5 from the page, want 235", got)
	}
	// An operation with a typed input, from its form.
	b.TypeInto(`form[data-operation="boost"] input`, "15")
	b.Click(`form[data-operation="boost"] button[type="submit"]`)
	b.WaitFor(60*time.Second, "boost succeeded", `const r = document.querySelector('form[data-operation="boost"] .result');
		return r.dataset.status === "SUCCEEDED" ? "" : "result: " + r.dataset.status + " " + r.textContent`)
	if got := emus[0].Unit(1).Holding(13); got != 15 {
		t.Fatalf("boost minutes register %d after boost 15 from the page, want 15", got)
	}
	b.Must(b.Script(`document.getElementById("device").scrollIntoView(); return ""`, nil), "scroll")
	b.Screenshot("device-360px")
	b.Must(b.Script(`document.getElementById("write-section").scrollIntoView(); return ""`, nil), "scroll")
	b.Screenshot("device-forms-360px")

	// Nothing the page did broke its own CSP or threw.
	console := b.ConsoleLog()
	for _, line := range console {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Uncaught") {
			t.Errorf("browser console: %s", line)
		}
	}
	t.Logf("browser console: %d lines: %q", len(console), console)
}
