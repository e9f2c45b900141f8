package modbus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
)

func TestReadRequest(t *testing.T) {
	for _, c := range []struct {
		table        Table
		start, count uint16
		fn           byte
		ok           bool
	}{
		{TableCoil, 0, 2000, 1, true},
		{TableDiscrete, 10, 1, 2, true},
		{TableHolding, 65535, 1, 3, true},
		{TableInput, 0, 125, 4, true},
		{TableInput, 0, 126, 0, false},
		{TableHolding, 65535, 2, 0, false},
		{TableCoil, 0, 0, 0, false},
		{Table(9), 0, 1, 0, false},
	} {
		req, err := readRequest(c.table, c.start, c.count)
		if (err == nil) != c.ok || (c.ok && (req.fn != c.fn || len(req.data) != 4)) {
			t.Errorf("readRequest(%d, %d, %d) = %+v, %v", c.table, c.start, c.count, req, err)
		}
	}
}

func TestWriteRequestEncoding(t *testing.T) {
	req, err := writeRequest(&Step{Function: 15, Table: TableCoil, Address: 19,
		Coils: []bool{true, false, true, true, false, false, true, true, true, false}})
	if err != nil {
		t.Fatal(err)
	}
	// The spec's own example: coils 20..29 = CD 01.
	if want := []byte{0, 19, 0, 10, 2, 0xCD, 0x01}; !bytes.Equal(req.data, want) {
		t.Fatalf("function 15 data % x, want % x", req.data, want)
	}
	req, err = writeRequest(&Step{Function: 16, Table: TableHolding, Address: 1, Words: []uint16{0x000A, 0x0102}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 1, 0, 2, 4, 0, 0x0A, 1, 2}; !bytes.Equal(req.data, want) {
		t.Fatalf("function 16 data % x, want % x", req.data, want)
	}
	req, _ = writeRequest(&Step{Function: 5, Table: TableCoil, Address: 172, Coils: []bool{true}})
	if want := []byte{0, 0xAC, 0xFF, 0}; !bytes.Equal(req.data, want) {
		t.Fatalf("function 5 data % x, want % x", req.data, want)
	}
	if err := checkWriteReply(req, 5, []byte{0, 0xAC, 0xFF, 0}); err != nil {
		t.Fatalf("echo refused: %v", err)
	}
	if err := checkWriteReply(req, 5, []byte{0, 0xAC, 0, 0}); !errors.Is(err, adapters.ErrBadReply) {
		t.Fatalf("wrong echo: want ErrBadReply, got %v", err)
	}
}

func TestDecodeDeviceIDReply(t *testing.T) {
	data := []byte{14, 1, 0x81, 0xFF, 2, 2, 0, 4, 'A', 'c', 'm', 'e', 1, 3, 'T', 'H', '1'}
	r, err := decodeDeviceIDReply(1, 43, data)
	if err != nil {
		t.Fatal(err)
	}
	if r.objects[0] != "Acme" || r.objects[1] != "TH1" || !r.moreFollows || r.next != 2 {
		t.Fatalf("got %+v", r)
	}
	for _, bad := range [][]byte{data[:5], data[:len(data)-1], append(bytes.Clone(data), 0), {14, 2, 0x81, 0, 0, 0}} {
		if _, err := decodeDeviceIDReply(1, 43, bad); !errors.Is(err, adapters.ErrBadReply) {
			t.Errorf("% x: want ErrBadReply, got %v", bad, err)
		}
	}
	var ex *ExceptionError
	if _, err := decodeDeviceIDReply(1, 43|0x80, []byte{1}); !errors.As(err, &ex) || ex.Code != 1 || ex.Function != 43 {
		t.Fatalf("exception: got %v", err)
	}
}

func FuzzDecodeReadReply(f *testing.F) {
	f.Add(byte(3), uint16(2), byte(3), []byte{4, 0, 1, 0, 2})
	f.Add(byte(1), uint16(9), byte(1), []byte{2, 0xFF, 0x01})
	f.Add(byte(4), uint16(1), byte(0x84), []byte{2})
	f.Add(byte(3), uint16(1), byte(3), []byte{})
	f.Add(byte(2), uint16(2000), byte(2), []byte{250})
	f.Fuzz(func(t *testing.T, reqFn byte, count uint16, fn byte, data []byte) {
		regs, err := decodeReadReply(reqFn, count, fn, data)
		if err != nil {
			var ex *ExceptionError
			if !errors.Is(err, adapters.ErrBadReply) && !errors.As(err, &ex) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(regs) != replySize(reqFn, count) || fn != reqFn {
			t.Fatalf("accepted %d bytes for %d items of function %d (reply function %d)", len(regs), count, reqFn, fn)
		}
	})
}

func FuzzDecodeDeviceIDReply(f *testing.F) {
	f.Add(byte(1), []byte{14, 1, 0x81, 0, 0, 3, 0, 4, 'A', 'c', 'm', 'e', 1, 3, 'T', 'H', '1', 2, 3, '1', '.', '0'})
	f.Add(byte(2), []byte{14, 2, 0x82, 0xFF, 5, 1, 3, 0})
	f.Add(byte(1), []byte{14, 1, 0x81, 0, 0, 9, 0, 200})
	f.Add(byte(1), []byte{14})
	f.Fuzz(func(t *testing.T, code byte, data []byte) {
		r, err := decodeDeviceIDReply(code, 43, data)
		if err != nil {
			if !errors.Is(err, adapters.ErrBadReply) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		size := 6
		for _, v := range r.objects {
			size += 2 + len(v)
		}
		if size > len(data) {
			t.Fatalf("objects hold more bytes (%d) than the reply (%d)", size, len(data))
		}
		_ = identity(r.objects)
	})
}
