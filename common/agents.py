"""What every host agent process does alike: a periodic report per served host, sent by beat onto the host's own
queue, and a heartbeat from the main process.

The heartbeat runs in a thread of the worker's main process, not as a beat task, because a pool process busy
with a long spawn or a long dataplane apply must not make its host look down (``compute_host_down_after``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from celery import Celery

from common.queue import host_queue

LOG = logging.getLogger(__name__)


def report_schedule(
    service: str, task: str, interval: float, hosts: Iterable[str], kwargs: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Celery beat entries sending ``task(host, **kwargs)`` every ``interval`` seconds onto each host's own queue."""
    return {
        f"{task}-{host}": {
            "task": task,
            "schedule": interval,
            "args": [host],
            "kwargs": kwargs or {},
            "options": {"queue": host_queue(service, host)},
        }
        for host in hosts
    }


def start_heartbeats(app: Celery, task: str, hosts: list[str], interval: float) -> threading.Event:
    """Send ``task(hosts)`` every ``interval`` seconds from a daemon thread; returns the event that stops it."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                app.send_task(task, args=[hosts], expires=30)
            except Exception:  # the broker is briefly away: the next beat will do
                LOG.warning("heartbeat not sent", exc_info=True)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()
    return stop
