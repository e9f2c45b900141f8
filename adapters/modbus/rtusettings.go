package modbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/adapters/serialport"
)

// Modbus RTU settings defaults.
const (
	DefaultRTUBaud         = 19200
	DefaultRTUParity       = "even"
	DefaultRTUTimeout      = 500 * time.Millisecond
	DefaultRTUProbeTimeout = 100 * time.Millisecond
)

// rtuSettings is a Modbus RTU bus's checked settings, ready to run.
type rtuSettings struct {
	port serialport.Identity
	line serialport.LineSettings
	echo bool // the adapter hears its own requests
	unitSettings
}

// parseRTUSettings decodes and validates a modbus-rtu bus's settings strictly,
// returning every problem at once, each prefixed with its path.
func parseRTUSettings(raw json.RawMessage) (*rtuSettings, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	var (
		port   string
		line   = serialport.LineSettings{Baud: DefaultRTUBaud, DataBits: 8, Parity: DefaultRTUParity, StopBits: 1}
		echo   bool
		shared = newRawUnitSettings(DefaultRTUTimeout, DefaultRTUProbeTimeout)
	)
	err := decodeObject("", raw, append([]field{
		{"port", into(&port)},
		{"baud", into(&line.Baud)},
		{"dataBits", into(&line.DataBits)},
		{"parity", into(&line.Parity)},
		{"stopBits", into(&line.StopBits)},
		{"echo", into(&echo)},
	}, shared.fields()...))
	errs := []error{err}
	s := &rtuSettings{line: line, echo: echo}
	if strings.TrimSpace(port) == "" {
		if err == nil {
			errs = append(errs, fmt.Errorf("port: is required (a /dev path or usb:VID:PID[:SERIAL]), got %q", port))
		}
	} else if s.port, err = serialport.ParseIdentity(port); err != nil {
		errs = append(errs, fmt.Errorf("port: %w", err))
	}
	if err := line.Validate(); err != nil {
		errs = append(errs, err) // LineSettings errors already name baud/dataBits/parity/stopBits
	}
	var more []error
	s.unitSettings, more = shared.check()
	if len(s.units) > 0 && s.units[0] == 0 {
		more = append(more, fmt.Errorf("units: unit 0 is the RTU broadcast address and never answers; use 1..%d, got %q", maxUnitID, shared.units))
	}
	if err := errors.Join(append(errs, more...)...); err != nil {
		return nil, err
	}
	return s, nil
}
