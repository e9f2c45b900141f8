// Package modbusemu is the testbench's Modbus device emulator: a real Modbus
// TCP server (MBAP framing, function codes 1, 2, 3, 4, 5, 6, 15, 16, 23 and 43/14
// Read Device Identification) that serves one or more emulated units from
// register maps, with behaviours declared in a bench file: values that drift over
// time, a write that reboots the unit, reply latency, silent units and units
// without identification.
//
// ServeRTU serves the same units as Modbus RTU slaves on an emulated RS-485
// line (a serialemu.Line: a pty pair paced at the baud rate): requests are
// framed by their length (and the silence after them), checked by CRC (a bad
// one is ignored, as a device would), answered after a turnaround, and the
// units' Faults are injected on the wire (bad CRC, garbage, cut replies, forced
// exceptions; Latency makes a unit late). Unit 0 is a broadcast: executed by
// every unit, never answered. DecodeRTUSpecs reads the RTU lines of a bench file.
//
// It owns the server side of the wire format and the unit state. It must not
// import gateway or adapter internals, and it keeps no package-level state: every
// Server is independent, so tests run many side by side on ephemeral ports.
//
// Unknown unit ids (and silent units) are never answered, as a TCP gateway with a
// dead serial slave behind it would behave; discovery scans rely on that.
package modbusemu
