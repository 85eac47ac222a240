"""What the tests share to start servers and to wait for them.

The private servers (Redis, PostgreSQL, a whole Stratus cloud on free loopback ports) come from
``manage.private_cloud``, in the product so the benchmarks use them without importing the tests; they are
re-exported here so tests import every harness helper from one place. ``wait_until`` is the one bounded poll every
test uses to wait for something the cloud does in the background.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from manage.private_cloud import (
    VENV_BIN,
    Cloud,
    Stop,
    cloud_environment,
    free_port,
    postgres_bindir,
    running_cloud,
    start_postgres,
    start_redis,
    wait_for_http,
)

__all__ = [
    "VENV_BIN",
    "Cloud",
    "Stop",
    "cloud_environment",
    "free_port",
    "postgres_bindir",
    "private_postgres",
    "running_cloud",
    "start_postgres",
    "start_redis",
    "wait_for_http",
    "wait_until",
]

T = TypeVar("T")


@contextmanager
def private_postgres(directory: Path) -> Iterator[str]:
    """The URL of a throw-away PostgreSQL (``start_postgres``) for the block, stopped after it; the test is skipped
    where PostgreSQL is not installed."""
    started = start_postgres(directory)
    if started is None:
        pytest.skip("PostgreSQL is not installed (/usr/lib/postgresql/*/bin)")
    url, stop = started
    try:
        yield url
    finally:
        stop()


LAST_VALUE_CHARS = 2000
"""How much of the last value a timeout message shows (a console log or a listing can be long)."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.1,
    message: str = "the condition never held",
    *,
    until: Callable[[T], object] = bool,
) -> T:
    """Call ``predicate`` every ``interval`` seconds until its value is truthy, and return that value.

    With ``until``, ``predicate`` fetches something (a server, a status, a listing) and ``until`` judges it:
    the value returned is then the fetched thing, and a timeout shows it whole, which says far more than False.
    The predicate is always called at least once and once more after the deadline has passed, so a slow call
    never costs the last chance. After ``timeout`` seconds it raises AssertionError with ``message`` and the last
    value seen. Timeouts are the caller's: size them for a loaded machine, the suite runs on two busy cores.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (waited {timeout:g} s); last value: {_shown(value)}")
        time.sleep(interval)


def _shown(value: object) -> str:
    """The end of a value: text (a console, a log) as it reads, with its line breaks; anything else as its repr."""
    text = value.replace("\r", "") if isinstance(value, str) else repr(value)
    return text if len(text) <= LAST_VALUE_CHARS else "..." + text[-LAST_VALUE_CHARS:]
