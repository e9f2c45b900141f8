package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunLogsForTheJournal: `fieldgate run` whose standard error is the
// stream JOURNAL_STREAM names (as under systemd) writes lines with journal
// priorities and without their own time.
func TestRunLogsForTheJournal(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	yml := fmt.Sprintf(`
gateway: {id: gw-journal, stateDir: %q}
backend: {url: "http://127.0.0.1:1", inboxWait: 1s, timeout: 1s}
api: {listen: "127.0.0.1:0"}
discovery: {atStart: false, interval: 0s}
buses:
  - {name: tcp, protocol: modbus-tcp, settings: {endpoints: ["127.0.0.1:1"], units: "1"}}
`, filepath.Join(dir, "state"))
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	fi, err := stderr.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfgPath}, &bytes.Buffer{}, stderr) }()
	read := func() string {
		b, _ := os.ReadFile(stderr.Name())
		return string(b)
	}
	// Started (info), then the unreachable backend (a warning).
	for deadline := time.Now().Add(20 * time.Second); !(strings.Contains(read(), `<6>level=INFO msg="gateway started"`) && strings.Contains(read(), "<4>level=WARN")); {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no journal-style info and warning lines in 20s:\n%s", read())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(read()), "\n") {
		if !strings.HasPrefix(line, "<") || strings.Contains(line, "time=") {
			t.Errorf("not a journal line: %q", line)
		}
	}
}

// TestErrorTextForTheJournal: the error a command exits with is an error in
// the journal, every line of it; elsewhere it is plain.
func TestErrorTextForTheJournal(t *testing.T) {
	err := fmt.Errorf("config.yaml: gateway.stateDir: required\nbackend.url: required")
	if got, want := errorText(err, true), "<3>fieldgate: config.yaml: gateway.stateDir: required\n<3>backend.url: required"; got != want {
		t.Errorf("journal: %q, want %q", got, want)
	}
	if got, want := errorText(err, false), "fieldgate: config.yaml: gateway.stateDir: required\nbackend.url: required"; got != want {
		t.Errorf("plain: %q, want %q", got, want)
	}
}
