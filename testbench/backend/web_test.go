package backend

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// TestWebPageServed checks the page is static, self-contained and locked
// down: its own assets only, with the security headers, and no way for the
// script to put data into the page as HTML.
func TestWebPageServed(t *testing.T) {
	b := newBench(t, nil)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := b.hs.Client().Get(b.hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(data)
	}
	for path, ctype := range map[string]string{"/": "text/html", "/web/app.js": "text/javascript", "/web/app.css": "text/css"} {
		resp, body := get(path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("GET %s: %s, Content-Type %q, %d bytes", path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: CSP %q, X-Content-Type-Options %q", path, csp, resp.Header.Get("X-Content-Type-Options"))
		}
	}
	for _, path := range []string{"/web/", "/web/index.html", "/web/nothing.js", "/nothing"} {
		if resp, _ := get(path); resp.StatusCode != 404 {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}

	// Everything it loads is its own; data only ever goes in as text.
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(`)
	err := fs.WalkDir(webFiles, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := fs.ReadFile(webFiles, path)
		if err != nil {
			return err
		}
		// An SVG names its namespace with a URL; nothing is loaded from it.
		src = []byte(strings.ReplaceAll(string(src), `xmlns="http://www.w3.org/2000/svg"`, ""))
		if m := external.Find(src); m != nil {
			t.Errorf("%s refers to something outside the page: %q", path, m)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "style="} {
			if strings.Contains(string(src), bad) {
				t.Errorf("%s uses %s", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAdminLatestAndModel covers the two admin calls the page adds: the newest
// reading of each property of a device, and a model document by id@version.
func TestAdminLatestAndModel(t *testing.T) {
	b := newBench(t, nil)
	dev := b.register("gw1", localTH, thFingerprint("TH-100", "1.2.0"))
	if _, err := b.srv.Ingest("gw1", samples(sampleOf(1, localTH, "temperature", 21.5), sampleOf(2, localTH, "setpoint", 20),
		sampleOf(3, localTH, "temperature", 22.25))); err != nil {
		t.Fatal(err)
	}
	var latest []ReadingRecord
	b.call("GET", "/admin/devices/"+dev.DeviceID+"/latest", nil, 200, &latest)
	if len(latest) != 2 || latest[0].Property != "setpoint" || latest[1].Property != "temperature" ||
		latest[1].Value == nil || latest[1].Value.Float != 22.25 || latest[1].Seq != 3 {
		t.Fatalf("latest: %+v, want setpoint 20 and temperature 22.25 (seq 3)", latest)
	}
	other := b.register("gw1", "modbus-tcp/127.0.0.1:5020/2", thFingerprint("TH-100", "1.2.0"))
	if got := string(b.call("GET", "/admin/devices/"+other.DeviceID+"/latest", nil, 200, nil)); got != "[]\n" {
		t.Errorf("latest of a device without readings: %q, want []", got)
	}
	apiError(t, b.call("GET", "/admin/devices/dev-nope/latest", nil, 404, nil), CodeNotFound)

	var doc struct {
		ID         string `json:"id"`
		Properties []struct {
			Name, Unit string
		} `json:"properties"`
	}
	b.call("GET", "/admin/models/test-th/versions/1.0.0", nil, 200, &doc)
	if doc.ID != "test-th" || len(doc.Properties) != 2 || doc.Properties[0].Unit != "°C" {
		t.Errorf("model document: %+v", doc)
	}
	apiError(t, b.call("GET", "/admin/models/test-th/versions/9.9.9", nil, 404, nil), CodeNotFound)
}

// TestGatewayHealth: the stats' gateways say when each said hello and sent
// telemetry last, and how far it has read its inbox, with its open long-polls.
func TestGatewayHealth(t *testing.T) {
	b := newBench(t, nil)
	b.call("PUT", "/api/v1/gateways/gw1", backendclient.Hello{APIVersion: backendclient.APIVersion, Version: "1.0"}, 200, nil)
	gateway := func() GatewayRecord {
		t.Helper()
		st := b.srv.Stats()
		if len(st.Gateways) != 1 || st.Gateways[0].Inbox == nil {
			t.Fatalf("gateways: %+v", st.Gateways)
		}
		return st.Gateways[0]
	}
	g := gateway()
	if g.HelloAt.IsZero() || !g.TelemetryAt.IsZero() || g.Hello.APIVersion != backendclient.APIVersion || *g.Inbox != (InboxState{}) {
		t.Fatalf("after hello: %+v inbox %+v", g, *g.Inbox)
	}
	dev := b.register("gw1", localTH, thFingerprint("TH-900", "1.0")) // pending: no rule
	if err := b.srv.Assign(dev.DeviceID, "test-th", "1.0.0", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.srv.Ingest("gw1", samples(sampleOf(1, localTH, "temperature", 21.5))); err != nil {
		t.Fatal(err)
	}
	g = gateway()
	if g.TelemetryAt.IsZero() || g.TelemetryAt.Before(g.HelloAt) || g.Inbox.Last != 1 || !g.Inbox.PolledAt.IsZero() {
		t.Fatalf("after telemetry and an assignment: %+v inbox %+v", g, *g.Inbox)
	}

	b.inbox("gw1", 1, 0)
	g = gateway()
	if g.Inbox.Cursor != 1 || g.Inbox.PolledAt.IsZero() || g.Inbox.Waiting != 0 {
		t.Fatalf("after a poll from 1: inbox %+v", *g.Inbox)
	}
	// A long-poll open now is counted while it waits.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.srv.WaitInbox(ctx, "gw1", 1, 30*time.Second)
		done <- err
	}()
	eventually(t, 10*time.Second, "the long-poll counted", func() bool { return gateway().Inbox.Waiting == 1 })
	cancel()
	<-done
	if g := gateway(); g.Inbox.Waiting != 0 {
		t.Errorf("after the long-poll ended: inbox %+v", *g.Inbox)
	}
}
