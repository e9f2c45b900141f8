package modbusemu

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// FuzzHandleFrame feeds arbitrary bytes through the server's frame reader and
// request handler, as a connection would: it must never panic, and every reply
// must be a well-formed ADU answering the request it follows.
func FuzzHandleFrame(f *testing.F) {
	f.Add(appendADU(nil, 1, 1, pdu(3, 0, 2)))
	f.Add(appendADU(nil, 2, 1, []byte{0x2B, 0x0E, 2, 0}))
	f.Add(appendADU(nil, 3, 0, append(pdu(16, 100, 1), 2, 0xA5, 0xA5)))
	f.Add(appendADU(appendADU(nil, 4, 2, pdu(15, 0, 3, 0x0107)), 5, 1, append(pdu(23, 0, 1, 1, 1), 2, 0, 9)))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 1})
	sil := testUnit(3)
	sil.Silent = true
	long := testUnit(2)
	long.Identity.ProductName = string(bytes.Repeat([]byte("p"), 200))
	long.Identity.ModelName = string(bytes.Repeat([]byte("m"), 200))
	long.Coils[100] = false
	long.Reboot = &RebootTrigger{Table: "coil", Address: 100}
	reb := testUnit(1)
	reb.Holding[100] = 0
	reb.Reboot = &RebootTrigger{Table: "holding", Address: 100, Value: 0xA5A5}
	reb.Drift = []Drift{{Table: "holding", Address: 1, Min: -10, Max: 10, Period: time.Second, Kind: "sine"}}
	specs := []UnitSpec{reb, long, sil}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := newServer(specs, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := bytes.NewReader(data)
		var buf [maxADU]byte
		for { // each frame consumes at least 7 bytes: bounded by len(data)
			fr, err := readFrame(r, &buf)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errMalformed) {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			req := append([]byte(nil), fr.pdu...)
			adu, u, reboot := s.respond(fr)
			if adu == nil {
				continue
			}
			var rbuf [maxADU]byte
			reply, err := readFrame(bytes.NewReader(adu), &rbuf)
			if err != nil || reply.tid != fr.tid || reply.unit != fr.unit {
				t.Fatalf("reply % x to % x: %v", adu, req, err)
			}
			if fn := reply.pdu[0]; fn != req[0] && (fn != req[0]|0x80 || len(reply.pdu) != 2) {
				t.Fatalf("reply pdu % x to request % x", reply.pdu, req)
			}
			if reboot {
				u.restart()
			}
		}
	})
}

// FuzzDecodeSpecs: bench files are outside input; decoding must never panic,
// and what it accepts must start.
func FuzzDecodeSpecs(f *testing.F) {
	f.Add([]byte("- listen: 127.0.0.1:0\n  units: [{id: 1, holding: {0: 1}, drift: [{table: input, address: 0, min: 1, max: 2, period: 1s, kind: ramp}]}]\n"))
	f.Add([]byte("- listen: 127.0.0.1:0\n  units: [{id: 1, coils: {0: true}, reboot: {table: coil, address: 0}}]\n"))
	f.Add([]byte("[]"))
	f.Add([]byte("- {listen: x, units: [{id: 300}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := DecodeSpecs(data)
		if err != nil {
			return
		}
		for _, s := range specs {
			if _, err := newServer(s.Units, nil); err != nil {
				t.Fatalf("DecodeSpecs accepted units that Listen rejects: %v", err)
			}
		}
	})
}
