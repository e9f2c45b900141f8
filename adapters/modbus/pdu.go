package modbus

import (
	"encoding/binary"
	"fmt"

	"github.com/fieldgate/fieldgate/adapters"
)

// Modbus function codes this package speaks.
const (
	fnReadCoils          = 1
	fnReadDiscretes      = 2
	fnReadHolding        = 3
	fnReadInput          = 4
	fnWriteCoil          = 5
	fnWriteRegister      = 6
	fnWriteCoils         = 15
	fnWriteRegisters     = 16
	fnEncapsulated       = 43
	meiDeviceID          = 14
	maxReadRegisters     = 125
	maxReadBits          = 2000
	maxWriteRegisters    = 123
	maxWriteCoils        = 1968
	exceptionFlag        = 0x80
	deviceIDCodeBasic    = 1
	deviceIDCodeRegular  = 2
	firstRegularObjectID = 3
)

// Modbus exception codes (Modbus Application Protocol v1.1b, section 7).
const (
	ExceptionIllegalFunction    byte = 1
	ExceptionIllegalDataAddress byte = 2
	ExceptionIllegalDataValue   byte = 3
	ExceptionDeviceFailure      byte = 4
	ExceptionAcknowledge        byte = 5
	ExceptionDeviceBusy         byte = 6
	ExceptionMemoryParity       byte = 8
	ExceptionGatewayPath        byte = 10
	ExceptionGatewayTarget      byte = 11
)

// ExceptionError is a Modbus exception reply: the device understood the request
// and refused it. Function is the request's function code (without the 0x80 flag).
type ExceptionError struct {
	Function byte
	Code     byte
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus exception %d (%s) to function %d", e.Code, exceptionName(e.Code), e.Function)
}

func exceptionName(code byte) string {
	switch code {
	case ExceptionIllegalFunction:
		return "illegal function"
	case ExceptionIllegalDataAddress:
		return "illegal data address"
	case ExceptionIllegalDataValue:
		return "illegal data value"
	case ExceptionDeviceFailure:
		return "server device failure"
	case ExceptionAcknowledge:
		return "acknowledge"
	case ExceptionDeviceBusy:
		return "server device busy"
	case ExceptionMemoryParity:
		return "memory parity error"
	case ExceptionGatewayPath:
		return "gateway path unavailable"
	case ExceptionGatewayTarget:
		return "gateway target device failed to respond"
	}
	return "unknown exception"
}

// request is one request PDU: a function code and its data.
type request struct {
	fn   byte
	data []byte
}

// readRequest builds the request for a read of a plan.
func readRequest(t Table, start, count uint16) (request, error) {
	var fn byte
	limit := uint16(maxReadRegisters)
	switch t {
	case TableCoil:
		fn, limit = fnReadCoils, maxReadBits
	case TableDiscrete:
		fn, limit = fnReadDiscretes, maxReadBits
	case TableInput:
		fn = fnReadInput
	case TableHolding:
		fn = fnReadHolding
	default:
		return request{}, fmt.Errorf("read: unknown table %d", t)
	}
	if count < 1 || count > limit {
		return request{}, fmt.Errorf("read: count must be 1..%d, got %d", limit, count)
	}
	if int(start)+int(count) > 1<<16 {
		return request{}, fmt.Errorf("read: start %d + count %d runs past address 65535", start, count)
	}
	return request{fn: fn, data: be16(start, count)}, nil
}

// replySize is how many data bytes a read of count items in the request's table returns.
func replySize(fn byte, count uint16) int {
	if fn == fnReadCoils || fn == fnReadDiscretes {
		return (int(count) + 7) / 8
	}
	return 2 * int(count)
}

// checkFunction turns an exception reply into an *ExceptionError and any other
// function code than the request's into ErrBadReply.
func checkFunction(reqFn, fn byte, data []byte) error {
	if fn == reqFn {
		return nil
	}
	if fn == reqFn|exceptionFlag {
		if len(data) != 1 {
			return fmt.Errorf("%w: exception reply with %d data bytes, want 1", adapters.ErrBadReply, len(data))
		}
		return &ExceptionError{Function: reqFn, Code: data[0]}
	}
	return fmt.Errorf("%w: function %d in reply to function %d", adapters.ErrBadReply, fn, reqFn)
}

// decodeReadReply checks a read reply (function code and its data) against the
// request for count items and returns the register or packed-bit bytes.
func decodeReadReply(reqFn byte, count uint16, fn byte, data []byte) ([]byte, error) {
	if err := checkFunction(reqFn, fn, data); err != nil {
		return nil, err
	}
	want := replySize(reqFn, count)
	if len(data) < 1 {
		return nil, fmt.Errorf("%w: empty read reply", adapters.ErrBadReply)
	}
	if int(data[0]) != want || len(data)-1 != want {
		return nil, fmt.Errorf("%w: read of %d: byte count %d with %d data bytes, want %d",
			adapters.ErrBadReply, count, data[0], len(data)-1, want)
	}
	return data[1:], nil
}

