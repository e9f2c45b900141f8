package logging

import (
	"bytes"
	"sync"
)

// Buffer is a log destination several goroutines write to while another reads
// what they wrote: a captured log, or a test counting the lines a running
// daemon or bus logged. The zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
