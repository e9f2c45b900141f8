#!/usr/bin/env python3
"""The system calls fieldgate.service's SystemCallFilter allows: @system-service
without @privileged and @resources, expanded with systemd-analyze
syscall-filter.

  syscalls.py USED   checks that the calls named in USED (one a line, as
                     strace -c lists them) are all allowed (make syscalls).
"""
import subprocess
import sys

ALLOW = "@system-service"
DENY = ("@privileged", "@resources")


def expand(group, cache={}):
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


def allowed():
    calls = expand(ALLOW)
    for group in DENY:
        calls -= expand(group)
    return calls


def main():
    used = set(open(sys.argv[1]).read().split())
    if not used:
        sys.exit("no system calls recorded (did the daemon run?)")
    refused = sorted(used - allowed())
    print(f"{len(used)} system calls used; refused by the unit's filter: {refused or 'none'}")
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
