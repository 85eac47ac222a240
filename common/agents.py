"""What every host agent process does alike: a periodic look at the hosts it serves, sent by beat onto a served host's
own queue, and a heartbeat from the main process.

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


def look_schedule(service: str, task: str, interval: float, hosts: Iterable[str]) -> dict[str, dict[str, Any]]:
    """One Celery beat entry sending ``task(hosts)`` every ``interval`` seconds onto the first served
    host's own queue: the process looks at every host it serves in one task.

    Why not an entry per host: a process serving 50 simulated hosts then sent itself 5 tasks a second at rest
    for looks that mostly found nothing, and at 1,000 hosts the twenty agent processes' Celery overhead took
    0.7 cores of the machine the control plane ran on (``bench/scale.py``). A real host serves one host: the same
    single task as before."""
    served = list(hosts)
    if not served:
        return {}
    return {
        task: {
            "task": task,
            "schedule": interval,
            "args": [served],
            "kwargs": {},
            "options": {"queue": host_queue(service, served[0])},
        }
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
