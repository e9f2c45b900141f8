package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

const scanSynopsis = "scan [--config FILE] [--api ADDR] [--token-file FILE] [-v]"

// scanEvent is one line of the daemon's streamed scan.
type scanEvent struct {
	Type    string      `json:"type"` // progress, bus-done, done
	Bus     string      `json:"bus"`
	Done    int         `json:"done"`
	Total   int         `json:"total"`
	Found   int         `json:"found"`
	At      string      `json:"at"`
	Error   string      `json:"error"`
	Devices []apiDevice `json:"devices"`
	New     []string    `json:"new"`
	Known   []string    `json:"known"`
}

// scanIdle bounds how long the CLI waits for the next line of a scan: a
// scan may take long (247 slow RTU units), but its progress keeps coming.
const scanIdle = 2 * time.Minute

func cmdScan(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("scan")
	af := addAPIFlags(fs)
	verbose := fs.Bool("v", false, "also show each device's identity in full and its last readings")
	if err := parseFlags(fs, scanSynopsis, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("scan: unexpected argument %q", fs.Arg(0))}
	}
	c, err := af.client("scan")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(scanIdle, cancel)
	defer idle.Stop()
	resp, err := c.send(ctx, http.MethodPost, "/api/v1/discover", struct{}{}, "application/x-ndjson")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		return fmt.Errorf("scan: %w", answerError(resp.StatusCode, data))
	}
	p := &progressPrinter{w: stdout, tty: isTerminal(stdout)}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxAnswerBytes)
	for sc.Scan() {
		idle.Reset(scanIdle)
		var ev scanEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("scan: a progress line of %s is not JSON: %w", c.target.addr, err)
		}
		if ev.Type != "done" {
			p.event(ev)
			continue
		}
		p.end()
		printDevices(stdout, ev.Devices, *verbose, time.Now())
		printScanSummary(stdout, ev)
		return nil
	}
	p.end()
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil && !idle.Stop() {
			return fmt.Errorf("scan: %s sent no progress for %s", c.target.addr, scanIdle)
		}
		return fmt.Errorf("scan: reading the progress of %s: %w", c.target.addr, err)
	}
	return fmt.Errorf("scan: %s ended the answer before the scan was done (daemon stopping?)", c.target.addr)
}

// printScanSummary: "N new, M known", then the new devices.
func printScanSummary(w io.Writer, ev scanEvent) {
	fmt.Fprintf(w, "\nscan: %d new, %d known\n", len(ev.New), len(ev.Known))
	status := map[string]apiDevice{}
	for _, d := range ev.Devices {
		status[d.LocalID] = d
	}
	for _, id := range ev.New {
		d := status[id]
		fmt.Fprintf(w, "  new: %s  %s  %s\n", id, dash(d.Status), dash(shortIdentity(d.Fingerprint)))
	}
}

// progressPrinter shows a scan's progress, one line per bus: rewritten in
// place (\r) on a terminal, else one plain line per event.
type progressPrinter struct {
	w    io.Writer
	tty  bool
	bus  string // the bus whose line is open (tty)
	last int    // length of the open line (tty)
}

func (p *progressPrinter) event(ev scanEvent) {
	var line string
	switch ev.Type {
	case "progress":
		line = fmt.Sprintf("scanning %s: %d/%d probed, %d found", ev.Bus, ev.Done, ev.Total, ev.Found)
		if ev.At != "" {
			line += " (" + ev.At + ")"
		}
	case "bus-done":
		line = fmt.Sprintf("scanned %s: %d found", ev.Bus, ev.Found)
		if ev.Error != "" {
			line += "; incomplete: " + oneLine(ev.Error)
		}
	default:
		return
	}
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	if p.bus != "" && p.bus != ev.Bus {
		fmt.Fprintln(p.w)
		p.last = 0
	}
	pad := ""
	if n := p.last - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprint(p.w, "\r"+line+pad)
	p.bus, p.last = ev.Bus, len(line)
	if ev.Type == "bus-done" {
		fmt.Fprintln(p.w)
		p.bus, p.last = "", 0
	}
}

// end closes an open progress line.
func (p *progressPrinter) end() {
	if p.tty && p.bus != "" {
		fmt.Fprintln(p.w)
		p.bus, p.last = "", 0
	}
}

// isTerminal: w is a terminal (progress lines are rewritten in place).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
