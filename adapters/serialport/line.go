package serialport

import (
	"errors"
	"fmt"
	"time"
)

// LineSettings are the UART settings of a port.
type LineSettings struct {
	Baud     int
	DataBits int    // 7 or 8
	Parity   string // none, even or odd
	StopBits int    // 1 or 2
}

// Validate returns every problem at once, each naming the field and the value.
func (l LineSettings) Validate() error {
	var errs []error
	if l.Baud < 50 || l.Baud > 4_000_000 {
		errs = append(errs, fmt.Errorf("baud: must be between 50 and 4000000, got %d", l.Baud))
	}
	if l.DataBits != 7 && l.DataBits != 8 {
		errs = append(errs, fmt.Errorf("dataBits: must be 7 or 8, got %d", l.DataBits))
	}
	switch l.Parity {
	case "none", "even", "odd":
	default:
		errs = append(errs, fmt.Errorf("parity: must be none, even or odd, got %q", l.Parity))
	}
	if l.StopBits != 1 && l.StopBits != 2 {
		errs = append(errs, fmt.Errorf("stopBits: must be 1 or 2, got %d", l.StopBits))
	}
	return errors.Join(errs...)
}

// CharBits is the number of bits one character takes on the wire: start +
// data + parity + stop (8E1 → 11, 8N1 → 10).
func (l LineSettings) CharBits() int {
	n := 1 + l.DataBits + l.StopBits
	if l.Parity == "even" || l.Parity == "odd" {
		n++
	}
	return n
}

// CharTime is the time one character takes on the wire (0 when Baud is not set).
func (l LineSettings) CharTime() time.Duration {
	if l.Baud <= 0 {
		return 0
	}
	return time.Duration(int64(l.CharBits()) * int64(time.Second) / int64(l.Baud))
}
