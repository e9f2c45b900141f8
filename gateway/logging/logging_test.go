package logging_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fieldgate/fieldgate/gateway/logging"
)

// stderrFile is a real file standing for the daemon's standard error, with
// the JOURNAL_STREAM value that names it.
func stderrFile(t *testing.T) (*os.File, string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return f, fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func logEveryLevel(t *testing.T, f *os.File, format string) []string {
	t.Helper()
	log := logging.New(f, "debug", format).With("bus", "rtu0")
	log.Debug("frame", "tx", "0103")
	log.Info("link up")
	log.Warn("link down", "err", "no such device")
	log.WithGroup("op").Error("failed", "id", "op-1")
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 lines, got %d:\n%s", len(lines), data)
	}
	return lines
}

// TestJournalPriorities: when JOURNAL_STREAM names the very file the logger
// writes to, every line starts with its syslog priority and carries no time.
func TestJournalPriorities(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			f, stream := stderrFile(t)
			t.Setenv("JOURNAL_STREAM", stream)
			if !logging.OnJournal(f, stream) {
				t.Fatalf("OnJournal(%s) = false for the file it names", stream)
			}
			lines := logEveryLevel(t, f, format)
			for i, want := range []string{"<7>", "<6>", "<4>", "<3>"} {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("line %d: want prefix %s, got %q", i, want, lines[i])
				}
				if strings.Contains(lines[i], "time") {
					t.Errorf("line %d carries a time the journal adds itself: %q", i, lines[i])
				}
				if !strings.Contains(lines[i], "rtu0") {
					t.Errorf("line %d lost the logger's attributes: %q", i, lines[i])
				}
			}
			if !strings.Contains(lines[3], "op") || !strings.Contains(lines[3], "op-1") {
				t.Errorf("group lost: %q", lines[3])
			}
		})
	}
}

// TestNotJournal: JOURNAL_STREAM that names another file (the stream was
// redirected), or none, leaves plain lines with their time.
func TestNotJournal(t *testing.T) {
	_, otherStream := stderrFile(t)
	for name, env := range map[string]string{"other file": otherStream, "unset": "", "garbage": "12:x"} {
		t.Run(name, func(t *testing.T) {
			f, _ := stderrFile(t)
			t.Setenv("JOURNAL_STREAM", env)
			if logging.OnJournal(f, env) {
				t.Fatalf("OnJournal(%q) = true for a file it does not name", env)
			}
			for i, line := range logEveryLevel(t, f, "text") {
				if strings.HasPrefix(line, "<") || !strings.HasPrefix(line, "time=") {
					t.Errorf("line %d: want a plain line with its time, got %q", i, line)
				}
			}
		})
	}
}

// TestLevel: the configured level filters, also on the journal.
func TestLevel(t *testing.T) {
	f, stream := stderrFile(t)
	t.Setenv("JOURNAL_STREAM", stream)
	log := logging.New(f, "warn", "text")
	log.Info("quiet")
	log.Warn("loud")
	data, _ := os.ReadFile(f.Name())
	if got := string(data); got != "<4>level=WARN msg=loud\n" {
		t.Fatalf("got %q", got)
	}
}
