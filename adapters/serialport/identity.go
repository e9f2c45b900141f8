package serialport

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Identity names a port stably: a path (typically /dev/serial/by-id/..., a
// symlink resolved on every open, so the port is found again when it comes back
// as another ttyUSBn), or a USB match "usb:VID:PID[:SERIAL]" (VID and PID in
// hex, resolved with the enumerator on every open). Exactly one of Path or
// VID/PID is set.
type Identity struct {
	Path             string
	VID, PID, Serial string
}

const badIdentity = "must be a device path such as /dev/serial/by-id/NAME, or usb:VID:PID[:SERIAL], got %q"

// ParseIdentity parses a device path (absolute, or "./..." relative to the
// working directory, made absolute here; any path is taken:
// emulated lines live outside /dev) or "usb:VID:PID[:SERIAL]". Errors name
// the value.
func ParseIdentity(s string) (Identity, error) {
	if rest, ok := strings.CutPrefix(s, "usb:"); ok {
		parts := strings.Split(rest, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return Identity{}, fmt.Errorf(badIdentity, s)
		}
		var errs []error
		if !isHexID(parts[0]) {
			errs = append(errs, fmt.Errorf("usb vendor id must be 4 hex digits, got %q in %q", parts[0], s))
		}
		if !isHexID(parts[1]) {
			errs = append(errs, fmt.Errorf("usb product id must be 4 hex digits, got %q in %q", parts[1], s))
		}
		id := Identity{VID: strings.ToLower(parts[0]), PID: strings.ToLower(parts[1])}
		if len(parts) == 3 {
			if !validSerial(parts[2]) {
				errs = append(errs, fmt.Errorf("usb serial must be 1-64 printable characters without spaces, '/' or ':', got %q in %q", parts[2], s))
			}
			id.Serial = parts[2]
		}
		if len(errs) > 0 {
			return Identity{}, errors.Join(errs...)
		}
		return id, nil
	}
	if strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
		// Relative to the working directory (benches and demos keep their
		// emulated lines under ./state): made absolute once, here.
		abs, err := filepath.Abs(s)
		if err != nil {
			return Identity{}, fmt.Errorf("port path %q: %w", s, err)
		}
		s = abs
	}
	if !filepath.IsAbs(s) || filepath.Clean(s) != s || s == "/" || strings.ContainsAny(s, "\x00\n\r\t") || len(s) > 4096 {
		return Identity{}, fmt.Errorf(badIdentity, s)
	}
	return Identity{Path: s}, nil
}

// Link names the physical port the identity claims (see adapters.LinkClaimer):
// a path that resolves names the device node it leads to, so a by-id link and
// /dev/ttyUSB0 claim the same port; a USB identity names itself (which port
// it will match is known only when it is plugged in).
func (i Identity) Link() string {
	if i.Path == "" {
		id := "usb:" + i.VID + ":" + i.PID
		if i.Serial != "" {
			id += ":" + i.Serial
		}
		return "serial-port " + id
	}
	p := i.Path
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return "serial-port " + p
}

func isHexID(s string) bool {
	if len(s) != 4 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func validSerial(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c > '~' || c == '/' || c == ':' {
			return false
		}
	}
	return true
}

// IsUSB reports whether the identity is a USB match rather than a path.
func (id Identity) IsUSB() bool { return id.Path == "" }

// String returns the identity as written (USB ids in lower case).
func (id Identity) String() string {
	if id.Path != "" {
		return id.Path
	}
	s := "usb:" + id.VID + ":" + id.PID
	if id.Serial != "" {
		s += ":" + id.Serial
	}
	return s
}

// PortID is the stable id local device ids are built from: the base name of
// the path (the by-id name), or "usb-VID:PID[:SERIAL]". It never contains "/".
func (id Identity) PortID() string {
	if id.Path != "" {
		return filepath.Base(id.Path)
	}
	return "usb-" + strings.TrimPrefix(id.String(), "usb:")
}
