// Package systemd holds what installs fieldgate as a service: the unit, its
// sysusers and tmpfiles rules, the packaging config (nfpm.yaml and the
// maintainer scripts) and the example config. The Go side is only the example
// config, embedded so that `fieldgate config` prints the very file the
// package installs as /etc/fieldgate/config.yaml. It imports nothing of the
// project.
package systemd

import _ "embed"

//go:embed fieldgate.example.yaml
var exampleConfig []byte

// ExampleConfig returns the commented example config (a copy).
func ExampleConfig() []byte { return append([]byte(nil), exampleConfig...) }
