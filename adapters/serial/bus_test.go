package serial

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/textemu"
)

func TestDiscoverByProbeAnswer(t *testing.T) {
	spec := tx9(t)
	spec.Commands = append(spec.Commands, textemu.CommandSpec{Request: "ID?", NoReply: true}) // a probe it ignores
	dev := startDevice(t, spec)
	b := openBus(t, dev, `, "probes": ["*IDN?", "ID?", "VER"], "probeTimeout": "200ms", "hint": "bench"`, nil)
	ctx := ctxT(t)
	var cands []adapters.Candidate
	waitFor(t, "device discovered", func() error {
		var err error
		if cands, err = b.Discover(ctx); err != nil || len(cands) == 0 {
			return errors.Join(err, errors.New("no candidate"))
		}
		return nil
	})
	c := cands[0]
	if len(cands) != 1 || c.LocalID != "serial/acme-tx9" || c.Target != "acme-tx9" {
		t.Fatalf("candidates %+v", cands)
	}
	fp := c.Fingerprint
	if fp.Protocol != "serial" || fp.Transport != "rs232" || fp.Address != "acme-tx9" || fp.Hint != "bench" || fp.USB != nil {
		t.Errorf("fingerprint %+v", fp)
	}
	want := []models.Probe{{Request: "*IDN?", Answer: "ACME,TX-9,1234,1.0"}, {Request: "VER", Answer: "1.0"}}
	if len(fp.Probes) != 2 || fp.Probes[0] != want[0] || fp.Probes[1] != want[1] {
		t.Errorf("probes %+v, want %+v (ID? unanswered, left out)", fp.Probes, want)
	}
	if v, ok := fp.Field("probe.*IDN?"); !ok || v != "ACME,TX-9,1234,1.0" {
		t.Errorf("probe.*IDN? = %q %v", v, ok)
	}
	if n := dev.Counters().Commands["ID?"]; n != 1 {
		t.Errorf("ID? received %d times, want 1", n)
	}

	// A silent device is not found.
	dev.SetFaults(textemu.Faults{Silent: true})
	if cands, err := b.Discover(ctx); err != nil || len(cands) != 0 {
		t.Errorf("silent device: %+v, %v", cands, err)
	}
}

func TestPollDecodesDeviceValues(t *testing.T) {
	dev := startDevice(t, tx9(t))
	b := openBus(t, dev, "", nil)
	c := tx9Model(t)
	ctx := ctxT(t)
	var got map[string]models.Reading
	waitFor(t, "first poll", func() (err error) { got, err = pollAll(ctx, b, c); return err })
	hum, _ := dev.Value("hum")
	checks := []struct {
		prop string
		want models.Value
	}{
		{"temperature", models.FloatValue(21.5)},
		{"setpoint", models.FloatValue(20)},
		{"heating", models.BoolValue(true)},
		{"label", models.StringValue("lab")},
	}
	for _, ck := range checks {
		r, ok := got[ck.prop]
		if !ok || !r.Value.Equal(ck.want) || r.Quality != models.QualityGood {
			t.Errorf("%s = %+v, want %v", ck.prop, r, ck.want)
		}
	}
	if r := got["humidity"]; r.Value.Kind != models.KindInt || math.Abs(float64(r.Value.Int)-hum) > 2 {
		t.Errorf("humidity = %v, device drifts at %v", r.Value, hum)
	}
	if err := dev.SetValue("temp", -3.25); err != nil {
		t.Fatal(err)
	}
	got, err := pollAll(ctx, b, c)
	if err != nil || !got["temperature"].Value.Equal(models.FloatValue(-3.2)) {
		t.Errorf("after change: %v, %v (want -3.2: %%.1f of -3.25)", got["temperature"].Value, err)
	}
}

