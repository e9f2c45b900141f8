package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...": the git
// tag the build is on (v0.x.y), or `git describe` past it (v0.x.y-N-gCOMMIT).
var version = "dev"

// commit is set at build time with -ldflags "-X main.commit=..." (make does);
// empty, the commit Go recorded in the binary is used.
var commit string

// buildInfo is what `fieldgate version` prints: the version, the commit it was
// built from (as Go recorded it; "unknown" outside a git checkout) and the Go
// version.
func buildInfo() (ver, rev, goVersion string) {
	if commit != "" {
		return version, commit, runtime.Version()
	}
	rev, dirty := "unknown", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value[:min(len(s.Value), 12)]
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		rev += "-dirty"
	}
	return version, rev, runtime.Version()
}

func versionLine() string {
	v, c, g := buildInfo()
	return fmt.Sprintf("fieldgate %s (commit %s, %s)", v, c, g)
}
