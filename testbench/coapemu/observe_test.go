package coapemu_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/fieldgate/fieldgate/testbench/coapemu"
)

// rawPeer is a hand-driven CoAP client on a plain UDP socket, so that a test
// decides byte for byte what the device sees (resets included).
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	mid  int32
}

func dialRaw(t *testing.T, addr string) *rawPeer {
	t.Helper()
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawPeer{t: t, conn: c, mid: 100}
}

func (p *rawPeer) send(m message.Message) {
	p.t.Helper()
	buf := make([]byte, 1500)
	n, err := coder.DefaultCoder.Encode(m, buf)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.Write(buf[:n]); err != nil {
		p.t.Fatal(err)
	}
}

// receive waits (generously) for the next message with a token.
func (p *rawPeer) receive() message.Message {
	p.t.Helper()
	buf := make([]byte, 1500)
	for range 100 {
		_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := p.conn.Read(buf)
		if err != nil {
			p.t.Fatalf("no message from the device: %v", err)
		}
		m := message.Message{Options: make(message.Options, 0, 16)}
		if _, err := coder.DefaultCoder.Decode(buf[:n], &m); err != nil {
			p.t.Fatalf("undecodable message: %v", err)
		}
		if len(m.Token) > 0 {
			return m
		}
	}
	p.t.Fatal("no message with a token in 100 datagrams")
	return message.Message{}
}

// observe sends a confirmable GET with Observe=0 (register) or 1 (deregister).
func (p *rawPeer) observe(path string, token []byte, observe uint32) {
	p.t.Helper()
	p.mid++
	buf := make([]byte, 64)
	opts, _, err := message.Options{}.SetPath(buf, path)
	if err != nil {
		p.t.Fatal(err)
	}
	opts, _, err = opts.SetUint32(buf[32:], message.Observe, observe)
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(message.Message{Token: token, Options: opts, Code: codes.GET, MessageID: p.mid, Type: message.Confirmable})
}

// TestResetRemovesObserver: a client that rejects a notification with a
// reset (RFC 7641 §3.6) is no observer any more; a deregistration GET
// (Observe=1) removes it as well.
func TestResetRemovesObserver(t *testing.T) {
	d := listenSpec(t, `
- name: env
  listen: 127.0.0.1:0
  resources:
    - {path: /t, value: 1, observable: true, change: {period: 50ms, step: 1, min: 0, max: 1000}}
`)
	p := dialRaw(t, d.Addr())

	p.observe("/t", []byte{1, 2}, 0)
	if ack := p.receive(); ack.Type != message.Acknowledgement || ack.Code != codes.Content {
		t.Fatalf("registration answered with %v", ack)
	}
	if n := d.Observers("/t"); n != 1 {
		t.Fatalf("observers after registering: %d", n)
	}
	note := p.receive()
	if note.Type != message.NonConfirmable || string(note.Token) != string([]byte{1, 2}) {
		t.Fatalf("want a non-confirmable notification with our token, got %v", note)
	}
	p.send(message.Message{Code: codes.Empty, Type: message.Reset, MessageID: note.MessageID})
	waitObservers(t, d, "/t", 0)

	p.observe("/t", []byte{3, 4}, 0)
	waitObservers(t, d, "/t", 1)
	p.observe("/t", []byte{3, 4}, 1)
	waitObservers(t, d, "/t", 0)
}

func waitObservers(t *testing.T, d *coapemu.Device, path string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d.Observers(path) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d observers after 10s, want %d", path, d.Observers(path), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAlsoListen: one device, one state, answering on IPv4 and IPv6.
func TestAlsoListen(t *testing.T) {
	if ln, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		_ = ln.Close()
	}
	d := listenSpec(t, `
- name: dual
  listen: 127.0.0.1:0
  alsoListen: ["[::1]:0"]
  resources:
    - {path: /t, value: 1, observable: true}
`)
	addrs := d.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("addresses %v", addrs)
	}
	for i, a := range addrs {
		p := dialRaw(t, a)
		p.observe("/t", []byte{byte(i)}, 0)
		if ack := p.receive(); ack.Code != codes.Content {
			t.Fatalf("%s answered %v", a, ack)
		}
	}
	if n := d.Observers("/t"); n != 2 {
		t.Errorf("want one resource observed through both addresses, got %d observers", n)
	}
	for yml, want := range map[string]string{
		"- {name: x, listen: ':1', alsoListen: [nope], psk: {key: k}, resources: [{path: /a, value: 1}]}":                                                                                 `[0].alsoListen[0]: must be host:port, got "nope"`,
		"- {name: x, listen: '127.0.0.1:0', alsoListen: ['[::1]:0'], psk: {key: k}, resources: [{path: /a, value: 1}]}":                                                                   "[0].alsoListen: only for a plain UDP device",
		"- {name: a, listen: '127.0.0.1:5999', resources: [{path: /a, value: 1}]}\n- {name: b, listen: '127.0.0.1:0', alsoListen: ['127.0.0.1:5999'], resources: [{path: /a, value: 1}]}": `[1].alsoListen[0]: "127.0.0.1:5999" is already used by [0]`,
	} {
		if _, err := coapemu.DecodeSpecs([]byte(yml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", yml, err, want)
		}
	}
}
