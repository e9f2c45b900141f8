package conform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// The wire clauses: the kit speaks the API itself, as gateway k.gwID.

// kitLocalID is the kit's synthetic device: no backend rule should know it.
const kitLocalID = "conform/kit/1"

func kitRegistration() map[string]any {
	return map[string]any{"bus": "conform", "fingerprint": map[string]any{
		"protocol": "modbus", "transport": "tcp", "address": "192.0.2.1:502/1",
		"identity": map[string]string{"vendor": "fieldgate conform kit", "product": "no such device"}}}
}

func (k *kit) devicePath(localID string) string {
	return gwPath(k.gwID) + "/devices/" + url.PathEscape(localID)
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func clauseAuth(ctx context.Context, k *kit) (string, error) {
	if k.api.token == "" {
		return "", skip("no --token given: the backend is run without one")
	}
	hello := map[string]any{"apiVersion": backendclient.APIVersion, "version": "conform", "adapters": []string{}, "buses": []any{}}
	for _, tc := range []struct{ what, token string }{{"no token", ""}, {"a wrong token", k.api.token + "-wrong"}} {
		a, err := k.api.call(ctx, http.MethodPut, gwPath(k.gwID), hello, withToken(tc.token))
		if err != nil {
			return "", err
		}
		if err := want("hello with "+tc.what, a, http.StatusUnauthorized); err != nil {
			return "", err
		}
	}
	return "401 without and with a wrong token", nil
}

func clauseHello(ctx context.Context, k *kit) (string, error) {
	hello := map[string]any{"apiVersion": backendclient.APIVersion, "version": "conform", "adapters": []string{"modbus"},
		"buses": []map[string]string{{"name": "conform", "protocol": "modbus-tcp"}}}
	a, err := k.api.call(ctx, http.MethodPut, gwPath(k.gwID), hello)
	if err != nil {
		return "", err
	}
	if err := want("hello", a, http.StatusOK, http.StatusNoContent); err != nil {
		return "", err
	}
	if a.status == http.StatusNoContent {
		return "204: plain telemetry, API 1.0", nil
	}
	var ack backendclient.HelloAck
	if err := decode("hello", a, &ack); err != nil {
		return "", err
	}
	if ack.APIVersion != "" && !strings.HasPrefix(ack.APIVersion, "1.") {
		return "", fmt.Errorf("hello answer: apiVersion: want 1.x, got %q", ack.APIVersion)
	}
	for _, e := range ack.AcceptEncoding {
		k.helloGz = k.helloGz || strings.EqualFold(e, "gzip")
	}
	v := ack.APIVersion
	if v == "" {
		v = "1.0 (not named)"
	}
	return fmt.Sprintf("API %s, acceptEncoding %v", v, ack.AcceptEncoding), nil
}

func clauseEvolution(ctx context.Context, k *kit) (string, error) {
	var errs []error
	check := func(what string, a answer, err error) {
		switch {
		case err != nil:
			errs = append(errs, err)
		case a.status == http.StatusBadRequest || a.status == http.StatusUnprocessableEntity:
			errs = append(errs, fmt.Errorf("%s with fields of a later revision: refused: %s", what, a))
		case a.status/100 != 2 && a.status != http.StatusNotFound:
			errs = append(errs, fmt.Errorf("%s with fields of a later revision: %s", what, a))
		}
	}
	hello := map[string]any{"apiVersion": "1.99", "version": "conform", "adapters": []string{"modbus"},
		"buses": []map[string]any{{"name": "conform", "protocol": "modbus-tcp", "futureBusField": 1}}, "futureField": map[string]any{"x": []int{1}}}
	a, err := k.api.call(ctx, http.MethodPut, gwPath(k.gwID), hello)
	check("hello", a, err)

	reg := kitRegistration()
	reg["futureField"] = "x"
	reg["fingerprint"].(map[string]any)["futureFingerprintField"] = map[string]int{"n": 1}
	a, err = k.api.call(ctx, http.MethodPut, k.devicePath(kitLocalID), reg)
	check("registration", a, err)

	batch := map[string]any{
		"samples":          []map[string]any{{"seq": 1000, "localId": kitLocalID, "time": now(), "quality": "good", "values": map[string]any{"t": 1.5}, "futureSampleField": "x"}},
		"events":           []map[string]any{{"seq": 1001, "localId": "gateway/" + k.gwID, "event": "conform-evolution", "time": now(), "futureEventField": true}},
		"futureBatchField": []string{"x"},
	}
	a, err = k.api.call(ctx, http.MethodPost, gwPath(k.gwID)+"/telemetry", batch)
	check("telemetry", a, err)

	st := map[string]any{"gateway": k.gwID, "status": "SUCCEEDED", "output": map[string]int{"steps": 1}, "time": now(), "futureStatusField": 1}
	a, err = k.api.call(ctx, http.MethodPut, "/api/v1/operations/conform-evolution-"+randHex(), st)
	check("operation report (unknown id: 404 is fine, 400 is not)", a, err)
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return "hello, registration, telemetry and an operation report with unknown fields: not refused", nil
}

func (k *kit) register(ctx context.Context) (backendclient.RegistrationResult, answer, error) {
	var res backendclient.RegistrationResult
	a, err := k.api.call(ctx, http.MethodPut, k.devicePath(kitLocalID), kitRegistration())
	if err != nil {
		return res, a, err
	}
	if err := want("registration", a, http.StatusOK); err != nil {
		return res, a, err
	}
	return res, a, decode("registration", a, &res)
}

func clauseRegisterAnswer(ctx context.Context, k *kit) (string, error) {
	res, a, err := k.register(ctx)
	if err != nil {
		return "", err
	}
	if err := res.Validate(); err != nil {
		return "", fmt.Errorf("registration answer %s: %w", a, err)
	}
	return "answer " + res.Status, nil
}

func clauseRegisterRepeat(ctx context.Context, k *kit) (string, error) {
	first, a1, err := k.register(ctx)
	if err != nil {
		return "", err
	}
	second, a2, err := k.register(ctx)
	if err != nil {
		return "", err
	}
	// retryAfter may count down; the decision may not change.
	first.RetryAfter, second.RetryAfter = 0, 0
	if !reflect.DeepEqual(first, second) {
		return "", fmt.Errorf("the same fingerprint twice: first %s, then %s", a1, a2)
	}
	return "twice " + first.Status, nil
}

func clauseInboxEmpty(ctx context.Context, k *kit) (string, error) {
	const after = 1 << 40 // beyond anything the backend holds for this fresh gateway
	a, err := k.api.call(ctx, http.MethodGet, fmt.Sprintf("%s/inbox?after=%d&wait=1", gwPath(k.gwID), after), nil)
	if err != nil {
		return "", err
	}
	if err := want("inbox", a, http.StatusOK); err != nil {
		return "", err
	}
	var page backendclient.InboxPage
	if err := decode("inbox", a, &page); err != nil {
		return "", err
	}
	if len(page.Items) != 0 || page.Cursor != after {
		return "", fmt.Errorf("inbox after %d of a gateway with nothing queued: want no items and cursor %d, got %s", after, after, a)
	}
	return "", nil
}

func clauseInboxWaitClamp(ctx context.Context, k *kit) (string, error) {
	// A backend that takes the wait is still waiting after a few seconds (or
	// answers 200); one that refuses it answers at once.
	a, err := k.api.call(ctx, http.MethodGet, fmt.Sprintf("%s/inbox?after=%d&wait=600", gwPath(k.gwID), int64(1)<<40), nil, withTimeout(3*time.Second))
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return "still waiting after 3 s", nil
	}
	if err != nil {
		return "", err
	}
	if err := want("inbox with wait=600", a, http.StatusOK); err != nil {
		return "", err
	}
	return "answered 200", nil
}

