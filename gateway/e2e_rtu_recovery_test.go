package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/testbench/backend"
)

// TestRTURecoveryAfterOutage: a unit on an RS-485 line that stops answering
// for a while (its neighbour keeps answering) goes offline, is still asked
// now and then during the outage — not on every poll, so the neighbour keeps
// its poll rate — and is online again within two poll intervals plus a second
// of answering again, however long the outage was. Before, the silent-unit
// skip and the poll backoff stacked: 20-24 s after a 10 s outage.
func TestRTURecoveryAfterOutage(t *testing.T) {
	const (
		baud     = 38400
		interval = time.Second
		outage   = 12 * time.Second
	)
	line, emu, be := startRTUBench(t, "usb-FG_RECOVER-if00", baud, 2, interval)
	cfg := testConfig(t, "gw-rtu-recovery", t.TempDir(), be.url(), fmt.Sprintf(`
  - name: rs485
    protocol: modbus-rtu
    settings:
      port: %s
      baud: %d
      units: "1-2"
      timeout: 300ms
      probeTimeout: 100ms
`, line.Path(), baud))
	startGateway(t, cfg)

	localID := func(unit int) string { return fmt.Sprintf("modbus-rtu/usb-FG_RECOVER-if00/%d", unit) }
	readSince := func(unit int, since time.Time) (time.Time, bool) {
		r, err := latest(be.srv, localID(unit), "word0")
		return r.Time, err == nil && r.Time.After(since)
	}
	begin := time.Now()
	eventually(t, 30*time.Second, "both units polled", func() error {
		for unit := 1; unit <= 2; unit++ {
			if _, ok := readSince(unit, begin); !ok {
				return fmt.Errorf("no reading of unit %d yet", unit)
			}
		}
		return nil
	})

	// The outage: unit 2 hears but does not answer.
	emu.Unit(2).SetSilent(true)
	silenced := time.Now()
	heardBefore := emu.Heard(2)
	eventually(t, 15*time.Second, "unit 2 reported offline", func() error {
		for _, e := range be.srv.Events(localID(2), 100) {
			if e.Event == "offline" && e.Time.After(silenced) {
				return nil
			}
		}
		return fmt.Errorf("no offline event yet")
	})
	// Watch when the silent unit is asked (each ask holds the line for a
	// timeout) until the outage ends: the longest gap between asks bounds how
	// late a unit that answers again is noticed.
	asks := []time.Time{time.Now()} // the gap before the first ask counts too
	for last := emu.Heard(2); time.Now().Before(silenced.Add(outage)); time.Sleep(20 * time.Millisecond) {
		if n := emu.Heard(2); n != last {
			asks, last = append(asks, time.Now()), n
		}
	}
	asks = append(asks, time.Now()) // and the one after the last
	var gap time.Duration
	for i := 1; i < len(asks); i++ {
		gap = max(gap, asks[i].Sub(asks[i-1]))
	}
	neighbour := len(readingsBetween(be.srv, localID(1), silenced, time.Now()))
	emu.Unit(2).SetSilent(false)
	answering := time.Now()
	asked := emu.Heard(2) - heardBefore

	var back time.Time
	eventually(t, 60*time.Second, "unit 2 polled again", func() error {
		var ok bool
		if back, ok = readSince(2, answering); !ok {
			return fmt.Errorf("no reading of unit 2 since it answers again")
		}
		return nil
	})
	took := back.Sub(answering)
	t.Logf("after a %v outage unit 2 was read again %v after it answered; asked %d times during the outage, at most %v apart; its neighbour was read %d times meanwhile",
		outage, took.Round(time.Millisecond), asked, gap.Round(time.Millisecond), neighbour)
	if limit := 2*interval + time.Second + 2*time.Second; gap > limit {
		t.Errorf("unit 2 was left unasked for %v during the outage, want ≤ %v", gap, limit)
	}
	// The target is 2 intervals + 1 s; the margin is for a slow, shared machine.
	if limit := 2*interval + time.Second + 3*time.Second; took > limit {
		t.Errorf("unit 2 read again %v after it answered, want ≤ %v", took, limit)
	}
	eventually(t, 10*time.Second, "unit 2 reported online again", func() error {
		for _, e := range be.srv.Events(localID(2), 100) {
			if e.Event == "online" && e.Time.After(answering) {
				return nil
			}
		}
		return fmt.Errorf("no online event yet")
	})
	// Asked now and then during the outage (each ask holds the line for a
	// timeout), never on every poll of every request.
	if asked < 4 || asked > uint64(outage/(500*time.Millisecond)) {
		t.Errorf("unit 2 was asked %d times during the %v outage, want a few (4..%d)", asked, outage, outage/(500*time.Millisecond))
	}
	if min := int(outage / interval / 2); neighbour < min {
		t.Errorf("the neighbour was read %d times during the outage, want ≥ %d", neighbour, min)
	}
}

// readingsBetween are the readings of device's word0 taken in [from, to].
func readingsBetween(b *backend.Server, device string, from, to time.Time) []backend.ReadingRecord {
	var out []backend.ReadingRecord
	for _, r := range b.Readings(device, "word0", 10000) {
		if !r.Time.Before(from) && !r.Time.After(to) {
			out = append(out, r)
		}
	}
	return out
}
