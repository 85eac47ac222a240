"""The one place the dataplane runs commands (``ip``, ``bridge``, ``tc``, ``nft``, ``sysctl``, ``dnsmasq``).

Every command is either a *read* or a *write*, and the runner keeps a journal of both: "applying the same state
twice writes nothing" is then a fact a test can count, not a hope, and a log of writes is an audit of what the
agent changed on the host. Namespaces are entered with ``ip -n`` (``ip``, ``bridge``, ``tc``) or ``ip netns exec``
(everything else), so no code outside this module builds a namespace prefix.
"""

from __future__ import annotations

import json
import logging
import os
import signal as signals
import subprocess
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from network.host.dataplane import tokens
from network.host.dataplane.base import DataplaneError

LOG = logging.getLogger(__name__)
TIMEOUT = 30.0
JOURNAL_SIZE = 10_000
_NETNS_AWARE = ("ip", "bridge", "tc")


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    netns: str | None
    write: bool

    def __str__(self) -> str:
        where = f"[{self.netns}] " if self.netns else ""
        return where + " ".join(self.argv)


class CommandFailed(DataplaneError):
    msg_fmt = "{command}: {stderr}"


class Runner:
    """Runs commands on the host; one per driver, shared by its parts. The journal keeps the last
    ``JOURNAL_SIZE`` commands (an agent runs for months), numbered so callers can ask what ran since a mark."""

    def __init__(self) -> None:
        self.journal: deque[tuple[int, Command]] = deque(maxlen=JOURNAL_SIZE)
        self._next = 0
        self._lock = threading.Lock()

    def mark(self) -> int:
        """The number the next command will get: pass it to ``commands``/``writes`` later."""
        with self._lock:
            return self._next

    def commands(self, since: int = 0) -> list[Command]:
        with self._lock:
            return [command for number, command in self.journal if number >= since]

    def writes(self, since: int = 0) -> list[Command]:
        return [command for command in self.commands(since) if command.write]

    def _record(self, command: Command) -> None:
        with self._lock:
            self.journal.append((self._next, command))
            self._next += 1
        if command.write:
            LOG.info("dataplane: %s", command)

    @staticmethod
    def _argv(argv: Sequence[str], netns: str | None) -> list[str]:
        if not netns:
            return list(argv)
        if argv[0] in _NETNS_AWARE:
            return [argv[0], "-n", netns, *argv[1:]]
        return ["ip", "netns", "exec", netns, *argv]

    def run(
        self,
        argv: Sequence[str],
        netns: str | None = None,
        *,
        write: bool,
        input: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` (in ``netns`` when given). ``check``: raise CommandFailed with its stderr on failure.
        An argument with a control character (or a namespace name that is no plain name) raises
        ``UnsafeValue`` before anything runs: values reach us only from typed, checked desired state."""
        for word in argv:
            tokens.argument(word)
        if netns:
            tokens.argument(netns)
        command = Command(tuple(argv), netns or None, write)
        self._record(command)
        try:
            result = subprocess.run(
                self._argv(argv, netns),
                input=input,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CommandFailed(command=str(command), stderr=str(exc)) from None
        if check and result.returncode != 0:
            raise CommandFailed(command=str(command), stderr=(result.stderr or result.stdout).strip())
        return result

    def read(self, argv: Sequence[str], netns: str | None = None, *, check: bool = True) -> str:
        return self.run(argv, netns, write=False, check=check).stdout

    def read_json(self, argv: Sequence[str], netns: str | None = None) -> Any:
        """The parsed output of an ``-j`` command; an empty output (nothing matched) is an empty list."""
        out = self.read(argv, netns).strip()
        return json.loads(out) if out else []

    def write(self, argv: Sequence[str], netns: str | None = None, *, input: str | None = None) -> str:
        return self.run(argv, netns, write=True, input=input).stdout

    def ip(self, *args: str, netns: str | None = None) -> str:
        """Write with ``ip`` (the common case, so it gets a short spelling)."""
        return self.write(["ip", *args], netns)

    def signal(self, pid: int, sig: signals.Signals) -> bool:
        """Send ``sig`` to ``pid`` (journalled as a write); False when the process is already gone."""
        self._record(Command(("kill", f"-{sig.name}", str(pid)), None, True))
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True
