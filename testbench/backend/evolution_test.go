package backend

import (
	"net/url"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/backendclient"
)

// TestGatewayAPIIgnoresUnknownFields: the evolution rule. A gateway of a later
// API revision may add optional fields anywhere in what it sends; every
// /api/v1 call still succeeds and does what it did. The admin API, typed by
// people, still names an unknown field.
func TestGatewayAPIIgnoresUnknownFields(t *testing.T) {
	b := newBench(t, nil)
	var ack backendclient.HelloAck
	b.call("PUT", "/api/v1/gateways/gw1", `{"apiVersion":"1.9","version":"x","adapters":[],"buses":[{"name":"a","protocol":"modbus","speed":9}],"colour":"red"}`, 200, &ack)
	if ack.APIVersion != backendclient.APIVersion {
		t.Errorf("hello answer apiVersion %q, want %q", ack.APIVersion, backendclient.APIVersion)
	}
	path := "/api/v1/gateways/gw1/devices/" + url.PathEscape(localTH)
	var res backendclient.RegistrationResult
	b.call("PUT", path, `{"fingerprint":{"protocol":"modbus","identity":{"vendor":"ACME Controls","product":"TH-100"},"future":{"x":1}},"bus":"a","site":"roof"}`, 200, &res)
	if res.Status != backendclient.StatusAssigned {
		t.Fatalf("registration with unknown fields: %+v, want assigned", res)
	}
	var tack backendclient.TelemetryAck
	b.call("POST", "/api/v1/gateways/gw1/telemetry", `{"samples":[{"seq":1,"localId":"a","time":"2026-01-01T00:00:00Z","quality":"good","values":{"t":1},"unit":"x"}],`+
		`"events":[{"seq":2,"localId":"a","event":"x","time":"2026-01-01T00:00:00Z","severity":3}],"compressed":false}`, 200, &tack)
	if tack.Accepted != 2 {
		t.Errorf("telemetry with unknown fields: %+v, want 2 accepted", tack)
	}
	id, err := b.srv.CreateOperation(OperationRequest{DeviceID: res.DeviceID, Name: "write"})
	if err != nil {
		t.Fatal(err)
	}
	var oack backendclient.OperationAck
	b.call("PUT", "/api/v1/operations/"+id, `{"gateway":"gw1","status":"SUCCEEDED","time":"2026-01-01T00:00:00Z","duration":12}`, 200, &oack)
	if oack.Status != backendclient.OpSucceeded {
		t.Errorf("report with an unknown field: %+v", oack)
	}
	e := apiError(t, b.call("POST", "/admin/operations", `{"deviceId":"`+res.DeviceID+`","name":"write","nmae":"x"}`, 400, nil), CodeBadRequest)
	if !strings.Contains(e.Message, `"nmae"`) {
		t.Errorf("admin API: unknown field not named: %s", e.Message)
	}
}
