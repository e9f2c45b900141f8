package coap_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/models"
)

// TestDTLSDeviceRestart: a DTLS device that loses power forgets its session
// without a close_notify; the adapter must drop the dead connection after a
// failure and handshake again instead of timing out forever on the old
// session. A UDP relay stands for the device's address; "power loss" points
// it at a fresh device instance.
func TestDTLSDeviceRestart(t *testing.T) {
	yml := `
- name: secure
  listen: 127.0.0.1:0
  psk: {identity: gw-1, key: "s3cret-key"}
  resources:
    - {path: /sensors/temp, value: 21.5}
`
	d1, d2 := startDevice(t, yml, 0), startDevice(t, yml, 0)
	relay := newRelay(t, d1.Addr())
	keyFile := filepath.Join(t.TempDir(), "coap.psk")
	if err := os.WriteFile(keyFile, []byte("s3cret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := "coaps://" + relay.addr()
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "pskFile": %q, "pskIdentity": "gw-1", "timeout": "1s"}`, target, keyFile))
	g := &models.PollGroup{Plan: []coap.Read{{Path: "/sensors/temp", Format: coap.FormatText, Scale: 1, Kind: models.KindFloat}}}
	ctx := context.Background()
	if _, err := pollOn(b, ctx, target, g, nil); err != nil {
		t.Fatalf("first poll: %v", err)
	}
	relay.switchTo(d2.Addr())
	var last error
	for range 4 {
		if _, last = pollOn(b, ctx, target, g, nil); last == nil {
			return
		}
		t.Logf("poll after power loss: %v", last)
	}
	t.Fatalf("no reading after the device lost its DTLS session: %v", last)
}

// relay forwards datagrams between one client and a switchable backend.
type relay struct {
	front *net.UDPConn
	mu    sync.Mutex
	back  *net.UDPConn
	peer  *net.UDPAddr
}

func newRelay(t *testing.T, backend string) *relay {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{front: front}
	r.switchTo(backend)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.peer = from
			back := r.back
			r.mu.Unlock()
			_, _ = back.Write(buf[:n])
		}
	}()
	t.Cleanup(func() {
		_ = front.Close()
		<-done
		r.mu.Lock()
		_ = r.back.Close()
		r.mu.Unlock()
	})
	return r
}

func (r *relay) addr() string { return r.front.LocalAddr().String() }

// switchTo points the relay at a new backend; the old one is cut off.
func (r *relay) switchTo(backend string) {
	ra, err := net.ResolveUDPAddr("udp", backend)
	if err != nil {
		panic(err)
	}
	back, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		panic(err)
	}
	r.mu.Lock()
	old := r.back
	r.back = back
	r.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			peer := r.peer
			r.mu.Unlock()
			if peer != nil {
				_, _ = r.front.WriteToUDP(buf[:n], peer)
			}
		}
	}()
}

// TestObserveEndsOnClose: closing the bus ends a running Observe (no
// goroutine left re-registering against a closed bus).
func TestObserveEndsOnClose(t *testing.T) {
	d := startDevice(t, benchYAML, 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "timeout": "1s"}`, d.Addr()))
	group := &models.PollGroup{Interval: 200 * time.Millisecond, Observe: true, Plan: []coap.Read{
		{Property: 0, Path: "/sensors/temp", Format: coap.FormatText, Scale: 1, Kind: models.KindFloat, Observe: true},
	}}
	var c collector
	done := make(chan error, 1)
	go func() { done <- observeOn(b, context.Background(), d.Addr(), group, c.emit, nil) }()
	waitFor(t, 10*time.Second, "a notification", func() bool { return c.count(0) >= 1 })
	_ = b.Close()
	waitReturn(t, done, adapters.ErrLinkDown, "the bus was closed")
}

// waitReturn waits (generously) for Observe to return err after what.
func waitReturn(t *testing.T, done <-chan error, want error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, want) {
			t.Errorf("Observe returned %v after %s, want %v", err, what, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Observe still running 10s after %s", what)
	}
}

