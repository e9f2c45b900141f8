package backend

import (
	"testing"

	"github.com/fieldgate/fieldgate/backendclient"
)

func TestRestartKeepsState(t *testing.T) {
	b := newBench(t, nil)
	dev := b.register("gw1", localTH, thFingerprint("TH-100", "1.2.0"))
	opID, err := b.srv.CreateOperation(OperationRequest{DeviceID: dev.DeviceID, Name: "reboot"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.srv.Ingest("gw1", samples(sampleOf(1, localTH, "temperature", 21.5))); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.AddRule(Rule{Name: "late", Match: map[string]string{"identity.vendor": "Late"}, Reject: "late"}); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Assign(dev.DeviceID, "test-th", "1.0.0", 100); err != nil { // inbox seq 2
		t.Fatal(err)
	}

	b.restart()

	if d, ok := b.srv.Device(dev.DeviceID); !ok || d.Status != backendclient.StatusAssigned || d.Instance.Revision != 2 {
		t.Fatalf("device after restart: %+v (found %v)", d, ok)
	}
	if op, ok := b.srv.Operation(opID); !ok || op.Status != backendclient.OpQueued {
		t.Fatalf("operation after restart: %+v (found %v)", op, ok)
	}
	if rs := b.srv.Readings(localTH, "temperature", 10); len(rs) != 1 || rs[0].Value.Float != 21.5 {
		t.Fatalf("readings after restart: %+v", rs)
	}
	p := b.inbox("gw1", 0, 0)
	if len(p.Items) != 2 || p.Items[0].Operation == nil || p.Items[0].Operation.ID != opID || p.Items[1].Assignment == nil {
		t.Fatalf("inbox after restart: %+v", p)
	}
	// The de-duplication set survived, and the per-gateway inbox seq continues.
	ack, err := b.srv.Ingest("gw1", samples(sampleOf(1, localTH, "temperature", 21.5)))
	if err != nil || ack.Duplicates != 1 {
		t.Fatalf("ack %+v, %v", ack, err)
	}
	if _, err := b.srv.CreateOperation(OperationRequest{DeviceID: dev.DeviceID, Name: "reboot"}); err != nil {
		t.Fatal(err)
	}
	if p := b.inbox("gw1", 2, 0); len(p.Items) != 1 || p.Items[0].Seq != 3 || p.Cursor != 3 {
		t.Fatalf("inbox seq did not continue: %+v", p)
	}
	// Rules added at run time are persisted; config rules are merged by name.
	var rules []Rule
	b.call("GET", "/admin/rules", nil, 200, &rules)
	if len(rules) != 4 || rules[0].Name != "acme" || rules[3].Name != "late" {
		t.Fatalf("rules after restart: %+v", rules)
	}
	b.close()
	b.cfg.Rules = []Rule{{Name: "late", Priority: 50, Match: map[string]string{"identity.vendor": "ACME Controls"}, Reject: "overridden"}}
	b.open()
	if r := b.register("gw1", "x/1", thFingerprint("TH-100", "1")); r.Status != backendclient.StatusRejected || r.Reason != "overridden" {
		t.Fatalf("config rule did not replace the persisted one by name: %+v", r)
	}
}
