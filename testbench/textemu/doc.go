// Package textemu is the testbench's emulator of text-protocol serial devices
// (RS-232 style: one device per line, "TEMP?" → "T=21.5"). Each Device runs on a
// serialemu.Line (a pty pair with wire-time pacing) and answers terminated
// command lines from its spec: fixed identity answers to probe requests,
// literal or regex commands with reply templates over its values, commands
// that set values from their argument, a reboot that resets its state, and an
// "ERR" for anything else. Values may drift over time; faults (silence, late,
// garbage and truncated replies) can be switched at run time; counters record
// what the device received and executed, so tests can prove a command did (or
// did not) reach it.
//
// It owns the device side of the text protocols and the device state. It must
// not import gateway or adapter internals, and it keeps no package-level
// mutable state.
package textemu
