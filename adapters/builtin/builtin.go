package builtin

import (
	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/adapters/serial"
)

// Builtin returns a fresh table of every built-in adapter, by protocol name.
func Builtin() adapters.Table {
	return adapters.NewTable(
		modbus.NewTCP(),
		modbus.NewRTU(),
		coap.New(),
		serial.NewText(),
	)
}
