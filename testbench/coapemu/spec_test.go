package coapemu_test

import (
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/testbench/coapemu"
)

func TestDecodeSpecsErrors(t *testing.T) {
	_, err := coapemu.DecodeSpecs([]byte(`
- name: bad
  listen: nowhere
  multicast: {groups: [10.0.0.1]}
  resources:
    - {path: temp, format: xml, value: 1}
    - {path: /a, value: {x: 1}, change: {period: 0s, min: 5, max: 1}}
    - {path: /a, value: 1, fault: {code: "2.05"}}
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`[0].listen: must be host:port, got "nowhere"`,
		`[0].multicast.interface: required`,
		`[0].multicast.groups[0]: must be a multicast address, got "10.0.0.1"`,
		`[0].resources[0].path: must be an absolute resource path, got "temp"`,
		`[0].resources[0].format: must be text, json or cbor, got "xml"`,
		`[0].resources[1].value: a text resource needs a scalar value`,
		`[0].resources[1].change.period: must be > 0, got 0s`,
		`[0].resources[1].change.max: must be >= min (5), got 1`,
		`[0].resources[2].path: "/a" is already used by resources[1]`,
		`[0].resources[2].fault.code: must be a 4.xx or 5.xx code like "4.04", got "2.05"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := coapemu.DecodeSpecs([]byte("- {name: x, listen: ':1', bogus: 1}")); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown field: %v", err)
	}
}

func FuzzDecodeSpecs(f *testing.F) {
	f.Add([]byte(bench))
	f.Add([]byte("- {name: x, listen: ':5683', multicast: {interface: eth0}, resources: [{path: /a, value: 1}]}"))
	f.Add([]byte("- {name: x, listen: '127.0.0.1:0', psk: {key: k}, resources: [{path: /a, format: cbor, value: {a: [1, 2]}, fault: {code: '5.03'}}]}"))
	f.Add([]byte("- [unclosed"))
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := coapemu.DecodeSpecs(data)
		if err != nil {
			return
		}
		for _, s := range specs {
			if err := s.Validate(); err != nil {
				t.Fatalf("decoded spec does not validate: %v", err)
			}
		}
	})
}
