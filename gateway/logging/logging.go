package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error"; anything else is info) in format ("json", else text). When w is an
// *os.File that OnJournal recognises, lines carry journal priorities and no
// timestamp.
func New(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // the config has validated it
	f, isFile := w.(*os.File)
	journal := isFile && OnJournal(f, os.Getenv("JOURNAL_STREAM"))
	opts := &slog.HandlerOptions{Level: lv}
	var jw *journalWriter
	if journal {
		jw = &journalWriter{w: w}
		w = jw
		opts.ReplaceAttr = dropTime
	}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	if journal {
		h = &journalHandler{inner: h, jw: jw}
	}
	return slog.New(h)
}

// OnJournal reports whether f is the stream systemd connected to the journal:
// journalStream is $JOURNAL_STREAM, "DEVICE:INODE" in decimal, and must match
// f's. A mismatch means the stream was redirected (a shell, a pipe to a
// file), where the journal's conventions would be noise.
func OnJournal(f *os.File, journalStream string) bool {
	devS, inoS, ok := strings.Cut(journalStream, ":")
	if !ok {
		return false
	}
	dev, err1 := strconv.ParseUint(devS, 10, 64)
	ino, err2 := strconv.ParseUint(inoS, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return uint64(st.Dev) == dev && uint64(st.Ino) == ino
}

// Priority is the syslog priority the journal files a record of level under.
func Priority(level slog.Level) int {
	switch {
	case level >= slog.LevelError:
		return 3 // err
	case level >= slog.LevelWarn:
		return 4 // warning
	case level >= slog.LevelInfo:
		return 6 // info
	}
	return 7 // debug
}

// dropTime removes the record's time (top level only): the journal has it.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// journalHandler prefixes each line its inner handler writes with the
// record's priority. The inner handler writes a record in one Write, inside
// Handle: the shared lock ties that Write to the record's priority.
type journalHandler struct {
	inner slog.Handler
	jw    *journalWriter
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.jw.mu.Lock()
	defer h.jw.mu.Unlock()
	h.jw.prio = Priority(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(as), jw: h.jw}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), jw: h.jw}
}

// journalWriter writes "<prio>" and the line in one write (the journal reads
// the stream line by line; one write keeps lines from interleaving).
type journalWriter struct {
	w    io.Writer
	mu   sync.Mutex // held by journalHandler.Handle around the inner Write
	prio int
	buf  []byte
}

func (j *journalWriter) Write(p []byte) (int, error) {
	j.buf = append(j.buf[:0], '<')
	j.buf = strconv.AppendInt(j.buf, int64(j.prio), 10)
	j.buf = append(j.buf, '>')
	j.buf = append(j.buf, p...)
	_, err := j.w.Write(j.buf)
	if cap(j.buf) > 64<<10 { // one huge record does not pin its buffer
		j.buf = nil
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}
