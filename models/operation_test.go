package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzCheck: no operation input panics Check (of a serial and a CoAP model),
// and whatever it accepts stays within the model: serial commands hold no
// control character but their terminator, json payloads are valid JSON.
func FuzzCheck(f *testing.F) {
	serial := compileFile(f, "testdata/serial-example.json")
	coap := compileFile(f, "testdata/coap-example.json")
	f.Add("write", []byte(`{"setpoint": 21.5, "mode": 1}`))
	f.Add("boost", []byte(`{"minutes": 30}`))
	f.Add("reboot", []byte(`null`))
	f.Add("write", []byte(`{"serial": "abcdefgh"}`))
	f.Add("calibrate", []byte(`{"offset": 1.5, "note": "a;b\r\n"}`))
	f.Add("write", []byte(`{"label": "\"}, \"x\": {\"", "setpoint": 20}`))
	f.Add("blink", []byte(`{"colour": "red", "times": 2}`))
	f.Add("display", []byte(`{"text": "x\u0000"}`))
	f.Fuzz(func(t *testing.T, op string, input []byte) {
		for _, c := range []*Compiled{serial, coap} {
			a, err := c.Check(op, input)
			if err != nil {
				var oe *OperationError
				if !errors.As(err, &oe) || oe.Code == "" {
					t.Fatalf("error %v is not a coded *OperationError", err)
				}
				continue
			}
			for _, s := range a.Serial {
				body, ok := bytes.CutSuffix(s.Command, c.Serial.Terminator)
				if s.Delay == 0 && (!ok || bytes.ContainsFunc(body, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ';' })) {
					t.Fatalf("command %q escapes its line", s.Command)
				}
			}
			for _, r := range a.Coap {
				if r.Format == FormatJSON && !json.Valid(r.Payload) {
					t.Fatalf("payload %q is not JSON", r.Payload)
				}
			}
		}
	})
}