func eventBatch(gw string, seqs ...int) map[string]any {
	var evs []map[string]any
	for _, s := range seqs {
		evs = append(evs, map[string]any{"seq": s, "localId": "gateway/" + gw, "event": "conform-dedup", "detail": fmt.Sprint(s), "time": now()})
	}
	return map[string]any{"events": evs}
}

func (k *kit) sendBatch(ctx context.Context, batch map[string]any, opts ...callOpt) (backendclient.TelemetryAck, error) {
	var ack backendclient.TelemetryAck
	a, err := k.api.call(ctx, http.MethodPost, gwPath(k.gwID)+"/telemetry", batch, opts...)
	if err != nil {
		return ack, err
	}
	if err := want("telemetry", a, http.StatusOK); err != nil {
		return ack, err
	}
	return ack, decode("telemetry", a, &ack)
}

func clauseTelemetryDedup(ctx context.Context, k *kit) (string, error) {
	ack, err := k.sendBatch(ctx, eventBatch(k.gwID, 1, 2))
	if err != nil {
		return "", err
	}
	if ack.Accepted != 2 || ack.Duplicates != 0 {
		return "", fmt.Errorf("first batch (seq 1, 2 of a fresh gateway): want accepted 2, duplicates 0, got %+v", ack)
	}
	ack, err = k.sendBatch(ctx, eventBatch(k.gwID, 2, 3))
	if err != nil {
		return "", err
	}
	if ack.Accepted != 1 || ack.Duplicates != 1 {
		return "", fmt.Errorf("second batch (seq 2 again, 3 new): want accepted 1, duplicates 1, got %+v", ack)
	}
	return "", nil
}

func clauseTelemetryGzip(ctx context.Context, k *kit) (string, error) {
	if !k.helloGz {
		return "", skip("the hello answer does not list gzip")
	}
	ack, err := k.sendBatch(ctx, eventBatch(k.gwID, 10, 11), withGzip())
	if err != nil {
		return "", err
	}
	if ack.Accepted+ack.Duplicates != 2 {
		return "", fmt.Errorf("gzip batch of 2: got %+v", ack)
	}
	return "", nil
}

func clauseOperationUnknown(ctx context.Context, k *kit) (string, error) {
	st := map[string]any{"gateway": k.gwID, "status": "SUCCEEDED", "output": map[string]int{"steps": 1}, "time": now()}
	a, err := k.api.call(ctx, http.MethodPut, "/api/v1/operations/conform-unknown-"+randHex(), st)
	if err != nil {
		return "", err
	}
	return "", want("report for an unknown operation id", a, http.StatusNotFound)
}

func randHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
