package coap_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/models"
)

const cancelYAML = `
- name: env-cancel
  listen: 127.0.0.1:0
  resources:
    - {path: /quiet, value: 1, observable: true}
    - {path: /quiet-late, value: 2, observable: true, fault: {late: 20ms}}
    - {path: /moving, value: 3, observable: true, change: {period: 50ms, step: 1, min: 0, max: 1000}}
    - {path: /moving-late, value: 4, observable: true, fault: {late: 600ms}, change: {period: 50ms, step: 1, min: 0, max: 1000}}
`

func observeGroup(path string) *models.PollGroup {
	return &models.PollGroup{Interval: 10 * time.Second, Observe: true, Plan: []coap.Read{
		{Path: path, Format: coap.FormatText, Scale: 1, Kind: models.KindFloat, Observe: true},
	}}
}

// TestObserveCancelLeavesNoObserver cancels Observe at 48 instants around
// the registration (before it is sent, while it is in flight, while the
// device sits on it, just after the answer) and shows that the device's
// observer count returns to 0 every time. /quiet and /quiet-late never
// notify, so only a deregistration (GET with Observe=1) can clear them; the
// device registers /quiet-late 20ms after the request, typically after the
// caller has gone.
func TestObserveCancelLeavesNoObserver(t *testing.T) {
	d := startDevice(t, cancelYAML, 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "timeout": "2s"}`, d.Addr()))
	cases := []struct {
		path string
		step time.Duration // cancel after try*step
	}{
		{"/quiet", 150 * time.Microsecond},
		{"/quiet-late", 1500 * time.Microsecond},
		{"/moving", 150 * time.Microsecond},
	}
	reached := map[string]int{}
	for try := range 16 {
		for _, c := range cases {
			before := d.Registrations(c.path)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- observeOn(b, ctx, d.Addr(), observeGroup(c.path), func([]models.Reading) {}, nil)
			}()
			time.Sleep(time.Duration(try) * c.step)
			cancel()
			waitReturn(t, done, context.Canceled, "ctx was cancelled")
			// A GET of the resource queues behind whatever the endpoint's
			// owner still does for this try, and at the device behind the
			// registration: once it is answered, the device has seen all.
			if _, err := pollOn(b, context.Background(), d.Addr(), observeGroup(c.path), nil); err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("try %d: %s observers back to 0 after cancelling at %s", try, c.path, time.Duration(try)*c.step)
			waitFor(t, 10*time.Second, what, func() bool { return d.Observers(c.path) == 0 })
			if d.Registrations(c.path) > before {
				reached[c.path]++
			}
		}
	}
	t.Logf("tries whose registration reached the device (of 16 each): %v", reached)
	for _, c := range cases {
		if reached[c.path] == 0 {
			t.Errorf("%s: no registration ever reached the device: the test covered nothing", c.path)
		}
	}
}

// TestObserveLostAnswerReset: a registration whose answer comes after the
// request timed out is not tracked by the adapter; its notifications are
// rejected with a reset (RFC 7641 §3.6), which ends the observation on the
// device.
func TestObserveLostAnswerReset(t *testing.T) {
	d := startDevice(t, cancelYAML, 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "timeout": "300ms"}`, d.Addr()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- observeOn(b, ctx, d.Addr(), observeGroup("/moving-late"), func([]models.Reading) {}, nil)
	}()
	waitFor(t, 10*time.Second, "the late registration reached the device", func() bool { return d.Registrations("/moving-late") >= 1 })
	cancel()
	waitReturn(t, done, context.Canceled, "ctx was cancelled")
	waitFor(t, 10*time.Second, "observer reset", func() bool { return d.Observers("/moving-late") == 0 })
}
