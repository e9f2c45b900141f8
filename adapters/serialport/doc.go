// Package serialport owns serial ports: naming them stably (Identity: a
// /dev/serial/by-id path or a USB VID:PID[:SERIAL] match), their line settings,
// and the one goroutine (Owner, an adapters.LinkOwner that keeps its port
// open) that talks on each open port. Whatever protocol
// runs on a port (Modbus RTU, text commands), every transaction goes through
// Owner.Do in order, urgent ones (operations) ahead of queued polls. The owner
// opens the port, detects unplugging (also while idle), reports link state and
// reopens the port by identity when it comes back, whatever its new /dev name.
// No Conn call blocks in the kernel beyond a short slice: reads wait in
// select slices, writes go through a second, non-blocking descriptor and wait
// for room in slices, drains watch the output queue, so ctx and Close end
// them all promptly (an interrupted write's unsent bytes are discarded).
//
// It must not know any protocol: framing, CRCs, unit ids and timeouts per
// request belong to the protocol packages (adapters/modbus, adapters/serial),
// which build on Conn. It keeps no package-level state and logs only through
// the slog.Logger it is given, once per link state change.
package serialport
