package backend

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/webdriver"
)

// TestWebPage opens the web view in a headless Chromium, at a desktop's and
// at a phone's width, against a reference backend holding a gateway's worth
// of data (its hello, inbox poll, devices assigned, pending and rejected,
// readings, an event), as a person on a bench would: it reads the gateway's
// health and the devices with units and ages, assigns the pending device a
// model, rejects another, sends a write and an operation with an input from the page and sees
// them queued in the gateway's inbox, then follows the write to SUCCEEDED as
// the gateway (played here through the gateway API) reports it. Screenshots
// are kept (see webdriver.ArtifactDir). Skipped when Chromium is not installed, unless
// CI is set.
func TestWebPage(t *testing.T) {
	chromium, driver := webdriver.FindBrowser(t)
	for _, vp := range []struct {
		name          string
		width, height int
		phone         bool
	}{{"desktop", 1280, 900, false}, {"phone", 360, 780, true}} {
		t.Run(vp.name, func(t *testing.T) {
			testWebPage(t, webdriver.Start(t, chromium, driver, vp.width, vp.height, vp.phone), vp.width, vp.name)
		})
	}
}

// TestWebPageAsksForAdminToken: a backend with an admin token serves the page,
// whose admin calls are refused until a person gives the token; a wrong one
// is refused again, the right one loads the devices and is kept for the tab
// (a reload does not ask again).
func TestWebPageAsksForAdminToken(t *testing.T) {
	chromium, driver := webdriver.FindBrowser(t)
	br := webdriver.Start(t, chromium, driver, 1280, 900, false)
	b := newBench(t, func(c *Config) { c.AdminToken = "s3cret-admin" })
	benchData(t, b)

	asked := `const f = document.getElementById("login");
		if (f.hidden) return "no token asked for";
		const e = document.getElementById("load-error");
		if (e.hidden || !/unauthorized/.test(e.textContent)) return "no refusal shown: " + e.textContent;
		return document.querySelectorAll("article.device").length ? "devices shown without a token" : "";`
	br.Navigate(b.hs.URL + "/")
	br.WaitFor(30*time.Second, "the token asked for", asked)
	br.TypeInto("#admin-token", "wrong")
	br.Click(`#login button[type="submit"]`)
	br.WaitFor(30*time.Second, "a wrong token refused", `const e = document.getElementById("load-error").textContent;
		return /wrong admin bearer token/.test(e) ? "" : "not told the token is wrong: " + e;`)
	br.WaitFor(10*time.Second, "the token asked for again", asked)
	br.Screenshot("admin-token-asked")
	br.TypeInto("#admin-token", "s3cret-admin")
	br.Click(`#login button[type="submit"]`)
	loaded := `if (!document.getElementById("login").hidden) return "token still asked for";
		if (!document.getElementById("load-error").hidden) return "error: " + document.getElementById("load-error").textContent;
		return document.querySelector('article.device[data-local-id="' + arguments[0] + '"]') ? "" : "devices not shown";`
	br.WaitFor(30*time.Second, "the devices, with the token", loaded, localTH)
	br.Navigate(b.hs.URL + "/")
	br.WaitFor(30*time.Second, "the devices after a reload", loaded, localTH)
}

const (
	webGateway = "gw-bench"
	webPending = "modbus-tcp/127.0.0.1:5020/7"
	webEvil    = "modbus-tcp/127.0.0.1:5020/9"
	webXSS     = "modbus-tcp/127.0.0.1:5020/66"
	xssVendor  = `<img src=x onerror="document.body.dataset.pwned=1">`
)