func TestExecuteCommandWithArgument(t *testing.T) {
	dev := startDevice(t, tx9(t))
	b := openBus(t, dev, "", nil)
	c := tx9Model(t)
	ctx := ctxT(t)
	act, err := c.Check("setSetpoint", json.RawMessage(`{"sp": 23.5}`))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "operation executed", func() error { return b.Execute(ctx, b.portID, act) })
	if v, _ := dev.Value("sp"); v != 23.5 {
		t.Errorf("device sp = %v, want 23.5", v)
	}
	act, err = c.Check(models.WriteOperation, json.RawMessage(`{"setpoint": 7}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Execute(ctx, b.portID, act); err != nil {
		t.Fatal(err)
	}
	if v, _ := dev.Value("sp"); v != 7 {
		t.Errorf("device sp = %v after write, want 7", v)
	}
	before := dev.Counters()
	act, _ = c.Check("reboot", json.RawMessage(`{}`))
	if err := b.Execute(ctx, b.portID, act); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reboot", func() error {
		if v, _ := dev.Value("sp"); v != 20 || dev.Counters().Reboots != before.Reboots+1 {
			return errors.New("not rebooted")
		}
		return nil
	})
	// A command without acknowledgement succeeds once written.
	act, _ = c.Check("silentSet", json.RawMessage(`{"sp": 11}`))
	if err := b.Execute(ctx, b.portID, act); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "silent set", func() error {
		if v, _ := dev.Value("sp"); v != 11 {
			return errors.New("sp not 11")
		}
		return nil
	})
}

func TestExecuteAckMismatch(t *testing.T) {
	dev := startDevice(t, tx9(t))
	b := openBus(t, dev, "", nil)
	c := tx9Model(t)
	act, err := c.Check(models.WriteOperation, json.RawMessage(`{"label": "kitchen"}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	waitFor(t, "port up", func() error { _, err := pollAll(ctx, b, c); return err })
	err = b.Execute(ctx, b.portID, act)
	if !errors.Is(err, adapters.ErrBadReply) || !strings.Contains(err.Error(), `reply "LABEL=kitchen" does not match the expected acknowledgement ^LABEL=OK$`) {
		t.Fatalf("err = %v", err)
	}
}

func TestExecuteRefusesControlCharacters(t *testing.T) {
	dev := startDevice(t, tx9(t))
	b := openBus(t, dev, "", nil)
	ctx := ctxT(t)
	waitFor(t, "port up", func() error { _, err := b.transact(ctx, false, []byte("VER\r\n"), true, time.Second, nil); return err })
	before := dev.Counters().Received
	act := &models.Action{Name: "forged", Plan: []Action{
		{Command: []byte("SP 1\r\n"), Timeout: time.Second},
		{Command: []byte("SP 21\r\nREBOOT\r\n"), Timeout: time.Second},
	}}
	err := b.Execute(ctx, b.portID, act)
	if err == nil || !strings.Contains(err.Error(), `forged step 1: command "SP 21\r\nREBOOT\r\n" holds a control character`) {
		t.Fatalf("err = %v", err)
	}
	if got := dev.Counters().Received; got != before {
		t.Errorf("device received %d lines, want none (nothing sent)", got-before)
	}
}

func TestUnknownTarget(t *testing.T) {
	dev := startDevice(t, tx9(t))
	b := openBus(t, dev, "", nil)
	c := tx9Model(t)
	_, err := b.Poll(ctxT(t), "other", &c.Groups[0], nil)
	if !errors.Is(err, adapters.ErrUnknownTarget) {
		t.Errorf("poll: %v", err)
	}
	if err := b.Execute(ctxT(t), "other", &models.Action{}); !errors.Is(err, adapters.ErrUnknownTarget) {
		t.Errorf("execute: %v", err)
	}
}

func TestFaultsThenRecovery(t *testing.T) {
	dev := startDevice(t, tx9(t))
	b := openBus(t, dev, "", nil)
	c := tx9Model(t)
	ctx := ctxT(t)
	waitFor(t, "port up", func() error { _, err := pollAll(ctx, b, c); return err })
	cases := []struct {
		fault textemu.Faults
		is    error
		text  string
		sent  uint64 // bytes the device sends for the failed poll
	}{
		{textemu.Faults{Silent: true}, adapters.ErrTimeout, "device did not answer", 0},
		{textemu.Faults{Garbage: true}, adapters.ErrBadReply, `reply "\x00\xff#\x11garbage\x13\x7f" does not match`, 14},
		{textemu.Faults{Truncate: true}, adapters.ErrTimeout, `incomplete reply "T=2" without the terminator "\r\n"`, 3},
		{textemu.Faults{Late: 800 * time.Millisecond}, adapters.ErrTimeout, "device did not answer", 8},
	}
	temp := &models.PollGroup{Plan: groupReads(c.Groups[0])[:1]}
	if c.Properties[groupReads(*temp)[0].Property].Name != "temperature" {
		t.Fatalf("first read is %s", c.Properties[groupReads(*temp)[0].Property].Name)
	}
	for _, tc := range cases {
		dev.SetFaults(tc.fault)
		tx := dev.Line().Stats().TxBytes
		start := time.Now()
		_, err := b.Poll(ctx, b.portID, temp, nil)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%+v: err = %v, want %v containing %q", tc.fault, err, tc.is, tc.text)
		}
		t.Logf("%+v: failed after %s", tc.fault, time.Since(start).Round(time.Millisecond))
		dev.SetFaults(textemu.Faults{})
		// Whatever the device still sends for the failed poll is stale by
		// the next one, which must discard it.
		waitFor(t, "device done with the failed poll", func() error {
			if got := dev.Line().Stats().TxBytes - tx; got < tc.sent {
				return fmt.Errorf("device sent %d of %d bytes", got, tc.sent)
			}
			return nil
		})
		rs, err := b.Poll(ctx, b.portID, temp, nil)
		if err != nil || len(rs) != 1 || !rs[0].Value.Equal(models.FloatValue(21.5)) {
			t.Errorf("after %+v: %+v, %v; want 21.5", tc.fault, rs, err)
		}
	}
}

