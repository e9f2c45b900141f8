package modbusemu

import "encoding/binary"

// Function codes served.
const (
	fnReadCoils          = 0x01
	fnReadDiscretes      = 0x02
	fnReadHolding        = 0x03
	fnReadInput          = 0x04
	fnWriteCoil          = 0x05
	fnWriteRegister      = 0x06
	fnWriteCoils         = 0x0F
	fnWriteRegisters     = 0x10
	fnReadWriteRegisters = 0x17
	fnEncapsulated       = 0x2B
	meiReadDeviceID      = 0x0E
)

// Exception codes answered.
const (
	excIllegalFunction = 0x01
	excIllegalAddress  = 0x02
	excIllegalValue    = 0x03
)

// Spec limits on quantities per request (Modbus Application Protocol v1.1b3).
const (
	maxReadBits       = 2000
	maxReadRegs       = 125
	maxWriteBits      = 1968
	maxWriteRegs      = 123
	maxRWWriteRegs    = 121
	maxPDU            = 253
	conformityRegular = 0x82 // regular identification, stream and individual access
)

// handle executes one request PDU against the unit, atomically, and returns the
// response PDU (nil: no answer possible, the PDU was empty). reboot reports that
// the reboot trigger was written: it is counted at once, and the caller calls
// restart after sending the reply.
func (u *Unit) handle(req []byte) (resp []byte, reboot bool) {
	if len(req) == 0 {
		return nil, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	fn := req[0]
	var exc byte
	switch fn {
	case fnReadCoils:
		resp, exc = u.readBits(req, u.coils)
	case fnReadDiscretes:
		resp, exc = u.readBits(req, u.discr)
	case fnReadHolding:
		resp, exc = u.readRegs(req, "holding", u.hold)
	case fnReadInput:
		resp, exc = u.readRegs(req, "input", u.input)
	case fnWriteCoil:
		resp, reboot, exc = u.writeCoil(req)
	case fnWriteRegister:
		resp, reboot, exc = u.writeRegister(req)
	case fnWriteCoils:
		resp, reboot, exc = u.writeCoils(req)
	case fnWriteRegisters:
		resp, reboot, exc = u.writeRegisters(req)
	case fnReadWriteRegisters:
		resp, reboot, exc = u.readWriteRegisters(req)
	case fnEncapsulated:
		resp, exc = u.readDeviceID(req)
	default:
		exc = excIllegalFunction
	}
	if exc != 0 {
		return []byte{fn | 0x80, exc}, false
	}
	switch fn {
	case fnWriteCoil, fnWriteRegister, fnWriteCoils, fnWriteRegisters, fnReadWriteRegisters:
		u.count.writes++
		u.written.record(req)
	}
	if reboot {
		u.count.reboots++ // counted now; the state resets once the reply is out
	}
	return resp, reboot
}

// addrQty decodes the address and quantity of a 5-byte request and checks them.
func addrQty(req []byte, maxQty int) (addr uint16, qty int, exc byte) {
	if len(req) != 5 {
		return 0, 0, excIllegalValue
	}
	addr = binary.BigEndian.Uint16(req[1:])
	qty = int(binary.BigEndian.Uint16(req[3:]))
	if qty < 1 || qty > maxQty {
		return 0, 0, excIllegalValue
	}
	if int(addr)+qty > 0x10000 {
		return 0, 0, excIllegalAddress
	}
	return addr, qty, 0
}

func (u *Unit) readBits(req []byte, m map[uint16]bool) ([]byte, byte) {
	addr, qty, exc := addrQty(req, maxReadBits)
	if exc != 0 {
		return nil, exc
	}
	n := (qty + 7) / 8
	resp := make([]byte, 2+n)
	resp[0], resp[1] = req[0], byte(n)
	for i := range qty {
		v, ok := m[addr+uint16(i)]
		if !ok {
			return nil, excIllegalAddress
		}
		if v {
			resp[2+i/8] |= 1 << (i % 8)
		}
	}
	return resp, 0
}

func (u *Unit) readRegs(req []byte, table string, m map[uint16]uint16) ([]byte, byte) {
	addr, qty, exc := addrQty(req, maxReadRegs)
	if exc != 0 {
		return nil, exc
	}
	return u.regsReply(req[0], table, m, addr, qty)
}

func (u *Unit) regsReply(fn byte, table string, m map[uint16]uint16, addr uint16, qty int) ([]byte, byte) {
	resp := make([]byte, 2+2*qty)
	resp[0], resp[1] = fn, byte(2*qty)
	for i := range qty {
		v, ok := u.readReg(table, m, addr+uint16(i))
		if !ok {
			return nil, excIllegalAddress
		}
		binary.BigEndian.PutUint16(resp[2+2*i:], v)
	}
	return resp, 0
}

// holdingPresent reports whether holding register a can be written.
func (u *Unit) holdingPresent(a uint16) bool {
	if _, ok := u.hold[a]; ok {
		return true
	}
	_, ok := u.drift[tableAddr{"holding", a}]
	return ok
}

func (u *Unit) rebootsOnRegister(a, v uint16) bool {
	r := u.spec.Reboot
	return r != nil && r.Table == "holding" && r.Address == a && r.Value == v
}

func (u *Unit) rebootsOnCoil(a uint16, v bool) bool {
	r := u.spec.Reboot
	return r != nil && r.Table == "coil" && r.Address == a && v
}

func (u *Unit) writeCoil(req []byte) ([]byte, bool, byte) {
	if len(req) != 5 {
		return nil, false, excIllegalValue
	}
	addr, raw := binary.BigEndian.Uint16(req[1:]), binary.BigEndian.Uint16(req[3:])
	if raw != 0xFF00 && raw != 0x0000 {
		return nil, false, excIllegalValue
	}
	if _, ok := u.coils[addr]; !ok {
		return nil, false, excIllegalAddress
	}
	v := raw == 0xFF00
	u.coils[addr] = v
	return append([]byte(nil), req...), u.rebootsOnCoil(addr, v), 0
}

func (u *Unit) writeRegister(req []byte) ([]byte, bool, byte) {
	if len(req) != 5 {
		return nil, false, excIllegalValue
	}
	addr, v := binary.BigEndian.Uint16(req[1:]), binary.BigEndian.Uint16(req[3:])
	if !u.holdingPresent(addr) {
		return nil, false, excIllegalAddress
	}
	u.hold[addr] = v
	return append([]byte(nil), req...), u.rebootsOnRegister(addr, v), 0
}

func (u *Unit) writeCoils(req []byte) ([]byte, bool, byte) {
	if len(req) < 6 {
		return nil, false, excIllegalValue
	}
	addr, qty, n := binary.BigEndian.Uint16(req[1:]), int(binary.BigEndian.Uint16(req[3:])), int(req[5])
	if qty < 1 || qty > maxWriteBits || n != (qty+7)/8 || len(req) != 6+n {
		return nil, false, excIllegalValue
	}
	if int(addr)+qty > 0x10000 {
		return nil, false, excIllegalAddress
	}
	for i := range qty {
		if _, ok := u.coils[addr+uint16(i)]; !ok {
			return nil, false, excIllegalAddress
		}
	}
	reboot := false
	for i := range qty {
		a, v := addr+uint16(i), req[6+i/8]&(1<<(i%8)) != 0
		u.coils[a] = v
		reboot = reboot || u.rebootsOnCoil(a, v)
	}
	return append([]byte(nil), req[:5]...), reboot, 0
}

// storeRegs writes qty registers from data at addr, all or none.
func (u *Unit) storeRegs(addr uint16, qty int, data []byte) (reboot bool, exc byte) {
	if int(addr)+qty > 0x10000 {
		return false, excIllegalAddress
	}
	for i := range qty {
		if !u.holdingPresent(addr + uint16(i)) {
			return false, excIllegalAddress
		}
	}
	for i := range qty {
		a, v := addr+uint16(i), binary.BigEndian.Uint16(data[2*i:])
		u.hold[a] = v
		reboot = reboot || u.rebootsOnRegister(a, v)
	}
	return reboot, 0
}

func (u *Unit) writeRegisters(req []byte) ([]byte, bool, byte) {
	if len(req) < 6 {
		return nil, false, excIllegalValue
	}
	addr, qty, n := binary.BigEndian.Uint16(req[1:]), int(binary.BigEndian.Uint16(req[3:])), int(req[5])
	if qty < 1 || qty > maxWriteRegs || n != 2*qty || len(req) != 6+n {
		return nil, false, excIllegalValue
	}
	reboot, exc := u.storeRegs(addr, qty, req[6:])
	if exc != 0 {
		return nil, false, exc
	}
	return append([]byte(nil), req[:5]...), reboot, 0
}

// readWriteRegisters is function 23: the write happens before the read.
func (u *Unit) readWriteRegisters(req []byte) ([]byte, bool, byte) {
	if len(req) < 10 {
		return nil, false, excIllegalValue
	}
	rAddr, rQty := binary.BigEndian.Uint16(req[1:]), int(binary.BigEndian.Uint16(req[3:]))
	wAddr, wQty := binary.BigEndian.Uint16(req[5:]), int(binary.BigEndian.Uint16(req[7:]))
	n := int(req[9])
	if rQty < 1 || rQty > maxReadRegs || wQty < 1 || wQty > maxRWWriteRegs || n != 2*wQty || len(req) != 10+n {
		return nil, false, excIllegalValue
	}
	if int(rAddr)+rQty > 0x10000 {
		return nil, false, excIllegalAddress
	}
	for i := range rQty {
		if _, ok := u.readReg("holding", u.hold, rAddr+uint16(i)); !ok {
			return nil, false, excIllegalAddress
		}
	}
	reboot, exc := u.storeRegs(wAddr, wQty, req[10:])
	if exc != 0 {
		return nil, false, exc
	}
	resp, exc := u.regsReply(req[0], "holding", u.hold, rAddr, rQty)
	return resp, reboot, exc
}

// readDeviceID is function 43 / MEI 14, Read Device Identification. Stream
// access (codes 1 basic, 2 regular, 3 extended: this emulator has no extended
// objects, so 3 answers like 2) splits objects over several responses with
// "more follows" when they do not fit one PDU; code 4 reads one object.
func (u *Unit) readDeviceID(req []byte) ([]byte, byte) {
	if len(req) < 2 || req[1] != meiReadDeviceID || u.spec.NoIdentity {
		return nil, excIllegalFunction
	}
	if len(req) != 4 {
		return nil, excIllegalValue
	}
	code, objID := req[2], req[3]
	objs := u.spec.Identity.objects()
	known := func(id byte) bool { return id <= 2 || (id <= 6 && objs[id] != "") }
	last := byte(2)
	switch code {
	case 1:
	case 2, 3:
		last = 6
	case 4:
		if !known(objID) {
			return nil, excIllegalAddress
		}
		resp := []byte{fnEncapsulated, meiReadDeviceID, code, conformityRegular, 0, 0, 1}
		return appendObject(resp, objID, objs[objID]), 0
	default:
		return nil, excIllegalValue
	}
	if objID > last || !known(objID) {
		objID = 0 // the spec: an unknown object id restarts the stream at object 0
	}
	resp := []byte{fnEncapsulated, meiReadDeviceID, code, conformityRegular, 0, 0, 0}
	for id := objID; id <= last; id++ {
		if !known(id) {
			continue
		}
		if len(resp)+2+len(objs[id]) > maxPDU && resp[6] > 0 {
			resp[4], resp[5] = 0xFF, id // more follows, from object id
			break
		}
		resp = appendObject(resp, id, objs[id])
		resp[6]++
	}
	return resp, 0
}

func appendObject(resp []byte, id byte, v string) []byte {
	if len(v) > maxIdentityLen {
		v = v[:maxIdentityLen]
	}
	resp = append(resp, id, byte(len(v)))
	return append(resp, v...)
}