// benchData fills b as one gateway would: hello, registrations, telemetry,
// an inbox poll. The acme-th100 demo model is added for its operations.
func benchData(t *testing.T, b *bench) {
	t.Helper()
	src, err := os.ReadFile("../demo/models/acme-th100.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.AddModel(src); err != nil {
		t.Fatal(err)
	}
	b.call("PUT", "/api/v1/gateways/"+webGateway, backendclient.Hello{APIVersion: backendclient.APIVersion, Version: "1.4.0",
		Adapters: []string{"modbus"}, Buses: []backendclient.BusInfo{{Name: "tcp0", Protocol: "modbus"}}}, 200, nil)
	th := b.register(webGateway, localTH, thFingerprint("TH-100", "1.2.0"))
	if th.Status != backendclient.StatusAssigned {
		t.Fatalf("thermostat: %+v", th)
	}
	if r := b.register(webGateway, webPending, thFingerprint("TH-200", "2.0.1")); r.Status != backendclient.StatusPending {
		t.Fatalf("TH-200: %+v, want pending", r)
	}
	evil := models.Fingerprint{Protocol: "modbus", Transport: "tcp", Address: "127.0.0.1:5020/9", Identity: map[string]string{"vendor": "Evil Corp", "product": "E"}}
	if r := b.register(webGateway, webEvil, evil); r.Status != backendclient.StatusRejected {
		t.Fatalf("Evil Corp: %+v, want rejected", r)
	}
	xss := models.Fingerprint{Protocol: "modbus", Transport: "tcp", Address: "127.0.0.1:5020/66", Identity: map[string]string{"vendor": xssVendor, "product": "X"}}
	b.register(webGateway, webXSS, xss)

	now := time.Now().UTC()
	batch := backendclient.TelemetryBatch{
		Samples: []backendclient.Sample{
			{Seq: 1, LocalID: localTH, DeviceID: th.DeviceID, Quality: "good", Time: now.Add(-20 * time.Second),
				Values: backendclient.SampleValues{{Property: "temperature", Value: models.FloatValue(21.5)}, {Property: "setpoint", Value: models.FloatValue(20)}}},
			{Seq: 2, LocalID: localTH, DeviceID: th.DeviceID, Quality: "good", Time: now.Add(-3 * time.Second),
				Values: backendclient.SampleValues{{Property: "temperature", Value: models.FloatValue(21.75)}}},
		},
		Events: []backendclient.Event{{Seq: 3, LocalID: localTH, DeviceID: th.DeviceID, Event: "online", Detail: "answered its first poll", Time: now.Add(-25 * time.Second)}},
	}
	if _, err := b.srv.Ingest(webGateway, batch); err != nil {
		t.Fatal(err)
	}
	b.inbox(webGateway, 0, 0)
}

