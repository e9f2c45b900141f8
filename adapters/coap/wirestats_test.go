package coap_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/gateway/logging"
	"github.com/fieldgate/fieldgate/models"
)

type linkLog struct {
	mu     sync.Mutex
	events []string
}

func (l *linkLog) on(link string, up bool, _ error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf("%s up=%v", link, up))
}

func (l *linkLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// TestWireStatsFramesAndLink: exchanges, refusals and timeouts are counted;
// requests and responses are traced at debug level; the endpoint's link is
// reported up at its first answer (as the other buses' links are), stays up
// when only a resource is slow, and goes down when the device is gone.
func TestWireStatsFramesAndLink(t *testing.T) {
	d := startDevice(t, benchYAML, 0)
	var logs logging.Buffer
	var links linkLog
	bb, err := coap.New().Open(context.Background(), adapters.BusSpec{Name: "coap", OnLink: links.on,
		Settings: json.RawMessage(fmt.Sprintf(`{"hosts": [%q], "timeout": "2s"}`, d.Addr())),
		Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bb.Close() })
	ctx := context.Background()
	read := func(path string) *models.PollGroup {
		return &models.PollGroup{Plan: []coap.Read{{Path: path, Format: coap.FormatText, Scale: 1, Kind: models.KindFloat}}}
	}
	if _, err := pollOn(bb, ctx, d.Addr(), read("/sensors/temp"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pollOn(bb, ctx, d.Addr(), read("/broken"), nil); !errors.Is(err, adapters.ErrBadReply) {
		t.Fatalf("/broken: %v", err)
	}
	if _, err := pollOn(bb, ctx, d.Addr(), read("/silent"), nil); !errors.Is(err, adapters.ErrTimeout) {
		t.Fatalf("/silent: %v", err)
	}
	got := bb.(adapters.WireCounter).WireStats()
	if want := (adapters.WireStats{Transactions: 3, Exceptions: 1, Timeouts: 1}); got != want {
		t.Errorf("wire stats %+v, want %+v", got, want)
	}
	up := d.Addr() + " up=true"
	if ev := links.list(); len(ev) != 1 || ev[0] != up {
		t.Errorf("link events %v, want [%s] (a slow resource is not a lost link)", ev, up)
	}
	out := logs.String()
	for _, w := range []string{`msg="frame tx" method=GET path=/sensors/temp len=0`, `msg="frame rx" path=/sensors/temp code=Content`,
		`msg="frame rx" path=/broken code=NotFound`} {
		if !strings.Contains(out, w) {
			t.Errorf("debug log lacks %q:\n%s", w, out)
		}
	}

	// The device goes away: the link goes down.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ev := links.list(); len(ev) == 2 {
			break
		}
		_, _ = pollOn(bb, ctx, d.Addr(), read("/sensors/temp"), nil)
	}
	if ev := links.list(); len(ev) != 2 || ev[1] != d.Addr()+" up=false" {
		t.Errorf("link events %v after the device went away, want [%s %s up=false]", ev, up, d.Addr())
	}
}
