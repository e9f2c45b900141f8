package modbus

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// A target is resolved when its device is attached: a bad one fails then,
// naming itself, and an attached device polls and writes without it.
func TestAttachResolvesATargetOnce(t *testing.T) {
	srv := startEmu(t, modbusemu.UnitSpec{ID: 3, Holding: map[uint16]uint16{0: 7, 1: 8}})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q]}`, srv.Addr()))
	for _, bad := range []string{"127.0.0.1:1/3", srv.Addr(), srv.Addr() + "/300", "not-an-endpoint/1"} {
		if _, err := bus.Attach(bad); !errors.Is(err, adapters.ErrUnknownTarget) {
			t.Errorf("Attach(%q) = %v, want ErrUnknownTarget", bad, err)
		}
	}
	dev, err := bus.Attach(Target(srv.Addr(), 3))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out, err := dev.Poll(ctx, holdingGroup(2), nil)
	if err != nil || len(out) != 2 || out[0].Value.Int != 7 || out[1].Value.Int != 8 {
		t.Fatalf("poll: %+v, %v", out, err)
	}
	write := &models.Action{Name: "write", Plan: []Step{{Function: 6, Table: TableHolding, Address: 1, Words: []uint16{99}}}}
	if err := dev.Execute(ctx, write); err != nil {
		t.Fatal(err)
	}
	if out, err = dev.Poll(ctx, holdingGroup(2), out[:0]); err != nil || out[1].Value.Int != 99 {
		t.Fatalf("after the write: %+v, %v", out, err)
	}
}

func TestAttachRTUUnit(t *testing.T) {
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, regsUnit(5, 2, 40))
	bus := openRTUBus(t, l.settings(115200, ""))
	for _, bad := range []string{RTUTarget("another-port", 5), l.target(0), "rs485-test/x"} {
		if _, err := bus.Attach(bad); !errors.Is(err, adapters.ErrUnknownTarget) {
			t.Errorf("Attach(%q) = %v, want ErrUnknownTarget", bad, err)
		}
	}
	dev, err := bus.Attach(l.target(5))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := dev.Poll(context.Background(), holdingGroup(2), nil); err != nil || len(out) != 2 {
		t.Fatalf("poll: %+v, %v", out, err)
	}
}
