package adapters

import (
	"bytes"
	"context"
	"time"
)

// Sleep waits for d or until ctx is done, whichever comes first. It returns
// ctx.Err() when ctx is done first (or already), and nil otherwise; a d of zero
// or less returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// excerptMax bounds how many bytes of an outside value Excerpt keeps.
const excerptMax = 40

// Excerpt returns raw trimmed of surrounding white space and cut to its first
// 40 bytes (marked with "…" when cut), for quoting an outside value in an error.
func Excerpt(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > excerptMax {
		return string(raw[:excerptMax]) + "…"
	}
	return string(raw)
}
