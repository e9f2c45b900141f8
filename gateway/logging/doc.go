// Package logging builds the daemon's slog logger from the config's log
// section (level, text or JSON). Under systemd, when standard error is the
// journal's stream (JOURNAL_STREAM names its device and inode, see
// systemd.exec(5)), each line starts with its syslog priority ("<3>" error,
// "<4>" warning, "<6>" info, "<7>" debug, as sd-daemon(3) describes) so that
// `journalctl -p warning` filters, and carries no timestamp of its own: the
// journal stamps every line.
//
// It owns no files and holds no package-level mutable state; the caller
// passes the writer.
package logging