// writeRequest builds the request for one write step of an action.
func writeRequest(a *Step) (request, error) {
	switch a.Function {
	case fnWriteCoil, fnWriteCoils:
		if a.Table != TableCoil {
			return request{}, fmt.Errorf("write: function %d needs the coil table, got table %d", a.Function, a.Table)
		}
		if len(a.Words) != 0 {
			return request{}, fmt.Errorf("write: function %d takes coils, got %d words", a.Function, len(a.Words))
		}
	case fnWriteRegister, fnWriteRegisters:
		if a.Table != TableHolding {
			return request{}, fmt.Errorf("write: function %d needs the holding table, got table %d", a.Function, a.Table)
		}
		if len(a.Coils) != 0 {
			return request{}, fmt.Errorf("write: function %d takes words, got %d coils", a.Function, len(a.Coils))
		}
	default:
		return request{}, fmt.Errorf("write: unsupported function %d (want 5, 6, 15 or 16)", a.Function)
	}
	n := len(a.Words) + len(a.Coils)
	switch a.Function {
	case fnWriteCoil:
		if n != 1 {
			return request{}, fmt.Errorf("write: function 5 writes 1 coil, got %d", n)
		}
		v := uint16(0x0000)
		if a.Coils[0] {
			v = 0xFF00
		}
		return request{fn: fnWriteCoil, data: be16(a.Address, v)}, nil
	case fnWriteRegister:
		if n != 1 {
			return request{}, fmt.Errorf("write: function 6 writes 1 register, got %d", n)
		}
		return request{fn: fnWriteRegister, data: be16(a.Address, a.Words[0])}, nil
	case fnWriteCoils:
		if n < 1 || n > maxWriteCoils {
			return request{}, fmt.Errorf("write: function 15 writes 1..%d coils, got %d", maxWriteCoils, n)
		}
	case fnWriteRegisters:
		if n < 1 || n > maxWriteRegisters {
			return request{}, fmt.Errorf("write: function 16 writes 1..%d registers, got %d", maxWriteRegisters, n)
		}
	}
	if int(a.Address)+n > 1<<16 {
		return request{}, fmt.Errorf("write: address %d + %d items runs past address 65535", a.Address, n)
	}
	data := be16(a.Address, uint16(n))
	if a.Function == fnWriteCoils {
		packed := make([]byte, (n+7)/8)
		for i, c := range a.Coils {
			if c {
				packed[i/8] |= 1 << (i % 8)
			}
		}
		data = append(data, byte(len(packed)))
		data = append(data, packed...)
		return request{fn: fnWriteCoils, data: data}, nil
	}
	data = append(data, byte(2*n))
	for _, w := range a.Words {
		data = binary.BigEndian.AppendUint16(data, w)
	}
	return request{fn: fnWriteRegisters, data: data}, nil
}

// checkWriteReply checks a write reply: single writes echo address and value,
// multiple writes echo address and quantity — the first four request bytes.
func checkWriteReply(req request, fn byte, data []byte) error {
	if err := checkFunction(req.fn, fn, data); err != nil {
		return err
	}
	if len(data) != 4 || string(data) != string(req.data[:4]) {
		return fmt.Errorf("%w: write function %d: reply % x does not echo % x", adapters.ErrBadReply, req.fn, data, req.data[:4])
	}
	return nil
}

// deviceIDRequest asks for the device identification objects of a category
// (basic or regular) from object id onwards.
func deviceIDRequest(code, object byte) request {
	return request{fn: fnEncapsulated, data: []byte{meiDeviceID, code, object}}
}

// deviceIDReply is one decoded Read Device Identification reply.
type deviceIDReply struct {
	objects     map[byte]string
	moreFollows bool
	next        byte
}

// decodeDeviceIDReply decodes a function 43 / MEI 14 reply:
// MEI type, read device id code, conformity level, more follows, next object id,
// number of objects, then id, length, value per object.
func decodeDeviceIDReply(code byte, fn byte, data []byte) (deviceIDReply, error) {
	if err := checkFunction(fnEncapsulated, fn, data); err != nil {
		return deviceIDReply{}, err
	}
	if len(data) < 6 {
		return deviceIDReply{}, fmt.Errorf("%w: device identification reply of %d bytes, want at least 6", adapters.ErrBadReply, len(data))
	}
	if data[0] != meiDeviceID || data[1] != code {
		return deviceIDReply{}, fmt.Errorf("%w: device identification reply for MEI %d code %d, want MEI %d code %d",
			adapters.ErrBadReply, data[0], data[1], meiDeviceID, code)
	}
	r := deviceIDReply{moreFollows: data[3] == 0xFF, next: data[4], objects: map[byte]string{}}
	n := int(data[5])
	rest := data[6:]
	for i := range n {
		if len(rest) < 2 || len(rest)-2 < int(rest[1]) {
			return deviceIDReply{}, fmt.Errorf("%w: device identification object #%d is cut short", adapters.ErrBadReply, i)
		}
		id, size := rest[0], int(rest[1])
		r.objects[id] = string(rest[2 : 2+size])
		rest = rest[2+size:]
	}
	if len(rest) != 0 {
		return deviceIDReply{}, fmt.Errorf("%w: device identification reply has %d bytes after %d objects", adapters.ErrBadReply, len(rest), n)
	}
	return r, nil
}

func be16(vs ...uint16) []byte {
	b := make([]byte, 0, 2*len(vs))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}
