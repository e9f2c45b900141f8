#!/usr/bin/python3
"""Runs a command under the unit's system call filter, as systemd applies it:
the calls syscalls.allowed() lists pass, every other fails with EPERM
(SystemCallErrorNumber=EPERM), native architecture only. Needs python3-seccomp
(libseccomp). Used by `make syscalls` to run the daemon in the demo.

  filter-exec.py COMMAND [ARG...]
"""
import errno
import os
import sys

import seccomp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import syscalls  # noqa: E402

f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
for name in sorted(syscalls.allowed()):
    try:
        f.add_rule(seccomp.ALLOW, name)
    except (RuntimeError, ValueError, OSError):
        pass  # not a call of this architecture
f.load()
os.execv(sys.argv[1], sys.argv[1:])