func testWebPage(t *testing.T, br *webdriver.Browser, width int, name string) {
	b := newBench(t, nil)
	benchData(t, b)
	pendingID := DeviceID(webGateway, webPending)

	br.Navigate(b.hs.URL + "/")
	// The gateway's health, as its hello, telemetry and inbox poll left it.
	br.WaitFor(30*time.Second, "the gateway's health", `const g = document.querySelector('article.gateway[data-gateway="gw-bench"]');
		if (!g) return "no gateway card";
		const t = g.querySelector(".facts").textContent;
		if (g.querySelector(".badge").textContent !== "online") return "gateway not shown online";
		for (const re of [/fieldgate1\.4\.0/, /API version1\.\d+/, /last hello\d+ s ago/, /last telemetry\d+ s ago/,
			/inboxcursor 0 of 0, all taken, polled \d+ s ago/, /busestcp0 \(modbus\)/])
			if (!re.test(t)) return "gateway card lacks " + re + ": " + t;
		return "";`)
	// Every device, with status, model, fingerprint, readings with units and age.
	br.WaitFor(30*time.Second, "the devices", `const want = arguments[0];
		const cards = Array.from(document.querySelectorAll("article.device"));
		const ids = cards.map(c => c.dataset.localId);
		const missing = want.filter(id => !ids.includes(id));
		if (missing.length) return "missing " + missing.join(", ") + "; listed " + ids.join(", ");
		const th = cards.find(c => c.dataset.localId === want[0]);
		const txt = th.textContent;
		if (th.dataset.status !== "assigned" || !/test-th@1\.0\.0 \(rev 1\) by rule acme/.test(txt)) return "thermostat without its model: " + txt;
		if (!/vendor=ACME Controls, product=TH-100, revision=1\.2\.0/.test(txt)) return "thermostat without its fingerprint: " + txt;
		const temp = th.querySelector('tr[data-property="temperature"]');
		if (!temp || !/^temperature21\.75 °C\d+ s ago$/.test(temp.textContent)) return "temperature row: " + (temp && temp.textContent);
		const sp = th.querySelector('tr[data-property="setpoint"]');
		if (!sp || !/^setpoint20\d+ s ago$/.test(sp.textContent)) return "setpoint row (no unit in test-th): " + (sp && sp.textContent);
		const p = cards.find(c => c.dataset.localId === want[1]);
		if (p.dataset.status !== "pending" || !p.querySelector(".reason")) return "pending device: " + p.textContent;
		const e = cards.find(c => c.dataset.localId === want[2]);
		if (e.dataset.status !== "rejected" || e.querySelector(".reason").textContent !== "not allowed here") return "rejected device: " + e.textContent;
		if (!e.querySelector("button.operate").disabled) return "a rejected device can be operated";
		return "";`, []string{localTH, webPending, webEvil, webXSS})
	// What a device sent is text, never markup.
	br.WaitFor(10*time.Second, "the hostile vendor shown as text", `const c = document.querySelector('article.device[data-local-id="' + arguments[0] + '"]');
		if (document.body.dataset.pwned) return "a vendor string ran as script";
		if (document.querySelector("main img")) return "a vendor string became an element";
		return c.querySelector(".fingerprint").textContent.includes(arguments[1]) ? "" : "vendor not shown as text: " + c.textContent`, webXSS, xssVendor)
	br.WaitFor(10*time.Second, "events, models and rules", `const ev = document.getElementById("event-table").textContent;
		if (!/online/.test(ev) || !/answered its first poll/.test(ev)) return "events: " + ev;
		const m = document.getElementById("model-list").textContent;
		for (const k of ["acme-th100@1.0.0", "test-pm@2.0.0", "test-th@1.0.0"]) if (!m.includes(k)) return "models: " + m;
		const acme = document.querySelector('details[data-model="acme-th100@1.0.0"]').textContent;
		if (!/setpointfloat°Crw5 … 30/.test(acme) || !/boost\(minutes: int 1 … 120\)/.test(acme)) return "acme-th100's properties and operations: " + acme;
		const r = document.getElementById("rule-table").textContent;
		return /acme10identity\.product: \/\^TH-1\/\nidentity\.vendor: ACME Controlstest-th@1\.0\.0, poll every 500 ms/.test(r) && /reject: not allowed here/.test(r) ? "" : "rules: " + r`)
	noOverflow(t, br, width)
	br.Screenshot("overview-" + name)

	// Assign the pending TH-200 the demo thermostat's model, from the page.
	br.Click(`article.device[data-local-id="` + webPending + `"] button.assign`)
	br.WaitFor(10*time.Second, "the assign dialog", `return document.getElementById("panel").open && !document.getElementById("assign-section").hidden &&
		document.querySelector('#assign-model option[value="acme-th100@1.0.0"]') ? "" : "no assign dialog with acme-th100"`)
	noOverflow(t, br, width)
	br.Screenshot("assign-" + name)
	br.Must(br.Script(`const s = document.getElementById("assign-model"); s.value = "acme-th100@1.0.0"; s.dispatchEvent(new Event("change")); return ""`, nil), "choose the model")
	br.Click("#assign-submit")
	br.WaitFor(30*time.Second, "the assignment", `const r = document.getElementById("assign-result");
		return r.dataset.status === "assigned" && /acme-th100@1\.0\.0 \(rev 1\)/.test(r.textContent) ? "" : "result: " + r.dataset.status + " " + r.textContent`)
	if d, _ := b.srv.Device(pendingID); d.Status != backendclient.StatusAssigned || d.Instance == nil || d.Instance.Model != "acme-th100" {
		t.Fatalf("after assigning from the page: %+v", d)
	}
	items := b.inbox(webGateway, 0, 0).Items
	if len(items) != 1 || items[0].Kind != backendclient.KindAssignment || items[0].Assignment.LocalID != webPending || items[0].Assignment.Instance.Model != "acme-th100" {
		t.Fatalf("inbox after assigning from the page: %+v", items)
	}
	br.Click("#panel-close")
	br.WaitFor(30*time.Second, "the device shown assigned", `const c = document.querySelector('article.device[data-local-id="' + arguments[0] + '"]');
		return c.dataset.status === "assigned" && /acme-th100@1\.0\.0 \(rev 1\) by an admin/.test(c.textContent) && !c.querySelector("button.operate").disabled ? "" : c.textContent`, webPending)

	// Reject the hostile device: a reason is asked for, then the gateway is told.
	br.Click(`article.device[data-local-id="` + webXSS + `"] button.assign`)
	br.WaitFor(10*time.Second, "the reject form", `return document.getElementById("panel").open && !document.getElementById("reject-form").hidden ? "" : "no reject form"`)
	br.Click("#reject-submit")
	br.WaitFor(10*time.Second, "a reason asked for", `const r = document.getElementById("assign-result");
		return r.dataset.status === "invalid" && /give a reason/.test(r.textContent) ? "" : "result: " + r.dataset.status + " " + r.textContent`)
	br.TypeInto("#reject-reason", "unknown vendor")
	br.Click("#reject-submit")
	br.WaitFor(30*time.Second, "the rejection", `const r = document.getElementById("assign-result");
		return r.dataset.status === "rejected" && /Rejected: unknown vendor/.test(r.textContent) ? "" : "result: " + r.dataset.status + " " + r.textContent`)
	items = b.inbox(webGateway, 1, 0).Items
	if len(items) != 1 || items[0].Kind != backendclient.KindUnassignment || items[0].Unassignment.LocalID != webXSS || items[0].Unassignment.Reason != "unknown vendor" {
		t.Fatalf("inbox after rejecting from the page: %+v", items)
	}
	br.Click("#panel-close")
	br.WaitFor(30*time.Second, "the device shown rejected", `const c = document.querySelector('article.device[data-local-id="' + arguments[0] + '"]');
		return c.dataset.status === "rejected" && c.querySelector(".reason").textContent === "unknown vendor" ? "" : c.textContent`, webXSS)

	// A write: refused on the page beyond the model's limit, queued within it.
	br.Click(`article.device[data-local-id="` + webPending + `"] button.operate`)
	br.WaitFor(10*time.Second, "the write form", `const s = document.getElementById("write-prop");
		return document.getElementById("panel").open && Array.from(s.options).map(o => o.value).join(",") === "setpoint,heating,mode" ? "" : "writable: " + Array.from(s.options).map(o => o.value)`)
	br.Must(br.Script(`const s = document.getElementById("write-prop"); s.value = "setpoint"; s.dispatchEvent(new Event("change")); return ""`, nil), "choose setpoint")
	br.WaitFor(10*time.Second, "the setpoint's limits", `return /float in °C; 5 … 30/.test(document.getElementById("write-hint").textContent) ? "" : document.getElementById("write-hint").textContent`)
	br.TypeInto("#write-value", "99")
	br.Click("#write-submit")
	br.WaitFor(10*time.Second, "99 refused on the page", `const r = document.getElementById("op-result");
		return r.dataset.status === "invalid" && /above the maximum 30/.test(r.textContent) ? "" : "result: " + r.dataset.status + " " + r.textContent`)
	if ops := b.srv.Operations("", 10); len(ops) != 0 {
		t.Fatalf("operations after a write refused on the page: %+v", ops)
	}
	br.TypeInto("#write-value", "22.5")
	br.Click("#write-submit")
	br.WaitFor(30*time.Second, "the write queued", `const r = document.getElementById("op-result");
		return r.dataset.status === "QUEUED" && r.dataset.opId && /write \{"setpoint":22\.5\} QUEUED/.test(r.textContent) ? "" : "result: " + r.dataset.status + " " + r.textContent`)
	var opID string
	br.Must(br.Script(`return document.getElementById("op-result").dataset.opId`, &opID), "operation id")
	op, ok := b.srv.Operation(opID)
	if !ok || op.Name != "write" || op.DeviceID != pendingID || string(op.Input) != `{"setpoint":22.5}` || op.Status != backendclient.OpQueued {
		t.Fatalf("operation %s after the write from the page: %+v", opID, op)
	}
	items = b.inbox(webGateway, 2, 0).Items
	if len(items) != 1 || items[0].Kind != backendclient.KindOperation || items[0].Operation.ID != opID || string(items[0].Operation.Input) != `{"setpoint":22.5}` {
		t.Fatalf("inbox after the write from the page: %+v", items)
	}
	noOverflow(t, br, width)
	br.Screenshot("write-queued-" + name)

	// The gateway runs it; the page follows it to the end.
	for _, st := range []string{backendclient.OpExecuting, backendclient.OpSucceeded} {
		b.call("PUT", "/api/v1/operations/"+opID, backendclient.OperationStatus{Gateway: webGateway, Status: st, Time: time.Now().UTC()}, 200, nil)
	}
	br.WaitFor(30*time.Second, "the write followed to SUCCEEDED", `const r = document.getElementById("op-result");
		const h = Array.from(r.querySelectorAll(".history li")).map(l => l.textContent.split(" ")[0]).join(",");
		return r.dataset.status === "SUCCEEDED" && h === "QUEUED,EXECUTING,SUCCEEDED" ? "" : "result: " + r.dataset.status + " history " + h`)

	// A declared operation with its input.
	br.TypeInto(`form[data-operation="boost"] input[data-input="minutes"]`, "15")
	br.Click(`form[data-operation="boost"] button[type="submit"]`)
	br.WaitFor(30*time.Second, "boost queued", `const r = document.getElementById("op-result");
		return r.dataset.status === "QUEUED" && r.dataset.opId !== arguments[0] && /boost \{"minutes":15\} QUEUED/.test(r.textContent) ? "" : "result: " + r.dataset.status + " " + r.textContent`, opID)
	if ops := b.srv.Operations(pendingID, 10); len(ops) != 2 || ops[0].Name != "boost" || string(ops[0].Input) != `{"minutes":15}` {
		t.Fatalf("operations after boost from the page: %+v", ops)
	}
	br.Screenshot("boost-queued-" + name)
	br.Click("#panel-close")

	// Both show in the recent operations, newest first, with their status.
	br.WaitFor(30*time.Second, "the operations table", `const rows = Array.from(document.querySelectorAll("#op-table tbody tr")).map(r => r.dataset.status + " " + r.textContent);
		return rows.length === 2 && /^QUEUED .*boost\{"minutes":15\}/.test(rows[0]) && /^SUCCEEDED .*write\{"setpoint":22\.5\}SUCCEEDED/.test(rows[1]) ? "" : "rows: " + rows.join(" | ")`)
	br.WaitFor(30*time.Second, "the inbox cursor moved", `const g = document.querySelector('article.gateway[data-gateway="gw-bench"]').textContent;
		return /cursor 2 of 4, 2 not taken yet/.test(g) ? "" : g`)
	noOverflow(t, br, width)
	br.Must(br.Script(`document.getElementById("operations").scrollIntoView(); return ""`, nil), "scroll")
	br.Screenshot("operations-" + name)

	for _, line := range br.ConsoleLog() {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Uncaught") || strings.Contains(line, "Failed to load") {
			t.Errorf("browser console: %s", line)
		}
	}
}

// noOverflow fails the test when the page is wider than the viewport (a
// person on a phone would scroll sideways).
func noOverflow(t *testing.T, br *webdriver.Browser, width int) {
	t.Helper()
	var overflow string
	br.Must(br.Script(`return window.innerWidth !== arguments[0] ? "viewport " + window.innerWidth + " px wide, want " + arguments[0] :
		document.documentElement.scrollWidth > window.innerWidth ?
		"page " + document.documentElement.scrollWidth + " px wide in a " + window.innerWidth + " px viewport" : ""`, &overflow, width), "width")
	if overflow != "" {
		br.Screenshot("overflow")
		t.Errorf("not readable at %d px: %s", width, overflow)
	}
}
