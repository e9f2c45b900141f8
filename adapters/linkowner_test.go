package adapters

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The link owner's tests talk to a real loopback TCP server: a line echoed
// back, or (for lines starting "hold") no answer at all.

// echoServer serves on addr until the test ends; it returns its address.
func echoServer(t *testing.T, addr string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				r := bufio.NewReader(c)
				for range 10000 {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(line, "hold") {
						continue
					}
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			})
		}
	})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = ln.Close()
			mu.Lock()
			for _, c := range conns {
				_ = c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// lineLink is a LinkConfig for a TCP connection to addr that counts its
// dials and records the states it reports.
type lineLink struct {
	addr   string
	dials  atomic.Int32
	mu     sync.Mutex
	states []bool
}

func (l *lineLink) config() LinkConfig[net.Conn] {
	return LinkConfig[net.Conn]{
		Name: "tcp " + l.addr,
		Open: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", l.addr)
			if err == nil {
				l.dials.Add(1)
			}
			return c, err
		},
		Close:     func(c net.Conn) { _ = c.Close() },
		Interrupt: func(c net.Conn) { _ = c.Close() },
		OnState: func(up bool, _ error) {
			l.mu.Lock()
			l.states = append(l.states, up)
			l.mu.Unlock()
		},
	}
}

func (l *lineLink) reported() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]bool(nil), l.states...)
}

// exchange writes line and reads its echo; the read waits a minute, as a
// library with a long timeout of its own would.
func exchange(c net.Conn, line string) (string, error) {
	if err := c.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	buf := make([]byte, len(line)+1)
	if _, err := io.ReadFull(c, buf); err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(buf), "\n"), nil
}

// echo is a transaction that checks its echo.
func echo(line string) func(context.Context, net.Conn) error {
	return func(_ context.Context, c net.Conn) error {
		got, err := exchange(c, line)
		if err == nil && got != line {
			err = errors.New("echo " + got + ", want " + line)
		}
		return err
	}
}

// busy starts a transaction that holds the owner until release is closed.
func busy[C any](t *testing.T, o *LinkOwner[C]) (release func(), done <-chan error) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- o.Do(context.Background(), false, func(ctx context.Context, _ C) error {
			close(started)
			select {
			case <-hold:
			case <-ctx.Done(): // a test that failed closes the owner
			}
			return nil
		})
	}()
	<-started
	return func() { close(hold) }, res
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestLinkOwnerOperationsFirst: transactions run one at a time; queued
// operations go ahead of queued polls, each kind in its order, all on one
// connection.
func TestLinkOwnerOperationsFirst(t *testing.T) {
	addr, _ := echoServer(t, "127.0.0.1:0")
	l := &lineLink{addr: addr}
	o := NewLinkOwner(l.config())
	defer o.Close()
	release, first := busy(t, o)
	var (
		order   []string // appended on the owner goroutine only
		results = make(chan error, 4)
	)
	queue := func(name string, op bool) {
		n := o.Queued() + 1
		go func() {
			results <- o.Do(context.Background(), op, func(ctx context.Context, c net.Conn) error {
				order = append(order, name)
				return echo(name)(ctx, c)
			})
		}()
		waitUntil(t, name+" queued", func() bool { return o.Queued() == n })
	}
	queue("poll1", false)
	queue("poll2", false)
	queue("op1", true)
	queue("op2", true)
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := <-results; err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	if got, want := strings.Join(order, " "), "op1 op2 poll1 poll2"; got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
	if n := l.dials.Load(); n != 1 {
		t.Fatalf("%d dials for one link, want 1", n)
	}
	if got := l.reported(); len(got) != 0 {
		t.Fatalf("states %v reported by a link that reports none", got)
	}
}

