"""A guest's root shell on its serial console, reached as a user reaches it: a console URL from the compute API
(``POST /servers/{id}/remote-consoles``, serial) and the console proxy's websocket. The tiny guest runs a root
shell on its serial port, so a benchmark can do inside the guest what a user would (write to an attached disk).

Each command is wrapped in markers the shell itself computes (``$$``, ``$?``), so the terminal's echo of the typed
line never passes for its output.
"""

from __future__ import annotations

import itertools
import re
import time
from types import TracebackType

import requests
from websockets.sync.client import ClientConnection, connect

CONSOLE_MICROVERSION = {"OpenStack-API-Version": "compute 2.6"}
NUMBERS = itertools.count(1)


class ShellFailure(Exception):
    """The console could not be opened, or a command did not finish in time."""


class GuestShell:
    """One websocket session on a server's serial console; use as a context manager."""

    def __init__(self, url: str, token: str, server_id: str) -> None:
        response = requests.post(
            f"{url}/compute/v2.1/servers/{server_id}/remote-consoles",
            json={"remote_console": {"protocol": "serial", "type": "serial"}},
            headers={"X-Auth-Token": token, **CONSOLE_MICROVERSION},
            timeout=60,
        )
        if response.status_code != 200:
            raise ShellFailure(f"console URL of {server_id}: HTTP {response.status_code} {response.text[:300]}")
        self._websocket: ClientConnection = connect(response.json()["remote_console"]["url"], open_timeout=10)

    def __enter__(self) -> GuestShell:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._websocket.close()

    def run(self, command: str, timeout: float = 60) -> tuple[int, str]:
        """Type ``command`` into the shell; its exit status and output (carriage returns removed)."""
        number = next(NUMBERS)
        done = re.compile(rf"B{number}-\d+-B\r?\n(?P<out>.*?)R{number}-(?P<rc>\d+)-R".encode(), re.DOTALL)
        self._websocket.send(f"echo B{number}-$$-B; {command}; echo R{number}-$?-R\n".encode())
        seen, deadline = b"", time.monotonic() + timeout
        while (found := done.search(seen)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ShellFailure(f"{command!r} did not finish in {timeout:.0f} s; the console showed {seen[-300:]!r}")
            try:
                message = self._websocket.recv(timeout=left)
            except TimeoutError:
                continue
            seen += message if isinstance(message, bytes) else message.encode()
        return int(found["rc"]), found["out"].decode(errors="replace").replace("\r", "")
