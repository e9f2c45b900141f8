package coap_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters/coap"
)

func TestCheck(t *testing.T) {
	good := []string{
		`{"hosts": ["10.0.0.5"]}`,
		`{"hosts": ["[fe80::1%eth0]:5683", "dev.local:1234"], "identity": "/dev/info", "timeout": "2s"}`,
		`{"multicast": {"interfaces": ["eth0"]}}`,
		`{"hosts": ["coaps://10.0.0.9"], "pskFile": "/etc/fieldgate/coap.psk", "pskIdentity": "gw"}`,
	}
	for _, s := range good {
		if err := coap.New().Check(json.RawMessage(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	err := coap.New().Check(json.RawMessage(`{"hosts": ["a:b", "10.0.0.5", "10.0.0.5:5683", "coaps://x"], "bogus": 1,
		"multicast": {"interfaces": [], "groups": ["10.0.0.1"], "port": 70000, "wait": "forever"},
		"identity": "dev/info", "timeout": "-1s"}`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`hosts[0]: port must be 1..65535, got "a:b"`,
		`hosts[2]: "10.0.0.5:5683" is the same endpoint as hosts[1]`,
		`bogus: unknown field`,
		`multicast.interfaces: name at least one network interface`,
		`multicast.groups[0]: must be an IPv4 or IPv6 multicast address, got "10.0.0.1"`,
		`multicast.port: must be 1..65535, got 70000`,
		`multicast.wait: must be a duration`,
		`identity: must be a resource path starting with '/', got "dev/info"`,
		`timeout: must be a duration in (0, 1m0s] like "2s", got "-1s"`,
		`pskFile: is required for coaps:// hosts`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if err := coap.New().Check(json.RawMessage(`{}`)); err == nil || !strings.Contains(err.Error(), "hosts: at least one host") {
		t.Errorf("empty: %v", err)
	}
	if err := coap.New().Check(json.RawMessage(`{"hosts": "x"}`)); err == nil || !strings.Contains(err.Error(), `hosts: must be a list of strings, got "x"`) {
		t.Errorf("wrong type: %v", err)
	}
}

// TestCheckCoapScheme: a host may be written as a coap:// URI, the same as
// without a scheme (port 5683 by default).
func TestCheckCoapScheme(t *testing.T) {
	if err := coap.New().Check(json.RawMessage(`{"hosts": ["coap://10.0.0.7", "coap://[::1]:5700", "coap://dev.local:1234"]}`)); err != nil {
		t.Fatal(err)
	}
	err := coap.New().Check(json.RawMessage(`{"hosts": ["coap://10.0.0.7", "10.0.0.7:5683", "coap://", "coap://x:0"]}`))
	for _, want := range []string{
		`hosts[1]: "10.0.0.7:5683" is the same endpoint as hosts[0]`,
		`hosts[2]: must be host, host:port, coap://host[:port] or coaps://host[:port], got "coap://"`,
		`hosts[3]: port must be 1..65535, got "coap://x:0"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
