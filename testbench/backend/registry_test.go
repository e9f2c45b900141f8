package backend

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

const localTH = "modbus-tcp/127.0.0.1:5020/1" // has '/' and ':' — sent escaped as one segment

func TestRegistration(t *testing.T) {
	b := newBench(t, nil)

	// Assigned by the regex rule; the escaped local id arrives whole.
	res := b.register("gw1", localTH, thFingerprint("TH-100", "1.2.0"))
	if res.Status != backendclient.StatusAssigned || res.Instance == nil {
		t.Fatalf("got %+v, want assigned", res)
	}
	want := backendclient.Instance{Model: "test-th", Version: "1.0.0", Revision: 1, PollIntervalMs: 500}
	if res.Instance.Model != want.Model || res.Instance.Version != want.Version || res.Instance.Revision != 1 || res.Instance.PollIntervalMs != 500 {
		t.Fatalf("instance %+v, want %+v", *res.Instance, want)
	}
	if res.DeviceID != DeviceID("gw1", localTH) || !strings.HasPrefix(res.DeviceID, "dev-") {
		t.Fatalf("device id %q", res.DeviceID)
	}
	d, ok := b.srv.Device(res.DeviceID)
	if !ok || d.LocalID != localTH || d.Gateway != "gw1" || d.Bus != "tcp0" {
		t.Fatalf("stored device %+v (found %v): local id not unescaped whole", d, ok)
	}

	// The same fingerprint gets the same answer, revision unchanged.
	again := b.register("gw1", localTH, thFingerprint("TH-100", "1.2.0"))
	if again.Status != res.Status || !reflect.DeepEqual(again.Instance, res.Instance) {
		t.Fatalf("repeat gave %+v, first %+v", again, res)
	}

	// A regex that does not match: pending with retryAfter.
	pend := b.register("gw1", "modbus-tcp/127.0.0.1:5020/2", thFingerprint("TH-200", "1.0"))
	if pend.Status != backendclient.StatusPending || pend.RetryAfter != 30 || pend.Instance != nil || pend.DeviceID == "" {
		t.Fatalf("got %+v, want pending with retryAfter 30", pend)
	}
	// A rule needs every field: vendor alone does not match the voltix rule.
	fp := models.Fingerprint{Protocol: "modbus", Identity: map[string]string{"vendor": "Voltix"}}
	if r := b.register("gw1", "modbus-tcp/127.0.0.1:5021/1", fp); r.Status != backendclient.StatusPending {
		t.Fatalf("voltix without product: %+v, want pending", r)
	}
	fp.Identity["product"] = "PM-3"
	if r := b.register("gw1", "modbus-tcp/127.0.0.1:5021/2", fp); r.Status != backendclient.StatusAssigned || r.Instance.Model != "test-pm" {
		t.Fatalf("voltix PM-3: %+v, want test-pm", r)
	}
	// Rejected, with the reason.
	evil := models.Fingerprint{Protocol: "modbus", Identity: map[string]string{"vendor": "Evil Corp"}}
	rej := b.register("gw1", "modbus-tcp/127.0.0.1:5022/1", evil)
	if rej.Status != backendclient.StatusRejected || rej.Reason != "not allowed here" {
		t.Fatalf("got %+v, want rejected", rej)
	}

	// A changed fingerprint (new firmware) runs the rules again: new revision.
	changed := b.register("gw1", localTH, thFingerprint("TH-100", "1.3.0"))
	if changed.Status != backendclient.StatusAssigned || changed.Instance.Revision != 2 {
		t.Fatalf("changed fingerprint: %+v, want assigned revision 2", changed)
	}
	// ... and one that no rule matches any more leaves the device pending.
	if r := b.register("gw1", localTH, thFingerprint("XX-1", "1.3.0")); r.Status != backendclient.StatusPending {
		t.Fatalf("unmatched fingerprint: %+v, want pending", r)
	}
	// Back to a matching one: the revision keeps counting.
	if r := b.register("gw1", localTH, thFingerprint("TH-100", "1.3.0")); r.Instance == nil || r.Instance.Revision != 3 {
		t.Fatalf("re-matched: %+v, want revision 3", r)
	}

	// The same local id on another gateway is another device.
	other := b.register("gw2", localTH, thFingerprint("TH-100", "1.2.0"))
	if other.DeviceID == res.DeviceID {
		t.Fatal("two gateways' devices share an id")
	}

	var devs []DeviceRecord
	b.call("GET", "/admin/devices", nil, 200, &devs)
	if len(devs) != 6 {
		t.Fatalf("admin lists %d devices, want 6", len(devs))
	}
}

