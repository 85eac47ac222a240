"""A readers-writer lock on the machine's libvirtd among the workers of one test session (see tests/conftest.py
and the ``libvirtd_gate`` fixture in tests/e2e/conftest.py)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LibvirtdGate:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.turnstile = open(directory / "turnstile.lock", "a")  # noqa: SIM115 - held for the session
        self.lock = open(directory / "libvirtd.lock", "a")  # noqa: SIM115
        self.holders = 0

    def close(self) -> None:
        self.turnstile.close()
        self.lock.close()

    def enter(self) -> None:
        """A guest module (or a package's shared world) starts; waits while a restart is waiting or running."""
        if self.holders == 0:
            fcntl.flock(self.turnstile, fcntl.LOCK_EX)
            try:
                fcntl.flock(self.lock, fcntl.LOCK_SH)
            finally:
                fcntl.flock(self.turnstile, fcntl.LOCK_UN)
        self.holders += 1

    def leave(self) -> None:
        self.holders -= 1
        if self.holders == 0:
            fcntl.flock(self.lock, fcntl.LOCK_UN)

    @contextmanager
    def alone(self) -> Iterator[None]:
        """The machine's libvirtd to this test alone: no other worker's guest module runs meanwhile. This module's
        own shared hold is given up first, so two workers asking at once wait for each other's module in turn
        instead of for each other."""
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        fcntl.flock(self.turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self.lock, fcntl.LOCK_SH if self.holders else fcntl.LOCK_UN)
        finally:
            fcntl.flock(self.turnstile, fcntl.LOCK_UN)