// The tail of an earlier reply's terminator that reaches the port only after
// the transaction flushed its input (a late reply's last byte on a loaded
// pty) is not the start of the next reply.
func TestReplyAfterTerminatorTail(t *testing.T) {
	dev := startDevice(t, tx9(t))
	b := openBus(t, dev, "", nil)
	c := tx9Model(t)
	ctx := ctxT(t)
	waitFor(t, "port up", func() error { _, err := pollAll(ctx, b, c); return err })
	temp := &models.PollGroup{Plan: groupReads(c.Groups[0])[:1]}
	for _, lead := range []string{"\n", "\n\n"} {
		dev.SetFaults(textemu.Faults{Lead: lead})
		rs, err := b.Poll(ctx, b.portID, temp, nil)
		if err != nil || len(rs) != 1 || !rs[0].Value.Equal(models.FloatValue(21.5)) {
			t.Errorf("reply led by %q: %+v, %v; want 21.5", lead, rs, err)
		}
	}
	// A whole terminator first is an empty reply, as before: only a tail of
	// one cannot be a reply.
	dev.SetFaults(textemu.Faults{Lead: "\r\n"})
	if _, err := b.Poll(ctx, b.portID, temp, nil); !errors.Is(err, adapters.ErrBadReply) {
		t.Errorf("reply led by a whole terminator: %v, want the empty reply refused", err)
	}
}

func TestTrimTerminatorTail(t *testing.T) {
	for _, tc := range []struct {
		buf, end, want string
		started        bool
	}{
		{"\nT=1", "\r\n", "T=1", true},
		{"\n", "\r\n", "", false},
		{"\r\nT", "\r\n", "\r\nT", true},
		{"T=1\r", "\r\n", "T=1\r", true},
		{"\n", "\r\n>", "\n", false},
		{"\n>OK", "\r\n>", "OK", true},
		{">OK", "\r\n>", "OK", true},
		{"\nOK", "\n", "\nOK", true},
	} {
		got, started := trimTerminatorTail([]byte(tc.buf), []byte(tc.end))
		if string(got) != tc.want || started != tc.started {
			t.Errorf("trimTerminatorTail(%q, %q) = %q, %v; want %q, %v", tc.buf, tc.end, got, started, tc.want, tc.started)
		}
	}
}