func TestRegistrationBadRequests(t *testing.T) {
	b := newBench(t, nil)
	path := "/api/v1/gateways/gw1/devices/" + url.PathEscape(localTH)
	e := apiError(t, b.call("PUT", path, `{"fingerprint":{"protocol":7}}`, 400, nil), CodeBadRequest)
	if !strings.Contains(e.Message, "fingerprint.protocol") {
		t.Errorf("wrong type not named with its path: %s", e.Message)
	}
	e = apiError(t, b.call("PUT", path, `{"fingerprint":{}}`, 400, nil), CodeBadRequest)
	if !strings.Contains(e.Message, "fingerprint.protocol") {
		t.Errorf("missing protocol not named: %s", e.Message)
	}
	apiError(t, b.call("PUT", path, `{"fingerprint":{"protocol":"modbus"}} {}`, 400, nil), CodeBadRequest)
	apiError(t, b.call("PUT", path, `{"fingerprint":`, 400, nil), CodeBadRequest)
	apiError(t, b.call("PUT", path, strings.Repeat(" ", MaxBodyBytes+1), 413, nil), CodeTooLarge)
	apiError(t, b.call("GET", "/api/v1/nothing", nil, 404, nil), CodeNotFound)
}

func TestAdminAssignmentAndReject(t *testing.T) {
	b := newBench(t, nil)
	pend := b.register("gw1", "serial/usb-1", thFingerprint("ZZ-9", "1"))
	if pend.Status != backendclient.StatusPending {
		t.Fatalf("got %+v", pend)
	}
	path := "/admin/devices/" + pend.DeviceID + "/assignment"
	apiError(t, b.call("POST", path, Assignment{Model: "nope", Version: "1"}, 400, nil), CodeBadRequest)
	apiError(t, b.call("POST", "/admin/devices/dev-unknown/assignment", Assignment{Model: "test-th", Version: "1.0.0"}, 404, nil), CodeNotFound)
	apiError(t, b.call("POST", path, Assignment{Model: "test-th", Version: "1.0.0", Reject: "x"}, 400, nil), CodeBadRequest)

	var d DeviceRecord
	b.call("POST", path, Assignment{Model: "test-th", Version: "1.0.0", PollIntervalMs: 250}, 200, &d)
	if d.Status != backendclient.StatusAssigned || d.Instance == nil || d.Instance.Revision != 1 {
		t.Fatalf("after assignment: %+v", d)
	}
	// The registration answer follows the admin's decision.
	if r := b.register("gw1", "serial/usb-1", thFingerprint("ZZ-9", "1")); r.Status != backendclient.StatusAssigned || r.Instance.PollIntervalMs != 250 {
		t.Fatalf("registration after assignment: %+v", r)
	}
	b.call("POST", path, Assignment{Model: "test-pm", Version: "2.0.0"}, 200, &d)
	if d.Instance.Revision != 2 || d.Instance.Model != "test-pm" {
		t.Fatalf("re-assignment: %+v", d.Instance)
	}
	b.call("POST", path, Assignment{Reject: "decommissioned"}, 200, &d)
	if d.Status != backendclient.StatusRejected || d.Instance != nil || d.Reason != "decommissioned" {
		t.Fatalf("after reject: %+v", d)
	}

	p := b.inbox("gw1", 0, 0)
	if len(p.Items) != 3 || p.Cursor != 3 {
		t.Fatalf("inbox %+v, want 3 items", p)
	}
	kinds := []string{p.Items[0].Kind, p.Items[1].Kind, p.Items[2].Kind}
	if kinds[0] != backendclient.KindAssignment || kinds[1] != backendclient.KindAssignment || kinds[2] != backendclient.KindUnassignment {
		t.Fatalf("kinds %v", kinds)
	}
	if a := p.Items[1].Assignment; a == nil || a.LocalID != "serial/usb-1" || a.Instance.Revision != 2 || a.DeviceID != pend.DeviceID {
		t.Fatalf("assignment item %+v", p.Items[1])
	}
	if u := p.Items[2].Unassignment; u == nil || u.Reason != "decommissioned" {
		t.Fatalf("unassignment item %+v", p.Items[2])
	}
	// Another gateway's inbox is separate.
	if p := b.inbox("gw2", 0, 0); len(p.Items) != 0 {
		t.Fatalf("gw2 inbox %+v", p)
	}
}

func TestAuth(t *testing.T) {
	b := newBench(t, func(c *Config) { c.Token = "s3cret" })
	body := backendclient.Hello{Version: "1.0", Adapters: []string{"modbus-tcp"}}
	e := apiError(t, b.call("PUT", "/api/v1/gateways/gw1", body, 401, nil), CodeUnauthorized)
	if !strings.Contains(e.Message, "missing") {
		t.Errorf("message %q", e.Message)
	}
	apiError(t, b.callWith("PUT", "/api/v1/gateways/gw1", body, map[string][]string{"Authorization": {"Bearer nope"}}, 401, nil), CodeUnauthorized)
	var ack backendclient.HelloAck
	b.callWith("PUT", "/api/v1/gateways/gw1", body, map[string][]string{"Authorization": {"Bearer s3cret"}}, 200, &ack)
	if ack.Gateway != "gw1" || ack.Time.IsZero() {
		t.Fatalf("ack %+v", ack)
	}
	// The admin API needs no token.
	var st Stats
	b.call("GET", "/admin/stats", nil, 200, &st)
	if len(st.Gateways) != 1 || st.Gateways[0].Hello == nil || st.Gateways[0].Hello.Version != "1.0" {
		t.Fatalf("stats %+v", st)
	}
}
