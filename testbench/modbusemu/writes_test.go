package modbusemu

import (
	"context"
	"testing"
)

// TestWritesPerAddressAndValue: every executed write is counted at each address
// it covers and per value written, over every write function; refused writes
// are not counted, and a reboot keeps the counts.
func TestWritesPerAddressAndValue(t *testing.T) {
	spec := testUnit(1)
	spec.Holding[100] = 0
	spec.Reboot = &RebootTrigger{Table: "holding", Address: 100, Value: 0xA5A5}
	s := startServer(t, spec)
	u := s.Unit(1)
	c := gridClient(t, s, 1)
	ctx := context.Background()

	steps := []struct {
		name string
		do   func() ([]byte, error)
	}{
		{"fn 6 holding 2 = 7", func() ([]byte, error) { return c.WriteSingleRegister(ctx, 2, 7) }},
		{"fn 6 holding 2 = 7 again", func() ([]byte, error) { return c.WriteSingleRegister(ctx, 2, 7) }},
		{"fn 16 holding 2..3 = 8, 9", func() ([]byte, error) { return c.WriteMultipleRegisters(ctx, 2, 2, []byte{0, 8, 0, 9}) }},
		{"fn 5 coil 1 on", func() ([]byte, error) { return c.WriteSingleCoil(ctx, 1, 0xFF00) }},
		{"fn 15 coils 0..2 = on, off, on", func() ([]byte, error) { return c.WriteMultipleCoils(ctx, 0, 3, []byte{0b101}) }},
		{"fn 23 write holding 4 = 11, read 0", func() ([]byte, error) { return c.ReadWriteMultipleRegisters(ctx, 0, 1, 4, 1, []byte{0, 11}) }},
		{"fn 6 reboot trigger", func() ([]byte, error) { return c.WriteSingleRegister(ctx, 100, 0xA5A5) }},
	}
	for _, st := range steps {
		if _, err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	if _, err := c.WriteSingleRegister(ctx, 50, 1); err == nil {
		t.Fatal("write to absent holding 50: want an exception")
	}

	for _, w := range []struct {
		table     string
		addr, val uint16
		at, of    uint64
	}{
		{"holding", 2, 7, 3, 2},
		{"holding", 2, 8, 3, 1},
		{"holding", 3, 9, 1, 1},
		{"holding", 4, 11, 1, 1},
		{"holding", 0, 0, 0, 0}, // only read by fn 23
		{"holding", 50, 1, 0, 0},
		{"holding", 100, 0xA5A5, 1, 1},
		{"coil", 0, 1, 1, 1},
		{"coil", 1, 1, 2, 1},
		{"coil", 1, 0, 2, 1},
		{"coil", 2, 1, 1, 1},
		{"input", 2, 7, 0, 0},
	} {
		if got := u.WritesAt(w.table, w.addr); got != w.at {
			t.Errorf("WritesAt(%s, %d) = %d, want %d", w.table, w.addr, got, w.at)
		}
		if got := u.WritesOf(w.table, w.addr, w.val); got != w.of {
			t.Errorf("WritesOf(%s, %d, %d) = %d, want %d", w.table, w.addr, w.val, got, w.of)
		}
	}
	if u.Reboots() != 1 || u.Holding(2) != 102 {
		t.Errorf("the trigger did not reboot the unit: reboots %d, holding 2 = %d", u.Reboots(), u.Holding(2))
	}
	if u.Writes() != 7 {
		t.Errorf("Writes = %d, want 7", u.Writes())
	}
}
