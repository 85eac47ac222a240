"""The one Celery application and the queue layout of DESIGN.md.

Control-side services consume ``compute``, ``network``, ``image`` and ``events``; each host agent consumes
``compute.<host>`` or ``network.<host>``. Tasks are routed by the first part of their name
(``compute.build_instance`` goes to ``compute``); a client that targets one host passes ``queue=`` itself.
Every task is acknowledged late and rejected back to the queue when its worker dies, so a killed worker's
task is redelivered; tasks must therefore be idempotent.
"""

from __future__ import annotations

import redis
from celery import Celery

from common.settings import Settings

CONTROL_QUEUES = ("compute", "network", "image", "events")


def host_queue(service: str, host: str) -> str:
    """The queue of one host agent: ``compute.<host>`` or ``network.<host>``."""
    return f"{service}.{host}"


def route_by_prefix(name: str, args: object, kwargs: object, options: dict, task=None, **kw: object) -> dict | None:
    if options.get("queue"):
        return None
    prefix = name.split(".", 1)[0]
    return {"queue": prefix} if prefix in CONTROL_QUEUES else None


PUBLISHER_CONNECTION_RETRIES = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "interval_max": 0.5}
"""How long a process that only sends may try to reach the broker: kombu's defaults wait about 6 s on a refused
connection, which an API request would pass on to its client. With these, and the send's own retry policy, a
broker restart of well under a second is ridden out and an absent broker fails the send in about 0.6 s."""


def make_celery(settings: Settings) -> Celery:
    app = Celery("stratus", broker=settings.broker_url, backend=settings.broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_default_queue="events",
        task_routes=(route_by_prefix,),
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=3600,
        task_time_limit=1800,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 3600},
    )
    return app


def make_publisher(settings: Settings) -> Celery:
    """The queue client of the API: the same application, with connection attempts bounded so that a request
    never hangs on an absent broker (workers keep kombu's patient defaults: they have no client waiting)."""
    app = make_celery(settings)
    app.conf.broker_connection_timeout = 1.0
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, **PUBLISHER_CONNECTION_RETRIES}
    return app


PING_TIMEOUT = 0.5
"""Seconds a broker health ping may take: Redis on this machine or the next answers in well under a millisecond."""


def broker_pinger(broker_url: str) -> redis.Redis | None:
    """A small client for health pings (its pool keeps the socket open, so a ping is one round trip); None for
    an in-process transport such as ``memory://``, which is always there."""
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return redis.Redis.from_url(broker_url, socket_connect_timeout=PING_TIMEOUT, socket_timeout=PING_TIMEOUT)
