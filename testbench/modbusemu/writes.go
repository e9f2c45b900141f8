package modbusemu

import "encoding/binary"

// writeLog counts executed writes per register or coil, and per value written,
// so a test can prove that an operation reached the device exactly once. It
// survives reboots (a reboot resets the registers, not the device's history).
// The caller holds the unit's mu.
type writeLog struct {
	at    map[tableAddr]uint64
	value map[tableAddrValue]uint64
}

type tableAddrValue struct {
	tableAddr
	value uint16
}

func (l *writeLog) add(table string, a, v uint16) {
	if l.at == nil {
		l.at, l.value = map[tableAddr]uint64{}, map[tableAddrValue]uint64{}
	}
	k := tableAddr{table, a}
	l.at[k]++
	l.value[tableAddrValue{k, v}]++
}

// record counts the writes of an executed (not refused) write request PDU.
func (l *writeLog) record(req []byte) {
	switch req[0] {
	case fnWriteCoil:
		l.add("coil", binary.BigEndian.Uint16(req[1:]), boolWord(binary.BigEndian.Uint16(req[3:]) == 0xFF00))
	case fnWriteRegister:
		l.add("holding", binary.BigEndian.Uint16(req[1:]), binary.BigEndian.Uint16(req[3:]))
	case fnWriteCoils:
		addr, qty := binary.BigEndian.Uint16(req[1:]), int(binary.BigEndian.Uint16(req[3:]))
		for i := range qty {
			l.add("coil", addr+uint16(i), boolWord(req[6+i/8]&(1<<(i%8)) != 0))
		}
	case fnWriteRegisters:
		l.regs(binary.BigEndian.Uint16(req[1:]), int(binary.BigEndian.Uint16(req[3:])), req[6:])
	case fnReadWriteRegisters:
		l.regs(binary.BigEndian.Uint16(req[5:]), int(binary.BigEndian.Uint16(req[7:])), req[10:])
	}
}

func (l *writeLog) regs(addr uint16, qty int, data []byte) {
	for i := range qty {
		l.add("holding", addr+uint16(i), binary.BigEndian.Uint16(data[2*i:]))
	}
}

func boolWord(b bool) uint16 {
	if b {
		return 1
	}
	return 0
}

// WritesAt is how many executed write requests wrote table ("holding" or
// "coil") at address a. A multi-register write counts once for each address it
// covers; requests answered with an exception do not count.
func (u *Unit) WritesAt(table string, a uint16) uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.written.at[tableAddr{table, a}]
}

// WritesOf is how many executed write requests wrote value v to table at
// address a (a coil's value is 1 for on, 0 for off). With a distinct value per
// operation it tells how often each operation reached the device.
func (u *Unit) WritesOf(table string, a, v uint16) uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.written.value[tableAddrValue{tableAddr{table, a}, v}]
}