// TestLinkOwnerCancelWhileQueued: a transaction whose caller gives up while
// it is queued returns at once and never runs.
func TestLinkOwnerCancelWhileQueued(t *testing.T) {
	addr, _ := echoServer(t, "127.0.0.1:0")
	o := NewLinkOwner((&lineLink{addr: addr}).config())
	defer o.Close()
	release, first := busy(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var ran atomic.Bool
	go func() {
		done <- o.Do(ctx, false, func(context.Context, net.Conn) error { ran.Store(true); return nil })
	}()
	waitUntil(t, "the request to queue", func() bool { return o.Queued() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	release()
	<-first
	// A later transaction proves the cancelled one was dropped, not run.
	if err := o.Do(context.Background(), false, echo("after")); err != nil {
		t.Fatal(err)
	}
	if ran.Load() {
		t.Fatal("a transaction cancelled while queued ran")
	}
}

// TestLinkOwnerCancelInterruptsIO: cancelling the caller's ctx ends a read
// that would wait a minute (Interrupt closes the socket); Do returns
// ctx.Err() after the transaction ended, and the next transaction dials again.
func TestLinkOwnerCancelInterruptsIO(t *testing.T) {
	addr, _ := echoServer(t, "127.0.0.1:0")
	l := &lineLink{addr: addr}
	o := NewLinkOwner(l.config())
	defer o.Close()
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan struct{})
	var readErr error // written by the transaction, read after Do: Do returns after it
	done := make(chan error, 1)
	go func() {
		done <- o.Do(ctx, false, func(_ context.Context, c net.Conn) error {
			_, readErr = exchange(&signalConn{Conn: c, wrote: sent}, "hold")
			return readErr
		})
	}()
	<-sent
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Do = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancelling did not interrupt a read waiting a minute")
	}
	t.Logf("interrupted after %v", time.Since(start))
	if !errors.Is(readErr, net.ErrClosed) {
		t.Fatalf("the read ended with %v, want its socket closed", readErr)
	}
	if err := o.Do(context.Background(), false, echo("next")); err != nil {
		t.Fatalf("after an interrupted transaction: %v", err)
	}
	if n := l.dials.Load(); n != 2 {
		t.Fatalf("%d dials, want 2 (the interrupted connection is not reused)", n)
	}
}

// signalConn closes wrote after its first write.
type signalConn struct {
	net.Conn
	wrote chan struct{}
	once  sync.Once
}

func (c *signalConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.once.Do(func() { close(c.wrote) })
	return n, err
}

// TestLinkOwnerCloseInterrupts: Close ends the transaction in flight (without
// waiting for its minute), fails the queued ones, refuses new ones and closes
// the link; every failure is ErrOwnerClosed, a kind of ErrLinkDown.
func TestLinkOwnerCloseInterrupts(t *testing.T) {
	addr, _ := echoServer(t, "127.0.0.1:0")
	o := NewLinkOwner((&lineLink{addr: addr}).config())
	sent := make(chan struct{})
	inflight := make(chan error, 1)
	go func() {
		inflight <- o.Do(context.Background(), false, func(_ context.Context, c net.Conn) error {
			_, err := exchange(&signalConn{Conn: c, wrote: sent}, "hold")
			return err
		})
	}()
	<-sent
	queued := make(chan error, 3)
	for i := range 3 {
		go func() { queued <- o.Do(context.Background(), i == 0, echo("queued")) }()
	}
	waitUntil(t, "three to queue", func() bool { return o.Queued() == 3 })
	closed := make(chan struct{})
	go func() { _ = o.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited for the in-flight read's minute")
	}
	if err := <-inflight; !errors.Is(err, ErrOwnerClosed) || !errors.Is(err, ErrLinkDown) {
		t.Fatalf("in-flight Do = %v, want ErrOwnerClosed", err)
	}
	for range 3 {
		if err := <-queued; !errors.Is(err, ErrOwnerClosed) {
			t.Fatalf("queued Do = %v, want ErrOwnerClosed", err)
		}
	}
	if err := o.Do(context.Background(), true, echo("late")); !errors.Is(err, ErrOwnerClosed) {
		t.Fatalf("Do after Close = %v, want ErrOwnerClosed", err)
	}
	if o.Up() {
		t.Fatal("a closed owner says up")
	}
	_ = o.Close() // twice is fine
}

// TestLinkOwnerBoundedQueue: while the owner is busy, polls queue up to
// PollQueueDepth; the next caller waits for room until its ctx ends, and an
// operation still has its own queue.
func TestLinkOwnerBoundedQueue(t *testing.T) {
	addr, _ := echoServer(t, "127.0.0.1:0")
	o := NewLinkOwner((&lineLink{addr: addr}).config())
	defer o.Close()
	release, first := busy(t, o)
	results := make(chan error, PollQueueDepth+1)
	for range PollQueueDepth {
		go func() { results <- o.Do(context.Background(), false, echo("p")) }()
	}
	waitUntil(t, "the poll queue to fill", func() bool { return o.Queued() == PollQueueDepth })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := o.Do(ctx, false, echo("one too many")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do on a full queue = %v, want its ctx's end", err)
	}
	go func() { results <- o.Do(context.Background(), true, echo("op")) }()
	waitUntil(t, "the operation to queue", func() bool { return o.Queued() == PollQueueDepth+1 })
	release()
	<-first
	for range PollQueueDepth + 1 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
}

// TestLinkOwnerLazyOpenFails: a link opened on demand that cannot be opened
// is reported down (its first state) and the transaction fails with
// ErrLinkDown naming the link; once it opens, Report from the transaction
// says up, once however often it is said.
func TestLinkOwnerLazyOpenFails(t *testing.T) {
	addr, stop := echoServer(t, "127.0.0.1:0")
	stop()
	l := &lineLink{addr: addr}
	o := NewLinkOwner(l.config())
	defer o.Close()
	err := o.Do(context.Background(), false, echo("x"))
	if !errors.Is(err, ErrLinkDown) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Do = %v, want ErrLinkDown naming %s", err, addr)
	}
	if got := l.reported(); len(got) != 1 || got[0] {
		t.Fatalf("states %v, want [false]", got)
	}
	echoServer(t, addr)
	for range 3 {
		err := o.Do(context.Background(), false, func(ctx context.Context, c net.Conn) error {
			err := echo("y")(ctx, c)
			if err == nil {
				o.Report(true, nil)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := l.reported(); len(got) != 2 || !got[1] || !o.Up() {
		t.Fatalf("states %v, want [false true]", got)
	}
}

// TestLinkOwnerKeptLink: a link with Retry is opened by the owner, reported
// by state changes only, fails transactions at once while down (they do not
// queue for it), is checked while idle, lost when the check fails, and
// reopened every Retry.
func TestLinkOwnerKeptLink(t *testing.T) {
	addr, stop := echoServer(t, "127.0.0.1:0")
	stop()
	l := &lineLink{addr: addr}
	cfg := l.config()
	cfg.Retry = 20 * time.Millisecond
	cfg.CheckEvery = 20 * time.Millisecond
	// A peer that closed the connection: a short read sees EOF (a deadline
	// already passed would not even look).
	cfg.Check = func(c net.Conn) error {
		if err := c.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
			return err
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			return errors.Join(errors.New("peer gone"), err)
		}
		return nil
	}
	o := NewLinkOwner(cfg)
	defer o.Close()
	if o.Up() {
		t.Fatal("up before its peer listens")
	}
	if got := l.reported(); len(got) != 1 || got[0] {
		t.Fatalf("states after NewLinkOwner %v, want [false] (the first open's outcome)", got)
	}
	var ran atomic.Bool
	err := o.Do(context.Background(), false, func(context.Context, net.Conn) error { ran.Store(true); return nil })
	if !errors.Is(err, ErrLinkDown) || ran.Load() {
		t.Fatalf("Do while down = %v (ran %v), want ErrLinkDown at once", err, ran.Load())
	}

	_, stop = echoServer(t, addr)
	waitUntil(t, "the owner to reopen the link", o.Up)
	if err := o.Do(context.Background(), true, echo("up")); err != nil {
		t.Fatal(err)
	}
	stop()
	waitUntil(t, "the idle check to lose the link", func() bool { return !o.Up() })
	if err := o.Do(context.Background(), false, echo("down")); !errors.Is(err, ErrLinkDown) || !strings.Contains(err.Error(), "peer gone") {
		t.Fatalf("Do after the loss = %v, want ErrLinkDown saying why", err)
	}
	_, _ = echoServer(t, addr)
	waitUntil(t, "the owner to reopen the link again", o.Up)
	if err := o.Do(context.Background(), false, echo("back")); err != nil {
		t.Fatal(err)
	}
	if got, want := l.reported(), []bool{false, true, false, true}; !equalBools(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
}

// TestLinkOwnerLose: a transaction that finds the link lost says so (Lose);
// the transactions queued behind it fail at once on a kept link, and the
// owner reopens it.
func TestLinkOwnerLose(t *testing.T) {
	addr, _ := echoServer(t, "127.0.0.1:0")
	l := &lineLink{addr: addr}
	cfg := l.config()
	cfg.Retry = 20 * time.Millisecond
	o := NewLinkOwner(cfg)
	defer o.Close()
	release := make(chan struct{})
	started := make(chan struct{})
	lost := make(chan error, 1)
	go func() {
		lost <- o.Do(context.Background(), false, func(context.Context, net.Conn) error {
			close(started)
			<-release
			err := errors.New("wire cut")
			o.Lose(err)
			return err
		})
	}()
	<-started
	queued := make(chan error, 1)
	go func() { queued <- o.Do(context.Background(), false, echo("behind")) }()
	waitUntil(t, "one to queue", func() bool { return o.Queued() == 1 })
	close(release)
	<-lost
	if err := <-queued; !errors.Is(err, ErrLinkDown) || !strings.Contains(err.Error(), "wire cut") {
		t.Fatalf("queued Do = %v, want ErrLinkDown saying why", err)
	}
	waitUntil(t, "the owner to reopen the link", o.Up)
	if err := o.Do(context.Background(), false, echo("again")); err != nil {
		t.Fatal(err)
	}
	if n := l.dials.Load(); n != 2 {
		t.Fatalf("%d dials, want 2", n)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLinkOwnerIdleHoldsNoGoroutine: an owner's worker runs while there is
// work and ends when there is none, so links polled now and then hold no
// goroutine between their transactions (a thousand devices would otherwise
// park a thousand stacks); a transaction queued behind a busy one still runs.
func TestLinkOwnerIdleHoldsNoGoroutine(t *testing.T) {
	addr, _ := echoServer(t, "127.0.0.1:0")
	owners := make([]*LinkOwner[net.Conn], 20)
	for i := range owners {
		l := &lineLink{addr: addr}
		owners[i] = NewLinkOwner(l.config())
		defer owners[i].Close()
	}
	for round := range 3 {
		var wg sync.WaitGroup
		for i, o := range owners {
			wg.Go(func() {
				if err := o.Do(context.Background(), i%2 == 0, echo(fmt.Sprintf("r%d-%d", round, i))); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	waitUntil(t, "the owners' workers to end", func() bool { return ownerGoroutines() == 0 })

	// Busy: a worker runs, and takes on what queues behind it.
	o := owners[0]
	release, done := busy(t, o)
	queued := make(chan error, 1)
	go func() { queued <- o.Do(context.Background(), false, echo("behind")) }()
	waitUntil(t, "one to queue", func() bool { return o.Queued() == 1 })
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the worker to end again", func() bool { return ownerGoroutines() == 0 })
}

// ownerGoroutines counts the goroutines running in a link owner.
func ownerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "adapters.(*LinkOwner[") {
			n++
		}
	}
	return n
}