// TestDecodePayloadPointerEdges: RFC 6901 array indexes only, CBOR integer
// keys matched by value and sign, NaN is no bool.
func TestDecodePayloadPointerEdges(t *testing.T) {
	dec, _ := cbor.DecOptions{}.DecMode()
	maxKey := []byte{0xa1, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05} // {2^64-1: 5}
	negKey := []byte{0xa2, 0x20, 0x06, 0x01, 0x07}                                     // {-1: 6, 1: 7}
	nan := []byte{0xf9, 0x7e, 0x00}                                                    // half-float NaN
	cases := []struct {
		format  coap.ContentFormat
		pointer []string
		kind    models.Kind
		payload []byte
		want    models.Value
		err     string
	}{
		{coap.FormatJSON, []string{"+1"}, models.KindInt, []byte(`[10, 20]`), models.Value{}, "no element"},
		{coap.FormatJSON, []string{"-0"}, models.KindInt, []byte(`[10, 20]`), models.Value{}, "no element"},
		{coap.FormatJSON, []string{" 1"}, models.KindInt, []byte(`[10, 20]`), models.Value{}, "no element"},
		{coap.FormatJSON, []string{"1"}, models.KindInt, []byte(`[10, 20]`), models.IntValue(20), ""},
		{coap.FormatCBOR, []string{"-1"}, models.KindInt, maxKey, models.Value{}, "no member"},
		{coap.FormatCBOR, []string{"-1"}, models.KindInt, negKey, models.IntValue(6), ""},
		{coap.FormatCBOR, []string{"1"}, models.KindInt, negKey, models.IntValue(7), ""},
		{coap.FormatCBOR, []string{"+1"}, models.KindInt, negKey, models.Value{}, "no member"},
		{coap.FormatCBOR, nil, models.KindBool, nan, models.Value{}, "not a bool"},
		{coap.FormatText, nil, models.KindBool, []byte("NaN"), models.Value{}, "not a bool"},
	}
	for i, c := range cases {
		r := &coap.Read{Format: c.format, Pointer: c.pointer, Kind: c.kind, Scale: 1}
		v, err := coap.DecodePayload(dec, r, c.payload)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("case %d: %v, %v; want error %q", i, v, err, c.err)
		case c.err == "" && (err != nil || v != c.want):
			t.Errorf("case %d: %v %v, want %v", i, v, err, c.want)
		}
	}
}

// TestParseIdentityStable: a device with more members than are kept gives
// the same identity every time.
func TestParseIdentityStable(t *testing.T) {
	dec, _ := cbor.DecOptions{}.DecMode()
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 60 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"k%02d": "v%d"`, i, i)
	}
	sb.WriteString("}")
	first := coap.ParseIdentity(dec, []byte(sb.String()))
	for range 20 {
		if again := coap.ParseIdentity(dec, []byte(sb.String())); !maps.Equal(first, again) {
			t.Fatalf("identity differs between parses:\n%v\n%v", first, again)
		}
	}
	if _, ok := first["k00"]; !ok || len(first) != 32 {
		t.Errorf("want the first 32 members by name, got %v", first)
	}
}

// TestObserveBackFromPolling: a device that refused to be observed (short
// of observer slots) and later accepts is observed again, not polled forever.
func TestObserveBackFromPolling(t *testing.T) {
	d := startDevice(t, benchYAML, 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "timeout": "1s"}`, d.Addr()))
	group := &models.PollGroup{Interval: 200 * time.Millisecond, Observe: true, Plan: []coap.Read{
		{Property: 1, Path: "/stubborn", Format: coap.FormatText, Scale: 1, Kind: models.KindInt, Observe: true},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	var c collector
	done := make(chan error, 1)
	go func() { done <- observeOn(b, ctx, d.Addr(), group, c.emit, nil) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, 10*time.Second, "/stubborn polled", func() bool { return d.Gets("/stubborn") >= 2 })
	d.SetNoObserve("/stubborn", false)
	waitFor(t, 20*time.Second, "/stubborn observed again", func() bool { return d.Observers("/stubborn") == 1 })
	gets := d.Gets("/stubborn")
	before := c.count(1)
	for i := range 3 {
		d.SetValue("/stubborn", 100+i)
		waitFor(t, 10*time.Second, "notification", func() bool { return c.count(1) > before+i })
	}
	if n := d.Gets("/stubborn"); n > gets+1 {
		t.Errorf("still polled while observed: %d GETs after observing again, %d before", n, gets)
	}
}
