package serial

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/gateway/logging"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/textemu"
)

// TestWireStatsAndFrames: commands written and replies missed are counted,
// and each command and reply is traced in hex at debug level.
func TestWireStatsAndFrames(t *testing.T) {
	dev := startDevice(t, tx9(t))
	var logs logging.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	bb, err := NewText().Open(context.Background(), adapters.BusSpec{Name: "rs232", Logger: log,
		Settings: json.RawMessage(fmt.Sprintf(`{"port": %q}`, dev.Line().Path()))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bb.Close() })
	b := bb.(*bus)
	c := tx9Model(t)
	ctx := ctxT(t)
	temp := &models.PollGroup{Plan: groupReads(c.Groups[0])[:1]}
	waitFor(t, "port up", func() error { _, err := b.Poll(ctx, b.portID, temp, nil); return err })
	before := b.WireStats()
	if before.Transactions == 0 || before.Timeouts != before.Transactions-1 {
		t.Fatalf("after the first answered poll: %+v", before)
	}
	if _, err := b.Poll(ctx, b.portID, temp, nil); err != nil {
		t.Fatal(err)
	}
	dev.SetFaults(textemu.Faults{Silent: true})
	if _, err := b.Poll(ctx, b.portID, temp, nil); !errors.Is(err, adapters.ErrTimeout) {
		t.Fatalf("silent device: %v", err)
	}
	got := b.WireStats()
	want := adapters.WireStats{Transactions: before.Transactions + 2, Timeouts: before.Timeouts + 1}
	if got != want {
		t.Errorf("wire stats %+v, want %+v", got, want)
	}
	out := logs.String()
	for _, w := range []string{`msg="frame tx"`, "hex=" + hex.EncodeToString(groupReads(*temp)[0].Request), `msg="frame rx"`, "hex=" + hex.EncodeToString([]byte("T=21.5"))} {
		if !strings.Contains(out, w) {
			t.Errorf("debug log lacks %q:\n%s", w, out)
		}
	}
}
