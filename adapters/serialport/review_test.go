package serialport

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// TestLinkMovedUnderSteadyTraffic: a path identity whose link is pointed at
// another tty while requests keep coming (each wake used to restart the
// presence ticker, and a queue that never empties kept serve from returning)
// is still noticed, and the owner reopens the new tty.
func TestLinkMovedUnderSteadyTraffic(t *testing.T) {
	dir := t.TempDir()
	a := newLine(t, serialemu.LineConfig{Dir: dir, Name: "a"})
	b := newLine(t, serialemu.LineConfig{Dir: dir, Name: "b"})
	link := filepath.Join(dir, "by-id-link")
	if err := os.Symlink(a.TTY(), link); err != nil {
		t.Fatal(err)
	}
	o := NewOwner(Config{Identity: Identity{Path: link}, Line: line8N1, Retry: 20 * time.Millisecond})
	defer o.Close()
	if !o.Up() || o.Info().Device != a.TTY() {
		t.Fatalf("first open: up %v, device %q, want %q", o.Up(), o.Info().Device, a.TTY())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 { // traffic: the queue is rarely empty, and wakes come every few ms
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000 && ctx.Err() == nil; i++ {
				err := o.Do(ctx, false, func(c Conn) error {
					time.Sleep(2 * time.Millisecond)
					return nil
				})
				if err != nil {
					_ = adapters.Sleep(ctx, 2*time.Millisecond)
				}
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(100 * time.Millisecond)
	tmp := link + ".new"
	if err := os.Symlink(b.TTY(), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "owner to reopen the tty the link now leads to", func() bool {
		return o.Up() && o.Info().Device == b.TTY()
	})
}

// TestDoRacingCloseReturns: a Do that passed its closed check just as Close
// ran must not queue a request nobody serves (it used to wait forever).
func TestDoRacingCloseReturns(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	for round := range 40 {
		o := NewOwner(Config{Identity: Identity{Path: l.Path()}, Line: line8N1, Retry: 20 * time.Millisecond})
		if !o.Up() {
			t.Fatalf("round %d: port not up", round)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range 100000 {
					err := o.Do(context.Background(), false, func(Conn) error { return nil })
					if err != nil {
						if !errors.Is(err, adapters.ErrLinkDown) {
							t.Errorf("Do after Close = %v, want ErrLinkDown", err)
						}
						return
					}
				}
			}()
		}
		close(start)
		time.Sleep(time.Millisecond)
		o.Close()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Do still blocked 5s after Close", round)
		}
	}
}
