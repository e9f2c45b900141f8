package main

import (
	"bytes"
	"testing"
)

// TestProgressOnATerminal: on a terminal each bus has one line, rewritten in
// place (\r, padded over a longer one) and ended when the bus is done; not on
// a terminal, each event is a line of its own.
func TestProgressOnATerminal(t *testing.T) {
	events := []scanEvent{
		{Type: "progress", Bus: "rtu", Done: 0, Total: 247},
		{Type: "progress", Bus: "rtu", Done: 120, Total: 247, Found: 1, At: "unit 120"},
		{Type: "progress", Bus: "rtu", Done: 247, Total: 247, Found: 2},
		{Type: "bus-done", Bus: "rtu", Found: 2},
		{Type: "progress", Bus: "tcp", Done: 1, Total: 8},
	}
	var tty bytes.Buffer
	p := &progressPrinter{w: &tty, tty: true}
	for _, ev := range events {
		p.event(ev)
	}
	p.end()
	want := "\rscanning rtu: 0/247 probed, 0 found" +
		"\rscanning rtu: 120/247 probed, 1 found (unit 120)" +
		"\rscanning rtu: 247/247 probed, 2 found           " +
		"\rscanned rtu: 2 found                 \n" +
		"\rscanning tcp: 1/8 probed, 0 found\n"
	if tty.String() != want {
		t.Errorf("on a terminal:\n%q\nwant\n%q", tty.String(), want)
	}
	var plain bytes.Buffer
	p = &progressPrinter{w: &plain}
	for _, ev := range events {
		p.event(ev)
	}
	p.end()
	want = "scanning rtu: 0/247 probed, 0 found\n" +
		"scanning rtu: 120/247 probed, 1 found (unit 120)\n" +
		"scanning rtu: 247/247 probed, 2 found\n" +
		"scanned rtu: 2 found\n" +
		"scanning tcp: 1/8 probed, 0 found\n"
	if plain.String() != want {
		t.Errorf("not on a terminal:\n%q\nwant\n%q", plain.String(), want)
	}
}
