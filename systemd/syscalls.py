#!/usr/bin/env python3
"""Checks that the system calls named in a file (one a line, as strace -c
lists them) are all allowed by fieldgate.service's SystemCallFilter:
@system-service without @privileged and @resources, expanded with
systemd-analyze syscall-filter. Used by `make syscalls`."""
import subprocess
import sys

cache = {}


def expand(group):
    if group not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", group],
                             capture_output=True, text=True, check=True).stdout
        calls = set()
        for line in out.splitlines()[1:]:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            calls |= expand(line) if line.startswith("@") else {line}
        cache[group] = calls
    return cache[group]


allowed = expand("@system-service") - expand("@privileged") - expand("@resources")
used = set(open(sys.argv[1]).read().split())
if not used:
    sys.exit("no system calls recorded (did the daemon run?)")
refused = sorted(used - allowed)
print(f"{len(used)} system calls used; refused by the unit's filter: {refused or 'none'}")
sys.exit(1 if refused else 0)
