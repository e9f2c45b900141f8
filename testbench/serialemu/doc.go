// Package serialemu emulates serial lines for tests and the testbench: each
// Line is a pty pair whose slave side the gateway opens like a real port
// (through a stable symlink, as /dev/serial/by-id/NAME), and whose master side
// the emulated devices use. It emulates wire time (bytes paced at the baud
// rate, frames delimited by silences measured in wire time), RS-485 adapter
// echo, collisions, and unplugging (the port disappears and comes back under a
// new /dev/pts/N).
//
// It must not know any protocol (Modbus framing, text commands): the device
// emulators (testbench/modbusemu, testbench/textemu) build on ReadFrame and
// Write (WriteAt for a reply due at a wire time, DeviceThread for a device
// goroutine that keeps wire time closely). It keeps no package-level state.
package serialemu
