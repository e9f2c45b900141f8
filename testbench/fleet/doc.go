// Package fleet is the fleet benchmark (`testbench fleet`, `make bench-fleet`):
// it generates a bench of many emulated Modbus TCP devices, a reference
// backend and a gateway config, runs the device emulators, the backend and
// the gateway as separate processes on loopback with a byte-counting
// chaosproxy between gateway and backend, and measures one window per
// workload: values polled and delivered per second, drops, CPU and memory of
// the gateway and the backend (from /proc), outbox and wire bytes per value.
//
// It drives the gateway only from outside (its config file, its local API,
// its process): it never imports gateway packages. It is a benchmark, not a
// test: nothing in it asserts a figure.
package fleet
