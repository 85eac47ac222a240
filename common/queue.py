"""The one Celery application and the queue layout of DESIGN.md.

Control-side services consume ``compute``, ``network``, ``image`` and ``events``; each host agent consumes
``compute.<host>`` or ``network.<host>``. Tasks are routed by the first part of their name
(``compute.build_instance`` goes to ``compute``); a client that targets one host passes ``queue=`` itself.
Every task is acknowledged late and rejected back to the queue when its worker dies, so a killed worker's
task is redelivered; tasks must therefore be idempotent.
"""

from __future__ import annotations

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