func TestUnplugReplugResumes(t *testing.T) {
	dev := startDevice(t, tx9(t))
	ev := &linkEvents{}
	b := openBus(t, dev, "", ev)
	c := tx9Model(t)
	ctx := ctxT(t)
	link := "port " + dev.Line().Path()
	waitFor(t, "port up", func() error { _, err := pollAll(ctx, b, c); return err })
	if !ev.has(link + " up=true") {
		t.Errorf("OnLink events %v lack up", ev.list)
	}
	for cycle := range 2 {
		if err := dev.Line().Unplug(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "link down", func() error {
			_, err := pollAll(ctx, b, c)
			if !errors.Is(err, adapters.ErrLinkDown) {
				return errors.Join(errors.New("poll not ErrLinkDown"), err)
			}
			return nil
		})
		if !ev.has(link + " up=false") {
			t.Errorf("cycle %d: OnLink events %v lack down", cycle, ev.list)
		}
		if err := dev.Line().Replug(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitFor(t, "resumed", func() error { _, err := pollAll(ctx, b, c); return err })
		t.Logf("cycle %d: polls resumed %s after replug", cycle, time.Since(start).Round(time.Millisecond))
	}
}

func TestMinGapKept(t *testing.T) {
	dev := startDevice(t, tx9(t))
	b := openBus(t, dev, `, "minGap": "40ms"`, nil)
	c := tx9Model(t)
	ctx := ctxT(t)
	waitFor(t, "port up", func() error { _, err := pollAll(ctx, b, c); return err })
	start := time.Now()
	const n = 5
	for range n {
		if _, err := b.Poll(ctx, b.portID, &models.PollGroup{Plan: groupReads(c.Groups[0])[:1]}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Each of the n commands waits out the gap after the previous reply.
	if el := time.Since(start); el < n*40*time.Millisecond {
		t.Errorf("%d commands took %s, less than %d gaps of 40ms", n, el, n)
	}
}

// BenchmarkPollTransaction measures one poll command/reply round trip with
// the device at 9600 baud (wire pacing) and the turnaround of the spec.
func BenchmarkPollTransaction(b *testing.B) {
	spec := tx9(b)
	dev := startDevice(b, spec)
	bs := openBus(b, dev, "", nil)
	c := tx9Model(b)
	ctx := ctxT(b)
	group := &models.PollGroup{Plan: groupReads(c.Groups[0])[:1]}
	waitFor(b, "port up", func() error { _, err := bs.Poll(ctx, bs.portID, group, nil); return err })
	b.ResetTimer()
	for b.Loop() {
		if _, err := bs.Poll(ctx, bs.portID, group, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/txn")
	// The floor: the reply "T=21.5\r\n" paced at 9600 baud (11-bit characters
	// on the emulated wire) after the device's turnaround.
	ideal := 8*dev.Line().CharTime() + spec.Turnaround
	b.ReportMetric(float64(ideal.Microseconds())/1000, "ideal-ms/txn")
}

// TestModelFramingWins: the model's reply terminator is used, whatever the bus
// settings say (they serve discovery): a device that ends its replies with CR
// alone is polled with the default bus settings.
func TestModelFramingWins(t *testing.T) {
	spec := tx9(t)
	spec.ReplyTerminator = "\r"
	dev := startDevice(t, spec)
	b := openBus(t, dev, "", nil)
	src, err := os.ReadFile("testdata/acme-tx9.json")
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.Replace(src, []byte(`"serial": {"terminator": "\r\n"}`), []byte(`"serial": {"terminator": "\r\n", "replyTerminator": "\r"}`), 1)
	c, err := models.CompileSource(src, NewText().(models.Binder))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	var got map[string]models.Reading
	waitFor(t, "poll with the model's framing", func() (err error) { got, err = pollAll(ctx, b, c); return err })
	if !got["temperature"].Value.Equal(models.FloatValue(21.5)) {
		t.Errorf("temperature %v", got["temperature"].Value)
	}
	// The tx9 model as it is (replies end in CR LF) times out on this device.
	if _, err := pollAll(ctx, b, tx9Model(t)); !errors.Is(err, adapters.ErrTimeout) {
		t.Errorf("CR LF framing on a CR device: %v, want a timeout", err)
	}
}

// The device is attached once: a target naming another port fails then; the
// attached device polls.
func TestAttach(t *testing.T) {
	dev := startDevice(t, tx9(t))
	b := openBus(t, dev, "", nil)
	if _, err := b.Attach("another-port"); !errors.Is(err, adapters.ErrUnknownTarget) {
		t.Errorf("Attach(another-port) = %v, want ErrUnknownTarget", err)
	}
	d, err := b.Attach(b.portID)
	if err != nil {
		t.Fatal(err)
	}
	c := tx9Model(t)
	ctx := ctxT(t)
	waitFor(t, "a poll of the attached device", func() error {
		_, err := d.Poll(ctx, &c.Groups[0], nil)
		return err
	})
}
