package backend

import (
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/models"
)

func TestIndexPage(t *testing.T) {
	b := newBench(t, nil)
	dev := b.register("gw1", localTH, thFingerprint("TH-100", "1.2.0"))
	evil := models.Fingerprint{Protocol: "modbus", Identity: map[string]string{"vendor": "<script>alert(1)</script>", "product": "X"}}
	b.register("gw1", "modbus-tcp/127.0.0.1:5020/9", evil)
	if _, err := b.srv.Ingest("gw1", samples(
		sampleOf(1, localTH, "temperature", 21.5), sampleOf(2, localTH, "temperature", 22.25))); err != nil {
		t.Fatal(err)
	}
	if _, err := b.srv.CreateOperation(OperationRequest{DeviceID: dev.DeviceID, Name: "reboot"}); err != nil {
		t.Fatal(err)
	}
	page := string(b.call("GET", "/", nil, 200, nil))
	for _, want := range []string{dev.DeviceID, localTH, "test-th@1.0.0", "temperature = 22.25", "reboot", "QUEUED", `http-equiv="refresh" content="5"`, "&lt;script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>", "ZgotmplZ", "temperature = 21.5"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	b.call("GET", "/nothing", nil, 404, nil)
}
