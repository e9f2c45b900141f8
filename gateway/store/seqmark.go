package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// seqBlock is how many sequence numbers one write of the mark reserves.
const seqBlock = 1 << 20

// seqMark is a small file next to the state file (<path>.seq) that holds a
// sequence number above every one the state file has handed out. It is
// written ahead, a block of numbers at a time (a write per 2^20 items), by
// write-then-rename, so that it survives what makes the state file unusable.
// After a reset the fresh file's numbers start above it — the Unix-time floor
// alone goes back when the clock does (a Pi without an RTC boots with an old
// time). Best effort: when the mark cannot be written, the time floor remains.
type seqMark struct {
	path string

	mu       sync.Mutex
	reserved uint64 // numbers up to this one are covered by the file
}

func newSeqMark(statePath string) *seqMark {
	m := &seqMark{path: statePath + ".seq"}
	m.reserved, _ = m.read()
	return m
}

// read returns the mark in the file; a missing or unreadable file is 0.
func (m *seqMark) read() (uint64, error) {
	b, err := os.ReadFile(m.path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: not a sequence number: %w", m.path, err)
	}
	return n, nil
}

// cover makes sure the file covers every number up to upTo, writing a new
// mark a block ahead when it does not.
func (m *seqMark) cover(upTo uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if upTo <= m.reserved {
		return
	}
	next := upTo + seqBlock
	if err := m.write(next); err == nil {
		m.reserved = next
	}
}

func (m *seqMark) write(n uint64) error {
	tmp := m.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.FormatUint(n, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, m.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(m.path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
