package modbus

import (
	"fmt"

	"github.com/fieldgate/fieldgate/adapters"
)

// RTU frame limits: unit id, function code and CRC around at most 252 data bytes.
const (
	rtuMinFrame       = 4
	rtuMaxFrame       = 256
	rtuExceptionFrame = 5
	rtuWriteFrame     = 8
	fnMaskWrite       = 0x16
	fnReadWrite       = 0x17
	rtuDeviceIDHeader = 8 // unit, 43, MEI, code, conformity, more follows, next id, object count
)

// rtuReplyLength tells how long the reply frame that starts with buf is, for a
// request of function fn to unit, from the bytes seen so far (Modbus over
// Serial Line v1.02: the master knows a reply's end from its function code).
//
//   - need > 0, known: the frame is exactly need bytes long.
//   - need > 0, !known: at least need bytes are needed to tell more (fn 43/14
//     replies are parsed object by object).
//   - need == -1: the length cannot be told from the bytes (a reply to a
//     function code this package does not know): the frame ends on a gap.
//
// err (wrapping adapters.ErrBadReply) when buf cannot start a valid reply: a
// reply from another unit, to another function, or longer than a frame can be.
func rtuReplyLength(unit, fn byte, buf []byte) (need int, known bool, err error) {
	need, known, err = rtuReplyLen(unit, fn, buf)
	if err == nil && need > rtuMaxFrame {
		return 0, false, fmt.Errorf("%w: reply would be %d bytes, longer than the %d an RTU frame can hold", adapters.ErrBadReply, need, rtuMaxFrame)
	}
	return need, known, err
}

func rtuReplyLen(unit, fn byte, buf []byte) (int, bool, error) {
	if len(buf) < 2 {
		if len(buf) == 1 && buf[0] != unit {
			return 0, false, fmt.Errorf("%w: reply from unit %d to a request to unit %d", adapters.ErrBadReply, buf[0], unit)
		}
		return 2, false, nil
	}
	if buf[0] != unit {
		return 0, false, fmt.Errorf("%w: reply from unit %d to a request to unit %d", adapters.ErrBadReply, buf[0], unit)
	}
	switch buf[1] {
	case fn | exceptionFlag:
		return rtuExceptionFrame, true, nil
	case fn:
	default:
		return 0, false, fmt.Errorf("%w: function %d in reply to function %d", adapters.ErrBadReply, buf[1], fn)
	}
	switch fn {
	case fnReadCoils, fnReadDiscretes, fnReadHolding, fnReadInput, fnReadWrite:
		if len(buf) < 3 {
			return 3, false, nil
		}
		return 3 + int(buf[2]) + 2, true, nil
	case fnWriteCoil, fnWriteRegister, fnWriteCoils, fnWriteRegisters:
		return rtuWriteFrame, true, nil
	case fnMaskWrite:
		return 10, true, nil
	case fnEncapsulated:
		return deviceIDReplyLength(buf)
	}
	return -1, false, nil
}

// deviceIDReplyLength follows a function 43 / MEI 14 reply object by object.
func deviceIDReplyLength(buf []byte) (int, bool, error) {
	if len(buf) < 3 {
		return 3, false, nil
	}
	if buf[2] != meiDeviceID {
		return -1, false, nil // another MEI transport: its length is not ours to know
	}
	if len(buf) < rtuDeviceIDHeader {
		return rtuDeviceIDHeader, false, nil
	}
	pos := rtuDeviceIDHeader
	for range int(buf[7]) {
		if len(buf) < pos+2 {
			return pos + 2, false, nil
		}
		if pos += 2 + int(buf[pos+1]); pos+2 > rtuMaxFrame {
			break // too long: refused by the caller
		}
	}
	return pos + 2, true, nil
}
